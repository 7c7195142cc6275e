"""Check (``pinlake check``): run a dataset's declared quality checks on one of its versions.

The checks come from the dataset's registry entry (``checks:``, see
:mod:`pinlake.datasets.check_spec`) and run in :mod:`pinlake.datasets.checks`. The drift checks
compare with a baseline: the version tagged with the entry's ``channel`` when there is one (and it
is not the checked version itself), else the version before the checked one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinlake.datasets.checks import CheckResult, run_checks
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.versions import VersionLog
from pinlake.errors import NotFoundError
from pinlake.library.connection import Library
from pinlake.library.pin import parse_pin
from pinlake.library.registry import Registry, RegistryEntry
from pinlake.library.versions import dataset_path, missing_tables, resolve, tags_of
from pinlake.storage import AnyPath


@dataclass
class CheckReport:
    """The checks of one dataset version: ``passed`` when no blocking check failed."""

    dataset: str
    version: int
    baseline_version: int | None
    channel: str | None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def blocking(self) -> list[CheckResult]:
        """The failed (or raising) checks not listed under ``warn:``."""
        return [r for r in self.results if r.blocking]

    @property
    def passed(self) -> bool:
        return not self.blocking

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "baseline_version": self.baseline_version,
            "channel": self.channel,
            "passed": self.passed,
            "blocking": [r.check for r in self.blocking],
            "results": [r.to_dict() for r in self.results],
        }


def baseline_version(path: AnyPath, version: int, channel: str | None) -> int | None:
    """The version the drift checks compare ``version`` with: the channel's version, else the one before."""
    if channel:
        tagged = tags_of(path).get(channel)
        if tagged is not None and tagged != version:
            return tagged
    for e in reversed(VersionLog(path).entries()):
        if e.dataset_version < version and not missing_tables(e, path):
            return e.dataset_version
    return None


def registry_path(registry: str | os.PathLike[str] | None) -> Path:
    """``registry``, else ``$PINLAKE_REGISTRY``, else ``recipes/datasets.yaml`` (as ``pinlake refresh``
    reads it; not imported from the refresh module, which will call this verb)."""
    return Path(registry if registry is not None else os.environ.get("PINLAKE_REGISTRY", "recipes/datasets.yaml"))


def check_dataset(
    library: Library | str | os.PathLike[str] | None,
    name_or_pin: str,
    version: int | str | None = None,
    registry: Registry | str | os.PathLike[str] | None = None,
) -> CheckReport:
    """Run the checks of ``name_or_pin``'s registry entry on one of its versions.

    ``name_or_pin``: ``NAME`` or ``NAME@VERSION`` / ``NAME@TAG`` (or pass ``version=``; default the
    latest). ``registry``: the registry yaml (default ``$PINLAKE_REGISTRY`` or
    ``recipes/datasets.yaml``) or a loaded :class:`Registry`. An entry without checks gives a report
    with no results, which passes.
    """
    lib = library if isinstance(library, Library) else Library(library)
    name, spec = parse_pin(name_or_pin)
    reg = registry if isinstance(registry, Registry) else Registry(registry_path(registry))
    path = dataset_path(name, lib.path)
    entry: RegistryEntry = reg.get(path.name)
    state = resolve(path, spec if spec is not None else version)
    gone = missing_tables(state, path)
    if gone:
        raise NotFoundError(
            f"dataset {path.name!r} version {state.dataset_version} was cleaned up ({', '.join(gone)})",
            hint="Check a version that `pinlake versions` lists as available.",
        )
    base_v = baseline_version(path, state.dataset_version, entry.channel)
    report = CheckReport(path.name, state.dataset_version, base_v, entry.channel)
    if entry.checks is None or not entry.checks:
        return report
    candidate = Dataset(path, version=state.dataset_version)
    baseline = Dataset(path, version=base_v) if base_v is not None else None
    report.results = run_checks(candidate, entry.checks, baseline, splits=entry.splits)
    return report


__all__ = ["CheckReport", "check_dataset", "baseline_version"]
