"""The steps of one dataset refresh, as plain engine calls (the Prefect flows orchestrate them).

recipe → lock → (unchanged? stop) → build → stats → preview → catalog → tag. Each step is
idempotent and keyed by content hashes, so rerunning a refresh finishes what a crash left.

Imports marked ``# lazy`` load the engine inside the step that needs it: ``pinlake refresh`` on a
current dataset returns from the stamp check (:mod:`pinlake.library.refresh_stamp`) without loading
Lance, pyarrow, pandas or DuckDB (``tests/flows/test_local_refresh.py`` checks the imported modules).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinlake.library.connection import Library
from pinlake.library.refresh_stamp import quick_unchanged, write_stamp
from pinlake.library.registry import Registry, resolve_item
from pinlake.storage import location, mutex

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.library.check import CheckReport
    from pinlake.library.lock import LockStep
    from pinlake.library.publish import Decision
    from pinlake.library.registry import RegistryEntry


DEFAULT_REGISTRY = Path("recipes/datasets.yaml")


def default_registry() -> Path:
    return Path(os.environ.get("PINLAKE_REGISTRY", DEFAULT_REGISTRY))


@dataclass
class BuildStep:
    dataset: str
    version: int
    previous_version: int | None
    mode: str
    unchanged: bool
    rows: dict[str, int] = field(default_factory=dict)
    added: int = 0
    updated: int = 0
    deleted: int = 0
    runner: str = "local"
    shards: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def registry_entry(registry: str | os.PathLike[str], name: str) -> RegistryEntry:
    return Registry(registry).get(name)


def registry_names(registry: str | os.PathLike[str]) -> list[str]:
    return [e.name for e in Registry(registry)]


def latest_version(library: str | os.PathLike[str], name: str) -> tuple[int | None, str]:
    """(latest dataset version, its lock hash), or (None, "") when the dataset does not exist yet."""
    from pinlake.library.versions import latest_entry  # lazy: see the module doc

    entry = latest_entry(Library(library), name)
    return (entry.dataset_version, entry.lock_hash) if entry else (None, "")


def has_version(library: str | os.PathLike[str], name: str, version: int, lock_hash: str) -> bool:
    """The dataset has version ``version``, built from ``lock_hash``: whether a cached build result
    still describes this library (one restored from a copy, or deleted and built again at the same
    path, may not have the version an earlier run built there)."""
    from pinlake.datasets.versions import VersionLog  # lazy: see the module doc

    log = VersionLog(Library(library).dataset_path(name))
    entry = next((e for e in log.entries() if e.dataset_version == version), None) if log.exists() else None
    return entry is not None and entry.lock_hash == lock_hash


def build_step(
    library: str | os.PathLike[str],
    registry: str | os.PathLike[str],
    name: str,
    lock_dir: str,
    *,
    runner: str | None = None,
    dask_address: str | None = None,
    shards: int | None = None,
) -> BuildStep:
    """Build (or incrementally update) the dataset from the lock; the new version commits with its stats and preview.

    ``runner="dask"``: a full build runs in shards on the Dask cluster at ``dask_address``; see
    :mod:`pinlake.datasets.build.dask_build`. Unset, both come from the registry entry (``runner``,
    ``dask_address``; default local), the address then from ``$PINLAKE_DASK_ADDRESS``.
    """
    from pinlake.library.build import build_from_lock  # lazy: see the module doc

    reg = Registry(registry)
    entry = reg.get(name)
    previous, _ = latest_version(library, name)
    item = resolve_item(entry.dataset_item, reg.root)
    result = build_from_lock(
        Library(library).ensure(),
        lock_dir,
        name,
        dataset_item=item,
        mode="auto",
        description=entry.description,
        compute_stats=True,
        runner=runner or entry.runner,
        shards=shards,
        dask_address=dask_address or entry.dask_address or os.environ.get("PINLAKE_DASK_ADDRESS"),
    )
    ds = result.dataset
    return BuildStep(
        name,
        ds.version,
        previous,
        result.mode,
        result.unchanged,
        dict(ds.state.rows),
        len(result.added),
        len(result.updated),
        len(result.deleted),
        result.runner,
        result.shards,
    )


def stats_step(library: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """The latest version's stats: those made with it, computed now only for a version that has none."""
    from pinlake.library.stats import recompute_stats  # lazy: see the module doc

    ds = Library(library).get_dataset(name)
    stats = ds.stats
    if isinstance(stats, dict) and stats.get("dataset_version") == ds.version and ds.features_values is not None:
        return stats
    return recompute_stats(ds)


