"""Publish (``pinlake publish``) and the audit of write–audit–publish: a channel moves only to a
version that passed its checks.

A registry entry with ``channel: prod`` gates its refreshes:

1. :func:`gate` records in ``catalog.publications`` that the dataset is gated on ``prod`` (once; an
   entry that drops its channel records ``ungated``). From then on a bare ``name`` reads the
   channel's version (:func:`pinlake.library.versions.resolve_read`) and new versions are
   ``candidate`` until audited.
2. The refresh builds the candidate (an ordinary committed version, readable as ``name@N`` and
   ``name@latest``).
3. :func:`audit` runs the entry's checks on it (:func:`pinlake.library.check.check_dataset`) and
   :func:`decide` records the verdict: the check results as ``catalog.checks`` rows, then ONE
   ``catalog.publications`` row, ``published`` or ``quarantined``, which is the commit point of the
   decision. Last, the channel's Lance tag is moved on each table (:func:`sync_channel_tags`), so
   Lance's own cleanup keeps the version too; readers resolve the channel from the catalog row.

A kill before the publications row leaves the channel where it was and the version a candidate:
the next refresh finds the latest version unaudited (:func:`needs_audit`) and audits it again. A
kill after it leaves at most the Lance tags behind, which every audit and publish re-syncs.

:func:`publish` is the manual path: it runs the checks and publishes only a passing version, or,
with ``force=True`` and a ``reason``, publishes whatever they say, recording the user and the reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from pinlake.catalog.store import Catalog, dumps
from pinlake.catalog.sync import dataset_tables
from pinlake.datasets.versions import VersionLog
from pinlake.errors import NotFoundError, PinlakeError, ValidationError
from pinlake.library.check import CheckReport, check_dataset, registry_path
from pinlake.library.connection import Library
from pinlake.library.pin import parse_pin
from pinlake.library.registry import Registry, RegistryEntry, channel_name_problem
from pinlake.library.versions import LATEST, channel_state, dataset_path, resolve, tags_of
from pinlake.provenance import lineage_properties
from pinlake.storage import AnyPath, lance_dataset
from pinlake.util.clock import utcnow
from pinlake.util.faults import commit_point


@dataclass
class Decision:
    """The verdict on one version for one channel."""

    dataset: str
    version: int
    channel: str
    status: str  # published | quarantined
    previous: int | None = None  # the channel's version before
    forced: bool = False
    reason: str = ""
    failed: list[str] = field(default_factory=list)
    report: CheckReport | None = None

    @property
    def published(self) -> bool:
        return self.status == "published"

    def failures(self) -> str:
        """The blocking checks with their values, on one line."""
        if self.report is None:
            return ", ".join(self.failed)
        return "; ".join(
            f"{r.check} = {_short(r.value)} ({r.message})" if r.message else f"{r.check} = {_short(r.value)}" for r in self.report.blocking
        )

    def message(self) -> str:
        """One line: what happened to the channel and why."""
        if self.published:
            how = f" (forced: {self.reason})" if self.forced else ""
            was = f", was {self.previous}" if self.previous is not None else ""
            return f"{self.dataset} version {self.version} published on {self.channel!r}{was}{how}"
        stays = f"stays at version {self.previous}" if self.previous is not None else "has no version yet"
        return f"{self.dataset} version {self.version} quarantined: failed {self.failures()}; {self.channel!r} {stays}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "channel": self.channel,
            "status": self.status,
            "previous": self.previous,
            "forced": self.forced,
            "reason": self.reason,
            "failed": list(self.failed),
            "message": self.message(),
            "checks": self.report.to_dict()["results"] if self.report is not None else [],
        }


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _catalog(path: AnyPath) -> Catalog:
    lib = path.parent
    return Catalog(lib)


def _event_row(path: AnyPath, channel: str, event: str, **values: Any) -> dict[str, Any]:
    props = lineage_properties(f"publish:{event}")
    return {
        "dataset": path.name,
        "seq": values["seq"],
        "channel": channel,
        "event": event,
        "dataset_version": values.get("dataset_version"),
        "forced": bool(values.get("forced", False)),
        "reason": values.get("reason", ""),
        "failed": dumps(values.get("failed", [])),
        "checks_hash": values.get("checks_hash", ""),
        "run_id": props["pinlake.run_id"],
        "flow_run_id": props["pinlake.flow_run_id"],
        "user": props["pinlake.user"],
        "decided_at": utcnow(),
    }


# --- gating ----------------------------------------------------------------------------------
def gate(library: Library | str | os.PathLike[str] | None, name: str, channel: str | None) -> bool:
    """Record that refreshes of ``name`` publish on ``channel`` (None: no longer gated); True when
    this changed anything. Called by a refresh before it builds, so its candidate is never served
    as the bare name. Also re-syncs the Lance tags of its published channels."""
    lib = library if isinstance(library, Library) else Library(library)
    path = lib.ensure().path / name
    state = channel_state(path)
    for published, version in state.published.items():  # Lance tags a killed publish left behind
        sync_channel_tags(path, published, version)
    if state.channel == channel:
        return False
    catalog = Catalog(lib.path)
    with catalog.locked():
        state = channel_state(path)
        if state.channel == channel:
            return False
        event = "ungated" if channel is None else "gated"
        row = _event_row(path, channel or state.channel or "", event, seq=state.seq + 1)
        catalog.append("publications", [row], dedupe=False, lock=False)
    return True


def needs_audit(library: Library | str | os.PathLike[str] | None, name: str, entry: RegistryEntry) -> int | None:
    """The latest version of ``name`` when the entry's channel still waits for a verdict on it: no
    verdict yet, or a quarantine under other checks than the entry's now. None otherwise."""
    if entry.channel is None:
        return None
    lib = library if isinstance(library, Library) else Library(library)
    path = lib.path / name
    log = VersionLog(path)
    latest = log.latest() if log.exists() else None
    if latest is None:
        return None
    decision = channel_state(path).decisions.get(latest.dataset_version)
    if decision is None or decision["channel"] != entry.channel:
        return latest.dataset_version
    if decision["event"] == "quarantined" and decision["checks_hash"] != entry.gate_hash():
        return latest.dataset_version
    return None


