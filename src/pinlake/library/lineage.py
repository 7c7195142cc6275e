"""The lineage chain of one dataset version.

lake version → lock (hash, recipe, recipe source hash) → dataset version (table versions)
→ stats/preview → consumers (training runs that read the pin).
"""

from __future__ import annotations

import json
import os
from typing import Any

from pinlake.catalog.store import Catalog
from pinlake.library.pin import parse_pin
from pinlake.library.versions import dataset_path, library_of, resolve
from pinlake.storage import AnyPath
from pinlake.util.sqltext import sql_str


def _lock_info(library: AnyPath | None, lock_hash: str) -> dict[str, Any]:
    """What ``_locks/<hash>/lock.json`` says about a lock (empty when it is not stored here)."""
    info: dict[str, Any] = {"hash": lock_hash}
    if not lock_hash or library is None:
        return info
    locks = library / "_locks"
    candidates = [locks / lock_hash / "lock.json"]
    if locks.is_dir():
        candidates += [p / "lock.json" for p in locks.iterdir() if p.name.startswith(lock_hash[:8])]
    for c in candidates:
        if c.is_file():
            data = json.loads(c.read_text())
            info["path"] = str(c.parent)
            for key in ("recipe", "recipe_name", "name", "recipe_hash", "recipe_source_hash", "lake_version", "counts", "splits"):
                if key in data:
                    info[key] = data[key]
            break
    return info


def lineage_of(pin: str, library: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The chain behind ``DATASET@VERSION`` (any pin form) as a dict."""
    name, spec = parse_pin(pin)
    path = dataset_path(name, library)
    entry = resolve(path, spec)
    lib = library_of(path)
    lin = entry.lineage
    consumers: list[dict[str, Any]] = []
    if lib is not None:
        data = Catalog(lib).read("consumers", filter=f"dataset = {sql_str(path.name)} AND dataset_version = {entry.dataset_version}")
        consumers = sorted(data.to_pylist(), key=lambda r: r["used_at"])
    stats_file = path / "stats.json"
    return {
        "dataset": path.name,
        "dataset_version": entry.dataset_version,
        "library": str(lib) if lib is not None else None,
        "lake": {"version": lin.get("pinlake.lake_version", "")},
        "lock": {**_lock_info(lib, entry.lock_hash), "recipe_hash": lin.get("pinlake.recipe_hash", "")}
        if entry.lock_hash
        else {"hash": "", "recipe_hash": lin.get("pinlake.recipe_hash", "")},
        "version": {
            "created_at": entry.created_at.isoformat(),
            "operation": entry.operation,
            "tables": entry.tables,
            "rows": entry.rows,
            "run_id": entry.run_id,
            "flow_run_id": lin.get("pinlake.flow_run_id", ""),
            "code_version": lin.get("pinlake.code_version", ""),
            "user": lin.get("pinlake.user", ""),
            "message": entry.message,
            "lineage": lin,
        },
        "stats": str(stats_file) if stats_file.is_file() else None,
        "preview": str(path / "preview.png") if (path / "preview.png").is_file() else None,
        "consumers": [{**c, "used_at": c["used_at"].isoformat()} for c in consumers],
    }