def version_token(library: str | os.PathLike[str], name: str, version: int) -> str:
    """One dataset version's identity for result caching: its number and the run that wrote it (a
    library deleted and built again reuses the numbers, never the runs)."""
    from pinlake.library.versions import resolve  # lazy: see the module doc

    entry = resolve(Library(library).dataset_path(name), version)
    return f"{version}-{entry.run_id or entry.created_at.isoformat()}"


def preview_step(library: str | os.PathLike[str], name: str) -> str:
    """The latest version's preview: the one made with it, drawn now only for a version that has none."""
    from pinlake.library.preview import recompute_preview  # lazy: see the module doc

    ds = Library(library).get_dataset(name)
    if ds.preview_path.is_file():
        return str(ds.preview_path)
    return str(recompute_preview(ds))


def needs_finalize(library: str | os.PathLike[str], name: str) -> bool:
    """True when stats.json or preview.png are missing or older than the latest version (a crash left them)."""
    return _needs_finalize(Library(library).get_dataset(name))


def _needs_finalize(ds: Any) -> bool:
    stats = ds.stats or {}
    return stats.get("dataset_version") != ds.version or not ds.preview_path.is_file()


def unchanged_step(library: str | os.PathLike[str], name: str, lock: LockStep) -> BuildStep | None:
    """The latest version when it was built from this lock and its stats and preview are current, else None."""
    lib = Library(library)
    from pinlake.library.versions import latest_entry  # lazy: see the module doc

    entry = latest_entry(lib, name)
    if entry is None or entry.lock_hash != lock.lock_hash:  # decided from the log alone, without opening the dataset
        return None
    ds = lib.get_dataset(name)
    if ds.state.lock_hash != lock.lock_hash or _needs_finalize(ds):
        return None
    return BuildStep(name, ds.version, ds.version, "unchanged", True, dict(ds.state.rows))


def catalog_step(library: str | os.PathLike[str]) -> dict[str, Any]:
    from pinlake.catalog.sync import sync_library  # lazy: see the module doc

    return sync_library(location(library))


def tag_step(library: str | os.PathLike[str], name: str, version: int, lock_hash: str) -> str:
    """Tag the version ``lock-<hash[:8]>`` (kept if it already exists for this version)."""
    from pinlake.library.tag import tag_version  # lazy: see the module doc
    from pinlake.library.versions import tags_of  # lazy: see the module doc

    path = Library(library).dataset_path(name)
    tag = f"lock-{lock_hash[:8]}"
    existing = tags_of(path)
    if tag in existing:
        return tag
    tag_version(path, version, tag)
    return tag


# --- write–audit–publish (see pinlake.library.publish) ---------------------------------------
def gate_step(library: str | os.PathLike[str], registry: str | os.PathLike[str], name: str) -> str | None:
    """Record the entry's channel as the dataset's gate (or its removal) before a build; returns it."""
    from pinlake.library.publish import gate  # lazy: see the module doc

    channel = registry_entry(registry, name).channel
    gate(Library(library), name, channel)
    return channel


def audit_pending(library: str | os.PathLike[str], registry: str | os.PathLike[str], name: str) -> int | None:
    """The latest version when the entry's channel still waits for a verdict on it, else None."""
    from pinlake.library.publish import needs_audit  # lazy: see the module doc

    return needs_audit(Library(library), name, registry_entry(registry, name))


def checks_step(library: str | os.PathLike[str], registry: str | os.PathLike[str], name: str, version: int) -> CheckReport:
    """Run the entry's checks on ``version`` (drift checks against the channel's version)."""
    from pinlake.library.check import check_dataset  # lazy: see the module doc

    return check_dataset(Library(library), name, version, Registry(registry))


def publish_step(library: str | os.PathLike[str], registry: str | os.PathLike[str], name: str, report: CheckReport) -> Decision:
    """Record the checks and publish the version on the entry's channel, or quarantine it."""
    from pinlake.library.publish import decide  # lazy: see the module doc

    entry = registry_entry(registry, name)
    if entry.channel is None:
        raise ValueError(f"registry entry {name!r} has no channel")
    return decide(Library(library).dataset_path(name), report, entry.channel, hash_=entry.gate_hash())


def version_status(library: str | os.PathLike[str], name: str, version: int) -> str:
    """``published``, ``quarantined``, ``candidate`` or "" (see :class:`pinlake.library.versions.ChannelState`)."""
    from pinlake.library.versions import channel_state, resolve  # lazy: see the module doc

    path = Library(library).dataset_path(name)
    return channel_state(path).status(resolve(path, version))