# --- deciding ----------------------------------------------------------------------------------
def record_checks(path: AnyPath, report: CheckReport) -> int:
    """The report's results as ``catalog.checks`` rows (one per check)."""
    props = lineage_properties("check")
    now = utcnow()
    rows = [
        {
            "dataset": path.name,
            "dataset_version": report.version,
            "name": r.check,
            "status": r.status,
            "value": dumps(r.value),
            "threshold": dumps(r.threshold),
            "message": r.message,
            "blocking": r.blocking,
            "channel": report.channel or "",
            "run_id": props["pinlake.run_id"],
            "flow_run_id": props["pinlake.flow_run_id"],
            "checked_at": now,
        }
        for r in report.results
    ]
    return _catalog(path).append("checks", rows, dedupe=False)


def sync_channel_tags(path: AnyPath, channel: str, version: int) -> None:
    """Point the Lance tag ``channel`` of each table at the table version of dataset ``version``
    (and drop it from tables that version lacks)."""
    entry = resolve(path, version)
    for table, uri in dataset_tables(path).items():
        ds = lance_dataset(uri)
        tags = ds.tags.list()
        if table not in entry.tables:
            if channel in tags:
                ds.tags.delete(channel)
            continue
        want = entry.tables[table]
        if channel not in tags:
            ds.tags.create(channel, want)
        elif tags[channel]["version"] != want:
            ds.tags.update(channel, want)
        else:
            continue
        commit_point("channel tag")


