"""The no-op refresh's fast check: is a dataset current, decided without opening a Lance table?

After a refresh (or a no-op refresh) leaves a dataset current, :func:`write_stamp` records in
``<dataset>/.refresh-stamp.json`` what made it current: the recipe file's sha256, the lake's data
table version and the names of its Lance manifests, the names of the dataset log's manifests, the
lock and the dataset version. :func:`quick_unchanged` compares them with the files as they are now:
reading the registry, hashing one script and listing two ``_versions`` directories, so a no-op
refresh does not import Lance, pyarrow, pandas or DuckDB.

Every Lance commit (of the lake or of the dataset log) writes a new manifest, so any write since
the stamp changes a listing and the check answers None: the caller then runs the full refresh,
whose lock step (:func:`pinlake.library.lock.same_inputs_lock`) and unchanged step decide from the
tables themselves. Local libraries only (on S3 the check answers None).

The stamp is written only when the lake's version (read from its manifests) is the one the lock was
made from and the dataset log's latest entry is the stamped version with that lock, both between two
equal listings: a write racing the stamp makes it absent, never wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pinlake.layout import LOG_NAME, META_DIR
from pinlake.library.registry import Registry
from pinlake.storage import is_uri

STAMP = ".refresh-stamp.json"
LAKE_DATA = "data.lance"  # the lake's data table (pinlake.lake.lance_tables DATA)
LOG = LOG_NAME  # the dataset version log
_V2_FLOOR = 1 << 63  # Lance's V2 manifest naming stores u64::MAX - version


def manifests(table: Path) -> list[str] | None:
    """Sorted manifest file names of a local Lance table, or None when it has none."""
    try:
        names = sorted(n for n in os.listdir(table / "_versions") if n.endswith(".manifest"))
    except OSError:
        return None
    return names or None


def latest_manifest_version(names: list[str]) -> int | None:
    """The table's latest version from its manifest names (both Lance naming schemes)."""
    try:
        nums = [int(n.split(".", 1)[0]) for n in names]
    except ValueError:
        return None
    if all(n >= _V2_FLOOR for n in nums):
        return (1 << 64) - 1 - min(nums)
    if all(n < _V2_FLOOR for n in nums):
        return max(nums)
    return None


def _local(library: str | os.PathLike[str]) -> Path | None:
    text = str(library)
    return None if is_uri(text) else Path(text)


def _current_finalize(dataset: Path, version: int) -> bool:
    """Version ``version`` has its own stats.json and preview.png (as pinlake.library.refresh.needs_finalize;
    a version's files live in ``_meta/<version>/``, see pinlake.datasets.versions)."""
    meta = dataset / META_DIR / str(version)
    try:
        stats = json.loads((meta / "stats.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(stats, dict) and stats.get("dataset_version") == version and (meta / "preview.png").is_file()


def quick_unchanged(library: str | os.PathLike[str], registry: str | os.PathLike[str], name: str) -> dict[str, Any] | None:
    """The stamp of ``name`` when it still holds (the dataset is current), or None when unsure.

    Keys: recipe_hash, gate (the entry's channel and checks, :meth:`RegistryEntry.gate_hash`),
    lake_version, lake_manifests, log_manifests, lock_hash, lock_dir, counts (resources per split),
    version, rows (per table), status (the version's channel status, "" when ungated).
    """
    lib = _local(library)
    if lib is None:
        return None
    dataset = lib / name
    try:
        stamp = json.loads((dataset / STAMP).read_text())
    except (OSError, ValueError):
        return None
    reg = Registry(registry)
    entry = reg.get(name)
    script = reg.script(entry)
    try:
        recipe_hash = hashlib.sha256(script.read_bytes()).hexdigest()
    except OSError:
        return None
    lake = manifests(lib / "_lake" / LAKE_DATA)
    if (
        recipe_hash != stamp.get("recipe_hash")
        or entry.gate_hash() != stamp.get("gate")
        or lake is None
        or lake != stamp.get("lake_manifests")
        or latest_manifest_version(lake) != stamp.get("lake_version")
        or manifests(dataset / LOG) != stamp.get("log_manifests")
        or not Path(stamp.get("lock_dir", ""), "lock.json").is_file()
        or not _current_finalize(dataset, stamp.get("version"))
    ):
        return None
    return stamp


def write_stamp(library: str | os.PathLike[str], registry: str | os.PathLike[str], name: str, lock: Any, status: str = "") -> bool:
    """Record that ``name`` is current for ``lock`` (a :class:`pinlake.library.lock.LockStep`); False if unsure.

    A gated dataset is current only once its latest version has its verdict: call this after the
    audit, with the version's ``status``."""
    lib = _local(library)
    if lib is None:
        return False
    # lazy: the no-op check above must not load Lance or pyarrow (tests/flows/test_local_refresh.py)
    from pinlake.datasets.versions import VersionLog

    dataset = lib / name
    reg = Registry(registry)
    entry_ = reg.get(name)
    recipe_hash = hashlib.sha256(reg.script(entry_).read_bytes()).hexdigest()
    lake, log = manifests(lib / "_lake" / LAKE_DATA), manifests(dataset / LOG)
    entry = VersionLog(dataset).latest()
    if (
        lake is None
        or log is None
        or entry is None
        or latest_manifest_version(lake) != lock.lake_version
        or entry.lock_hash != lock.lock_hash
        or entry.lineage.get("pinlake.recipe_hash") != recipe_hash
        or (lake, log) != (manifests(lib / "_lake" / LAKE_DATA), manifests(dataset / LOG))
        or not _current_finalize(dataset, entry.dataset_version)
    ):
        (dataset / STAMP).unlink(missing_ok=True)
        return False
    stamp = {
        "recipe_hash": recipe_hash,
        "gate": entry_.gate_hash(),
        "status": status,
        "lake_version": lock.lake_version,
        "lake_manifests": lake,
        "log_manifests": log,
        "lock_hash": lock.lock_hash,
        "lock_dir": str(lock.lock_dir),
        "counts": dict(lock.counts),
        "version": entry.dataset_version,
        "rows": dict(entry.rows),
    }
    tmp = dataset / f"{STAMP}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(stamp))
    os.replace(tmp, dataset / STAMP)
    return True