def checks_markdown(decision: Decision) -> str:
    """The verdict of a gated refresh as the markdown of a flow artifact."""
    d = decision
    head = "Published" if d.published else "Quarantined"
    lines = [f"# {head}: `{d.dataset}` version {d.version} on `{d.channel}`", "", d.message(), ""]
    if d.report is not None and d.report.results:
        lines += ["| check | status | value | threshold | message |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r.check} | {r.status} | {r.value} | {r.threshold} | {r.message} |" for r in d.report.results]
    return "\n".join(lines) + "\n"


def check_rows(decision: Decision) -> list[dict[str, Any]]:
    """The check results of a verdict, as rows of a table artifact."""
    if decision.report is None:
        return []
    return [
        {"check": r.check, "status": r.status, "value": str(r.value), "threshold": str(r.threshold), "message": r.message}
        for r in decision.report.results
    ]


def retention_step(library: str | os.PathLike[str], registry: str | os.PathLike[str], name: str) -> dict[str, Any] | None:
    """Apply the registry entry's ``retention:`` (None when it has none): versions older than it are
    removed like ``pinlake cleanup --drop-lock-tags`` (latest, user-tagged and pinned ones kept),
    recorded in ``catalog.cleanups``."""
    from pinlake.library.cleanup import cleanup_dataset  # lazy: see the module doc

    entry = registry_entry(registry, name)
    if not entry.retention:
        return None
    report = cleanup_dataset(Library(library).dataset_path(name), entry.retention, keep_lock_tags=False)
    return {
        "older_than": entry.retention,
        "removed": {t: r["removed"] for t, r in report["tables"].items() if r["removed"]},
        "bytes_removed": sum(r["bytes_removed"] for r in report["tables"].values()),
        "untagged": report["untagged"],
        "kept_dataset_versions": sorted(report["kept_dataset_versions"]),
    }


def retention_markdown(name: str, result: dict[str, Any]) -> str:
    """What :func:`retention_step` removed, as the markdown of a flow artifact."""
    lines = "\n".join(f"| {t} | {', '.join(map(str, v))} |" for t, v in sorted(result["removed"].items()))
    return (
        f"# Retention of {name}: older than {result['older_than']}\n\n| table | versions removed |\n|---|---|\n{lines}\n\n"
        f"Kept dataset versions: {', '.join(map(str, result['kept_dataset_versions']))}; "
        f"{result['bytes_removed']} bytes freed; untagged: {', '.join(result['untagged']) or 'none'}.\n"
    )


def summary_markdown(library: str | os.PathLike[str], name: str, build: BuildStep, lock: LockStep) -> str:
    """A markdown summary of a refresh: versions, rows per table, lock hash and the diff."""
    lines = [f"# Refresh of `{name}`", ""]
    if build.unchanged:
        lines += [f"**Unchanged**: lock `{lock.lock_hash[:12]}` is already dataset version {build.version}; no new version.", ""]
    else:
        on = f", {build.shards} shards on dask" if build.runner == "dask" else ""
        lines += [f"New dataset version **{build.version}** (previous: {build.previous_version or 'none'}, mode {build.mode}{on}).", ""]
    lines += [
        f"- lock: `{lock.lock_hash}` ({lock.lock_dir})",
        f"- lake version: {lock.lake_version}",
        f"- resources per split: {lock.counts}",
        "",
        "| table | rows |",
        "| --- | --- |",
    ]
    lines += [f"| {t} | {n} |" for t, n in sorted(build.rows.items())]
    if not build.unchanged and build.previous_version:
        from pinlake.library.diff import diff_versions  # lazy: see the module doc

        diff = diff_versions(Library(library).dataset_path(name), build.previous_version, build.version)
        lines += [
            "",
            f"Diff {build.previous_version} → {build.version}:",
            "",
            "| table | added | removed | changed |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| {t} | {d['added']} | {d['removed']} | {d['changed']} |" for t, d in sorted(diff["tables"].items())]
    return "\n".join(lines) + "\n"


def stats_rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """stats.json flattened to rows (measure, key, value) for a table artifact."""
    rows: list[dict[str, Any]] = [{"measure": "items", "key": "all", "value": stats.get("num_items")}]
    rows += [{"measure": "items per split", "key": k, "value": v} for k, v in stats.get("items_per_split", {}).items()]
    rows += [{"measure": "rows", "key": k, "value": v} for k, v in stats.get("rows_per_table", {}).items()]
    for table, cats in stats.get("entities_per_category", {}).items():
        rows += [{"measure": f"{table} per category", "key": k, "value": v} for k, v in cats.items()]
    return rows


