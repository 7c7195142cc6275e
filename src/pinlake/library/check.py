"""Check (``pinlake check``): run a dataset's declared quality checks on one of its versions.

The checks come from the dataset's registry entry (``checks:``, see
:mod:`pinlake.datasets.check_spec`) and run in :mod:`pinlake.datasets.checks`; then the Python
checks of the entry's recipe file (``@pinlake.check``, :mod:`pinlake.recipes.checks`) run on
read-only :class:`~pinlake.library.pin.PinnedDataset` handles of the two versions. The drift checks
compare with a baseline: the version tagged with the entry's ``channel`` when there is one (and it
is not the checked version itself), else the version before the checked one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinlake.datasets.check_spec import ChecksConfig, checks_config
from pinlake.datasets.checks import CheckResult, run_checks, run_python_checks
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.versions import VersionLog
from pinlake.errors import NotFoundError, ValidationError
from pinlake.library.connection import Library
from pinlake.library.pin import PinnedDataset, parse_pin
from pinlake.library.registry import Registry, RegistryEntry
from pinlake.library.versions import ChannelState, channel_state, dataset_path, missing_tables, resolve
from pinlake.recipes.checks import PythonCheck, load_checks
from pinlake.recipes.errors import RecipeError
from pinlake.storage import AnyPath


@dataclass
class CheckReport:
    """The checks of one dataset version: ``passed`` when no blocking check failed."""

    dataset: str
    version: int
    baseline_version: int | None
    channel: str | None
    results: list[CheckResult] = field(default_factory=list)
    #: the channel's published version when the checks ran (a publish refuses if it moved since)
    channel_version: int | None = None

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


def baseline_version(path: AnyPath, version: int, channel: str | None, channels: ChannelState | None = None) -> int | None:
    """The version the drift checks compare ``version`` with: the channel's published version; None
    while the channel has none (a first publish has nothing to drift from, and a quarantined
    version is no reference); the version before when ungated or checking the channel's own version."""
    if channel:
        state = channels if channels is not None else channel_state(path)
        tagged = state.published.get(channel)  # the channel's verdicts only, never a tag of its name
        if tagged is None:
            return None
        if tagged != version:
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
    ``recipes/datasets.yaml``) or a loaded :class:`Registry`. The declared checks run first, then
    the ``@pinlake.check`` functions of the entry's recipe file (imported once; a file that does not
    import gives one blocking ``error`` result named ``python checks``). A ``warn:`` name that is
    neither a declared nor a Python check raises :class:`~pinlake.errors.ValidationError` before
    anything runs. An entry without checks gives a report with no results, which passes.
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
    channels = channel_state(path)
    base_v = baseline_version(path, state.dataset_version, entry.channel, channels)
    report = CheckReport(path.name, state.dataset_version, base_v, entry.channel)
    report.channel_version = channels.published.get(entry.channel) if entry.channel else None
    config = checks_config(entry.checks)
    python_checks, load_error = _python_checks(reg, entry)
    if load_error is None:
        _check_warn_names(reg, entry, config, python_checks)
    if config:
        candidate = Dataset(path, version=state.dataset_version)
        baseline = Dataset(path, version=base_v) if base_v is not None else None
        report.results = run_checks(candidate, config, baseline, splits=entry.splits)
    if load_error is not None:
        report.results.append(load_error)
    elif python_checks:
        pinned = PinnedDataset(path, state, f"{path.name}@{state.dataset_version}")
        pinned_base = PinnedDataset(path, resolve(path, base_v), f"{path.name}@{base_v}") if base_v is not None else None
        report.results += run_python_checks(python_checks, pinned, pinned_base, warn=config.warn, declared=config.enabled())
    return report


#: the check name of the result reporting a recipe file that does not import (no Python check can use it: it has a space)
RECIPE_CHECK = "python checks"


def _python_checks(reg: Registry, entry: RegistryEntry) -> tuple[list[PythonCheck], CheckResult | None]:
    """The ``@pinlake.check`` functions of the entry's recipe file, imported once with the recipe
    loader; or a blocking ``error`` result when the file does not exist or fails to import."""
    if not entry.script_location:
        return [], None
    script = reg.script(entry)
    try:
        return load_checks(script), None
    except RecipeError as exc:
        cause = exc.__cause__ or exc
        text = " ".join(str(cause).split())
        reason = f"{type(cause).__name__}: {text}" if cause is not exc else text
        message = f"the recipe file {script} did not load, so its Python checks did not run: {reason}"
        return [], CheckResult(RECIPE_CHECK, "error", None, None, message, blocking=True)


def _check_warn_names(reg: Registry, entry: RegistryEntry, config: ChecksConfig, python_checks: list[PythonCheck]) -> None:
    """A ``warn:`` name that is neither a declared check nor a Python check of the recipe file stops the run."""
    names = {c.name for c in python_checks}
    unknown = [w for w in config.undeclared_warn() if w not in names]
    if not unknown:
        return
    index = reg.entries.index(entry) + 1 if entry in reg.entries else "?"
    declared = ", ".join(config.enabled()) or "none"
    defined = ", ".join(c.name for c in python_checks) or "none"
    raise ValidationError(
        f"{reg.path} entry {index} ({entry.name!r}): key 'checks.warn': {', '.join(map(repr, unknown))} is not a check "
        f"(declared: {declared}; Python checks of {entry.script_location}: {defined})",
        hint="Fix the entry's warn: list in the registry yaml, or the @pinlake.check names in the recipe file (see docs/checks.md); nothing ran.",
    )


__all__ = ["CheckReport", "check_dataset", "baseline_version"]
