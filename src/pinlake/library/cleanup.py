"""Cleanup (``pinlake cleanup``): remove old table versions; tagged, pinned and latest ones are kept,
and what was removed is recorded in the catalog.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pinlake.catalog.store import Catalog
from pinlake.catalog.sync import dataset_tables
from pinlake.datasets.versions import DatasetVersion, VersionLog
from pinlake.errors import ValidationError
from pinlake.library.versions import library_of, tags_of
from pinlake.storage import AnyPath, forget_stale_hint, lance_dataset
from pinlake.util.clock import utcnow
from pinlake.util.sqltext import sql_str


# --- cleanup -------------------------------------------------------------------------------------
def parse_age(text: str | timedelta) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``45m``, ``10s`` → a timedelta."""
    if isinstance(text, timedelta):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text))
    if not m:
        raise ValidationError(f"invalid age {text!r}", hint="Use a number and a unit: 30d, 12h, 2w, 45m, 10s.")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
    return timedelta(**{unit: float(m.group(1))})


#: the tags refreshes put on the versions they build (``lock-<hash[:8]>``)
LOCK_TAG_PREFIX = "lock-"


def protected_versions(path: AnyPath, entries: list[DatasetVersion] | None = None, *, keep_lock_tags: bool = True) -> dict[int, list[str]]:
    """Dataset versions cleanup keeps, with why: the latest, tagged ones, pinned ones.

    ``keep_lock_tags=False``: the refreshes' automatic ``lock-*`` tags do not protect a version
    (a registry ``retention:``); tags users give still do."""
    if entries is None:
        entries = VersionLog(path).entries()
    keep: dict[int, list[str]] = {}
    if entries:
        keep.setdefault(entries[-1].dataset_version, []).append("latest")
    for name, v in tags_of(path, entries).items():
        if keep_lock_tags or not name.startswith(LOCK_TAG_PREFIX):
            keep.setdefault(v, []).append(f"tag {name}")
    lib = library_of(path)
    if lib is not None:
        pins = Catalog(lib).read("pins", filter=f"dataset = {sql_str(path.name)}", columns=["dataset_version", "pin_file"])
        for v, f in zip(pins.column("dataset_version").to_pylist(), pins.column("pin_file").to_pylist()):
            keep.setdefault(v, []).append(f"pin {f}")
    return keep


def cleanup_dataset(path: AnyPath, older_than: str | timedelta = "30d", *, keep_lock_tags: bool = True) -> dict[str, Any]:
    """Remove table versions older than ``older_than``, keeping the latest, tagged and pinned ones.

    ``keep_lock_tags=False`` (a registry ``retention:``): versions whose only protection is a
    refresh's automatic ``lock-*`` tag are removed too; those Lance tags are deleted first (the
    catalog keeps their history) and listed in the report under ``untagged``.
    """
    age = parse_age(older_than)
    cutoff = utcnow() - age
    log = VersionLog(path)
    report: dict[str, Any] = {"dataset": path.name, "cutoff": cutoff.isoformat(), "tables": {}, "untagged": []}
    rows = []
    with log.locked():
        log_entries = log.entries()
        entries = {e.dataset_version: e for e in log_entries}
        keep_dv = protected_versions(path, log_entries, keep_lock_tags=keep_lock_tags)
        report["kept_dataset_versions"] = dict(sorted(keep_dv.items()))
        for table, uri in dataset_tables(path).items():
            keep = sorted({entries[v].tables[table] for v in keep_dv if v in entries and table in entries[v].tables})
            ds = lance_dataset(uri)
            before = {int(v["version"]) for v in ds.versions()}
            if not keep_lock_tags:
                for name, t in ds.tags.list().items():
                    if name.startswith(LOCK_TAG_PREFIX) and t["version"] not in keep:
                        ds.tags.delete(name)
                        if name not in report["untagged"]:
                            report["untagged"].append(name)
            temp = [f"pinlake-keep-{v}" for v in keep if v in before]
            tagged = ds.tags.list()
            for name, v in zip(temp, [v for v in keep if v in before]):
                if name not in tagged:
                    ds.tags.create(name, v)
            try:
                stats = ds.cleanup_old_versions(older_than=age, delete_unverified=True, error_if_tagged_old_versions=False)
            finally:
                for name in temp:
                    ds.tags.delete(name)
            forget_stale_hint(uri)
            after = {int(v["version"]) for v in lance_dataset(uri).versions()}
            removed = sorted(before - after)
            report["tables"][table] = {"removed": removed, "kept": sorted(after), "bytes_removed": stats.bytes_removed}
            rows.append(
                {
                    "dataset": path.name,
                    "table": table,
                    "cutoff": cutoff,
                    "older_than": str(older_than),
                    "removed": str(removed),
                    "kept": str(sorted(after)),
                    "bytes_removed": int(stats.bytes_removed),
                    "cleaned_at": utcnow(),
                    "user": "",
                }
            )
    lib = library_of(path)
    if lib is not None:
        Catalog(lib).append("cleanups", rows, dedupe=False)
    return report