def decide(path: AnyPath, report: CheckReport, channel: str, *, force: bool = False, reason: str = "", hash_: str = "") -> Decision:
    """Record the verdict on ``report``'s version: its check rows, then the publications row (the
    commit point), then the channel's Lance tags. Published when the checks pass or ``force``.

    The publications row is appended under the catalog lock after checking that the channel has
    not moved since the checks ran (another publish or refresh meanwhile): then nothing is
    recorded and a :class:`~pinlake.errors.PinlakeError` says to run again."""
    failed = [r.check for r in report.blocking]
    status = "published" if (report.passed or force) else "quarantined"
    record_checks(path, report)
    commit_point("publish checks")
    catalog = _catalog(path)
    with catalog.locked():
        state = channel_state(path)
        previous = state.published.get(channel)
        if report.channel == channel and previous != report.channel_version:
            raise PinlakeError(
                f"{path.name}: channel {channel!r} moved to version {previous} while version {report.version} was checked "
                f"against {report.channel_version}; nothing was recorded",
                hint="Run the refresh (or the publish) again: it checks against the channel's version now.",
            )
        row = _event_row(
            path,
            channel,
            status,
            seq=state.seq + 1,
            dataset_version=report.version,
            forced=force,
            reason=reason,
            failed=failed,
            checks_hash=hash_,
        )
        catalog.append("publications", [row], dedupe=False, lock=False)
    commit_point("publish decision")
    if status == "published":
        sync_channel_tags(path, channel, report.version)
    elif previous is not None:
        sync_channel_tags(path, channel, previous)
    return Decision(path.name, report.version, channel, status, previous, force, reason, failed, report)


def audit(
    library: Library | str | os.PathLike[str] | None,
    registry: Registry | str | os.PathLike[str] | None,
    name: str,
    version: int | None = None,
) -> Decision | None:
    """Check the latest (or ``version``) of ``name`` and publish or quarantine it on the entry's
    channel. None when the entry has no channel (nothing is gated)."""
    lib = library if isinstance(library, Library) else Library(library)
    reg = registry if isinstance(registry, Registry) else Registry(registry_path(registry))
    entry = reg.get(name)
    if entry.channel is None:
        return None
    report = check_dataset(lib, name, version if version is not None else LATEST, reg)
    return decide(lib.path / name, report, entry.channel, hash_=entry.gate_hash())


def publish(
    library: Library | str | os.PathLike[str] | None,
    name_or_pin: str,
    channel: str | None = None,
    *,
    registry: Registry | str | os.PathLike[str] | None = None,
    force: bool = False,
    reason: str = "",
) -> Decision:
    """Publish ``NAME@VERSION`` on ``channel`` (default: the registry entry's): only when its checks
    pass, or with ``force=True`` and a ``reason`` whatever they say (recorded with the user).

    A version that fails without ``force`` is quarantined and the channel does not move: the
    returned decision says why.
    """
    lib = library if isinstance(library, Library) else Library(library)
    name, spec = parse_pin(name_or_pin)
    path = dataset_path(name, lib.path)
    reg = registry if isinstance(registry, Registry) else Registry(registry_path(registry))
    entry = reg.get(path.name)
    channel = channel or entry.channel
    if not channel:
        raise ValidationError(
            f"no channel to publish {path.name!r} on: its registry entry has no `channel:`",
            hint=f"Pass --channel NAME, e.g. `pinlake publish {path.name}@{spec or 'N'} --channel prod`.",
        )
    if force and not reason.strip():
        raise ValidationError("a forced publish needs a reason", hint='Add --reason "why this version ships anyway".')
    if spec is None:
        raise ValidationError(f"name the version to publish: {path.name}@VERSION", hint=f"See `pinlake versions {path.name}`.")
    state = resolve(path, spec)
    problem = channel_name_problem(channel)
    if problem:
        raise ValidationError(f"cannot publish on {problem}", hint="Use a name like 'prod'.")
    channels = channel_state(path)
    if channel not in channels.channels and channel in tags_of(path, channels=channels):
        raise ValidationError(
            f"{channel!r} is a tag of dataset {path.name!r}, not a channel: tags never move",
            hint="Publish on another name (e.g. 'prod'), or remove the tag first.",
        )
    if entry.channel is not None and channel != entry.channel and not force:
        raise NotFoundError(
            f"dataset {path.name!r} is gated on channel {entry.channel!r}, not {channel!r}",
            hint=f"Publish on {entry.channel!r}, or pass --force --reason to use another channel.",
        )
    report = check_dataset(lib, path.name, state.dataset_version, reg)
    return decide(path, report, channel, force=force, reason=reason.strip(), hash_=entry.gate_hash())


__all__ = ["Decision", "audit", "decide", "gate", "needs_audit", "publish", "record_checks", "sync_channel_tags"]
