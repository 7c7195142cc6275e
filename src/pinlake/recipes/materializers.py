"""Materializers: turn locked resources into files or tables for another tool.

Built in: ``folder`` (files under ``<out>/<split>/<object_name>``, sha256-checked, hardlinked when
the lake object is a local file), ``csv`` and ``parquet`` (one table of resources per split).
Add one with ``@register_materializer("name")`` or the entry point group ``pinlake.materializers``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from pinlake.errors import ValidationError
from pinlake.lake.lake import Lake
from pinlake.recipes.errors import LockfileError
from pinlake.recipes.lockfile import Lock, check_in_lake, read_lock
from pinlake.storage import AnyPath, is_uri, location

ENTRY_POINT_GROUP = "pinlake.materializers"


@dataclass
class MaterializeContext:
    """What a materializer gets: one split of a verified lock, a lake to read bytes from, an out dir."""

    lock: Lock
    split: str
    out: Path
    lake: Lake | None

    def records(self) -> Iterable[dict[str, Any]]:
        return (rec for _, rec in self.lock.records(self.split))


Materializer = Callable[[MaterializeContext], list[Path]]
_REGISTRY: dict[str, Materializer] = {}


def register_materializer(name: str) -> Callable[[Materializer], Materializer]:
    """Register ``fn(ctx: MaterializeContext) -> [written paths]`` under ``name``."""

    def deco(fn: Materializer) -> Materializer:
        _REGISTRY[name] = fn
        return fn

    return deco


def _entry_points() -> dict[str, Any]:
    try:
        return {ep.name: ep for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)}
    except Exception:  # noqa: BLE001 - broken metadata must not hide the built-ins
        return {}


def list_materializers() -> list[str]:
    return sorted(set(_REGISTRY) | set(_entry_points()))


def get_materializer(name: str) -> Materializer:
    if name in _REGISTRY:
        return _REGISTRY[name]
    ep = _entry_points().get(name)
    if ep is not None:
        fn = ep.load()
        _REGISTRY[name] = fn
        return fn
    raise ValidationError(f"unknown materializer {name!r}", hint=f"Available: {', '.join(list_materializers())}.")


# --- built-ins -------------------------------------------------------------------
def _local_path(uri: str | None) -> Path | None:
    if not uri:
        return None
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    return None if is_uri(uri) else Path(uri)


def _safe_target(root: Path, object_name: str) -> Path:
    target = (root / object_name).resolve()
    if not str(target).startswith(str(root.resolve()) + os.sep):
        raise LockfileError(f"object name {object_name!r} escapes the output folder", hint="Object names must be relative paths.")
    return target


@register_materializer("folder")
def folder_materializer(ctx: MaterializeContext) -> list[Path]:
    """Copy (or hardlink) each locked file into ``<out>/<split>/<object_name>``, checking its sha256."""
    root = ctx.out / ctx.split
    written: list[Path] = []
    for rec in ctx.records():
        target = _safe_target(root, rec["object_name"])
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == rec["sha256"]:
            written.append(target)
            continue
        target.unlink(missing_ok=True)
        local = _local_path(rec.get("uri"))
        if local is not None and local.is_file() and hashlib.sha256(local.read_bytes()).hexdigest() == rec["sha256"]:
            try:
                os.link(local, target)
            except OSError:
                shutil.copyfile(local, target)
        else:
            if ctx.lake is None:
                raise LockfileError(
                    f"{rec['object_name']}: no lake to read bytes from", hint="Pass --library (the lake the lock was made from)."
                )
            data = ctx.lake.find_data(id=rec["id"]).get_bytes()
            if hashlib.sha256(data).hexdigest() != rec["sha256"]:
                raise LockfileError(f"{rec['object_name']}: bytes in the lake do not match the locked sha256 {rec['sha256'][:12]}…")
            target.write_bytes(data)
        written.append(target)
    return written


def resources_table(ctx: MaterializeContext) -> Any:
    """The split's resources as a pyarrow table: lock fields + one ``meta.<key>`` column per scalar metadata key."""
    import pyarrow as pa

    rows = []
    meta_keys: set[str] = set()
    for rec in ctx.records():
        row = {k: v for k, v in rec.items() if k != "metadata"}
        row["split"] = ctx.split
        row["metadata"] = json.dumps(rec["metadata"], sort_keys=True)
        for k, v in (rec["metadata"] or {}).items():
            if isinstance(v, (str, int, float, bool)) or v is None:
                row[f"meta.{k}"] = v
                meta_keys.add(f"meta.{k}")
        rows.append(row)
    base = ["split", "object_name", "version", "id", "sha256", "size", "media_type", "width", "height", "tags", "uri", "metadata"]
    columns = base + sorted(meta_keys)
    data = {c: [r.get(c) for r in rows] for c in columns}
    for c in sorted(meta_keys):  # mixed types in one metadata key become strings
        kinds = {type(v) for v in data[c] if v is not None}
        if len(kinds) > 1:
            data[c] = [None if v is None else str(v) for v in data[c]]
    schema = {"tags": pa.list_(pa.string()), "uri": pa.string(), "width": pa.int64(), "height": pa.int64()}
    return pa.table({c: pa.array(v, type=schema.get(c)) for c, v in data.items()})