def preview_data_url(path: str | os.PathLike[str], width: int = 480) -> str:
    """A small PNG of the preview as a data URL (for an image artifact)."""
    from PIL import Image as PILImage  # lazy: see the module doc

    with PILImage.open(io.BytesIO(location(path).read_bytes())) as im:
        im.thumbnail((width, width))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@contextmanager
def dataset_refresh_lock(library: str | os.PathLike[str], name: str, timeout: float = 3600) -> Iterator[None]:
    """One refresh per dataset at a time (a file lock; a lease object on S3)."""
    lib = Library(library).ensure()
    with mutex(lib.catalog_path / f".refresh-{name}.lock", timeout=timeout):
        yield


def refresh_result(
    name: str, build: BuildStep, lock: LockStep, tag: str, retention: dict[str, Any] | None, decision: Decision | None = None
) -> dict[str, Any]:
    """What a refresh that built (or audited) returns (the `refresh` flow and :func:`refresh_dataset`
    alike); a gated one also has ``status`` (published or quarantined), ``channel``, ``failed`` and
    ``message``."""
    out: dict[str, Any] = {
        "dataset": name,
        "unchanged": build.unchanged,
        "version": build.version,
        "lock_hash": lock.lock_hash,
        "tag": tag,
        "previous_version": build.previous_version,
        "retention": retention,
    }
    if decision is not None:
        out.update(status=decision.status, channel=decision.channel, failed=list(decision.failed), message=decision.message())
    return out


def unchanged_result(library: str | os.PathLike[str], name: str, version: int, lock_hash: str) -> dict[str, Any]:
    """What a refresh that found nothing to do returns (with the version's channel status, if any)."""
    out: dict[str, Any] = {"dataset": name, "unchanged": True, "version": version, "lock_hash": lock_hash}
    status = version_status(library, name, version)
    if status:
        out["status"] = status
    return out


def refresh_dataset(
    library: str | os.PathLike[str],
    registry: str | os.PathLike[str],
    name: str,
    *,
    runner: str | None = None,
    dask_address: str | None = None,
    shards: int | None = None,
) -> dict[str, Any]:
    """One refresh in this process, without Prefect: what `pinlake refresh` runs when no server is configured.

    The same chain and the same engine calls as the `refresh` flow (``flows/refresh.py``), so the same
    versions, stats, preview, tag, catalog rows, verdicts and stamp: the no-op fast check
    (:func:`pinlake.library.refresh_stamp.quick_unchanged`), else lock → (unchanged and audited:
    catalog, stamp, stop) → under the dataset's file lock: gate → build → stats → preview → tag →
    catalog → (a channel: checks → publish or quarantine) → retention → stamp. The flow's
    Prefect-only parts are left out: artifacts, events, the run record and task retries. Returns the
    flow's result (dataset, unchanged, version, lock_hash; after a build also tag, previous_version,
    retention; gated: status, channel, failed, message).
    """

    library, registry = str(library), str(registry)
    stamp = quick_unchanged(library, registry, name)
    if stamp is not None:
        out = {"dataset": name, "unchanged": True, "version": stamp["version"], "lock_hash": stamp["lock_hash"]}
        return out | ({"status": stamp["status"]} if stamp.get("status") else {})
    from pinlake.library.lock import lock_step  # lazy: see the module doc

    lock = lock_step(library, registry, name)
    current = unchanged_step(library, name, lock)
    if current is not None:
        gate_step(library, registry, name)
        if audit_pending(library, registry, name) is None:
            catalog_step(library)
            out = unchanged_result(library, name, current.version, lock.lock_hash)
            write_stamp(library, registry, name, lock, out.get("status", ""))
            return out
    with dataset_refresh_lock(library, name):
        channel = gate_step(library, registry, name)
        if current is None:
            build = build_step(library, registry, name, lock.lock_dir, runner=runner, dask_address=dask_address, shards=shards)
            stats_step(library, name)
            preview_step(library, name)
        else:
            build = current
        tag = tag_step(library, name, build.version, lock.lock_hash)
        catalog_step(library)
        decision = None
        if channel is not None and audit_pending(library, registry, name) == build.version:
            decision = publish_step(library, registry, name, checks_step(library, registry, name, build.version))
        retention = retention_step(library, registry, name)
        write_stamp(library, registry, name, lock, decision.status if decision else version_status(library, name, build.version))
    return refresh_result(name, build, lock, tag, retention, decision)