@register_materializer("csv")
def csv_materializer(ctx: MaterializeContext) -> list[Path]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    table = resources_table(ctx)
    idx = table.schema.get_field_index("tags")
    table = table.set_column(idx, "tags", pc.binary_join(table.column("tags"), ";").cast(pa.string()))
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / f"{ctx.split}.csv"
    pacsv.write_csv(table, path)
    return [path]


@register_materializer("parquet")
def parquet_materializer(ctx: MaterializeContext) -> list[Path]:
    import pyarrow.parquet as pq

    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / f"{ctx.split}.parquet"
    pq.write_table(resources_table(ctx), path)
    return [path]


# --- running ------------------------------------------------------------------------
def split_of(file: AnyPath) -> str:
    name = file.name
    if not (name.startswith("resources.") and name.endswith(".jsonl")):
        raise LockfileError(
            f"{file}: not a lockfile (expected resources.<split>.jsonl)", hint="Pass a file written by `pinlake datasets lock`."
        )
    return name[len("resources.") : -len(".jsonl")]


def materialize(
    files: Iterable[str | os.PathLike[str]],
    materializers: Iterable[str],
    out: str | os.PathLike[str],
    lake: Lake | None = None,
) -> dict[str, list[Path]]:
    """Run ``materializers`` in order over each lockfile (verified against its lock.json first)."""
    names = list(materializers)
    if not names:
        raise ValidationError("no materializer given", hint=f"Pass -m NAME (available: {', '.join(list_materializers())}).")
    fns = [(n, get_materializer(n)) for n in names]
    jobs: list[tuple[Lock, str]] = []
    locks: dict[AnyPath, Lock] = {}  # each lock directory is read, verified and checked against the lake once
    for f in files:
        path = location(f)
        if not path.is_file():
            raise LockfileError(f"{path}: lockfile does not exist", hint="Make one with `pinlake datasets lock --file RECIPE.py`.")
        split = split_of(path)
        lock = locks.get(path.parent)
        if lock is None:
            recorded = read_lock(path.parent, verify=False).manifest.get("lake")
            if lake is None and recorded and location(recorded).is_dir():
                lake = Lake(recorded)
            lock = read_lock(path.parent, lake)
        if split not in lock.splits:
            raise LockfileError(f"{path}: split {split!r} is not in {path.parent / 'lock.json'}")
        if path.parent not in locks:
            if lake is not None:
                check_in_lake(lock, lake)
            locks[path.parent] = lock
        jobs.append((lock, split))
    out_dir = Path(out)
    result: dict[str, list[Path]] = {}
    for name, fn in fns:
        for lock, split in jobs:
            result.setdefault(name, []).extend(fn(MaterializeContext(lock, split, out_dir, lake)))
    return result


__all__ = ["register_materializer", "list_materializers", "get_materializer", "materialize", "MaterializeContext", "resources_table"]
