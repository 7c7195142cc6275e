"""Ingest: hash files in a thread pool, dedup by sha256 and object name, write in batches.

All writes of one call are made invisible first (Lance fragments) and committed at the end:
one commit on ``objects`` and one on ``data`` per call, under the lake's write lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import lance
import pyarrow as pa

from pinlake.errors import InputFileError, ValidationError
from pinlake.lake.metadata import CorruptFileError, probe
from pinlake.lake.models import ErrorManager, UploadError
from pinlake.lake.store import DATA, OBJECTS, OBJECTS_SCHEMA, Store, now, rows_to_table, sql_in

BATCH_ROWS = 1000
BATCH_BYTES = 64 * 1024 * 1024


@dataclass
class Item:
    """One thing to ingest: where it comes from, its logical name, how to read it."""

    label: str
    object_name: str
    filename: str
    read: Callable[[], bytes]
    size_hint: int = 0
    uri: str | None = None
    metadata: dict[str, Any] | None = None


def check_object_name(name: str) -> str:
    """A safe logical path: relative, '/'-separated, no '..', no empty parts."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"invalid object name {name!r}: empty", hint="Use a relative path like 'trial/basel/patient-001/t2.dcm'.")
    bad = None
    if "\\" in name or "\x00" in name:
        bad = "backslashes and NUL are not allowed"
    elif name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        bad = "absolute paths are not allowed"
    else:
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            bad = "'..', '.' and empty parts are not allowed"
    if bad:
        raise ValidationError(f"invalid object name {name!r}: {bad}", hint="Use a relative path like 'trial/basel/patient-001/t2.dcm'.")
    return name


def local_items(
    filepaths: Iterable[str | os.PathLike[str]],
    metadata: list[dict[str, Any] | None],
    object_names: list[str] | None,
    object_prefix: str | None = None,
) -> list[Item]:
    items = []
    for i, fp in enumerate(filepaths):
        path = Path(fp)
        name = object_names[i] if object_names is not None else path.name
        if object_prefix:
            name = posixpath.join(object_prefix.strip("/"), name)
        check_object_name(name)
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        items.append(Item(str(fp), name, posixpath.basename(name), _file_reader(path), size, None, metadata[i]))
    return items


def _file_reader(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        if not path.exists():
            raise FileNotFoundError("file not found")
        if path.is_dir():
            raise IsADirectoryError("is a directory, not a file")
        if not path.is_file():
            raise OSError("not a regular file")
        return path.read_bytes()

    return read


def _load(item: Item, fill_metadata: bool) -> dict[str, Any]:
    content = item.read()
    media_type, width, height, filled = probe(item.filename, content, fill_metadata)
    return {
        "content": content,
        "sha256": hashlib.sha256(content).hexdigest(),
        "size": len(content),
        "media_type": media_type,
        "width": width,
        "height": height,
        "filled": filled,
    }


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (not allowed to read)"
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, CorruptFileError)):
        return str(exc.args[0]) if exc.args else exc.__class__.__name__
    return f"{exc.__class__.__name__}: {exc}"


def _batches(items: list[Item]) -> Iterator[list[tuple[int, Item]]]:
    batch: list[tuple[int, Item]] = []
    size = 0
    for i, item in enumerate(items):
        batch.append((i, item))
        size += item.size_hint
        if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def ingest(
    store: Store,
    items: list[Item],
    *,
    tags: list[str],
    source: str | None,
    max_workers: int | None,
    error_manager: ErrorManager | None,
    fill_metadata: bool,
    operation: str,
    progress: Callable[[int], None] | None = None,
    lineage: dict[str, Any] | None = None,
) -> list[dict[str, Any] | None]:
    """Ingest ``items``; returns one data row per item (None where it failed)."""
    workers = max_workers or (os.cpu_count() or 1) + 4
    results: list[dict[str, Any] | None] = [None] * len(items)
    with store.write_lock():
        objects_ds = store.open_or_none(OBJECTS)
        data_ds = store.open_or_none(DATA)
        state = _State()
        obj_fragments: list[Any] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pinlake-upload") as pool:
            pending: list[tuple[int, Item, Future]] | None = None
            for batch in _batches(items):
                submitted = [(i, it, pool.submit(_load, it, fill_metadata)) for i, it in batch]
                if pending is not None:
                    _process(store, pending, state, objects_ds, data_ds, obj_fragments, results, tags, source, error_manager, progress)
                pending = submitted
            if pending is not None:
                _process(store, pending, state, objects_ds, data_ds, obj_fragments, results, tags, source, error_manager, progress)
        extra = {"files": len(items), **(lineage or {})}
        if obj_fragments:
            store.commit_fragments(OBJECTS, obj_fragments, OBJECTS_SCHEMA, operation, **extra)
        if state.changed:
            store.upsert_data(rows_to_table(state.new_rows + list(state.changed.values())))
        elif state.new_rows:
            from pinlake.lake.store import DATA_SCHEMA

            store.append(DATA, rows_to_table(state.new_rows), DATA_SCHEMA, operation, **extra)
    return results


class _State:
    def __init__(self) -> None:
        self.blob_shas: set[str] = set()  # objects with bytes (committed or written in this call)
        self.any_shas: set[str] = set()
        self.latest: dict[str, dict[str, Any]] = {}  # object_name -> latest row
        self.committed: set[str] = set()  # ids of rows already in the table
        self.new_rows: list[dict[str, Any]] = []
        self.changed: dict[str, dict[str, Any]] = {}


def _process(
    store: Store,
    pending: list[tuple[int, Item, Future]],
    state: _State,
    objects_ds: lance.LanceDataset | None,
    data_ds: lance.LanceDataset | None,
    obj_fragments: list[Any],
    results: list[dict[str, Any] | None],
    tags: list[str],
    source: str | None,
    error_manager: ErrorManager | None,
    progress: Callable[[int], None] | None,
) -> None:
    ok: list[tuple[int, Item, dict[str, Any]]] = []
    for i, item, fut in pending:
        try:
            ok.append((i, item, fut.result()))
        except Exception as exc:  # noqa: BLE001 - every per-file failure is reported, not swallowed
            if error_manager is None:
                for _, _, f in pending:
                    f.cancel()
                raise InputFileError(
                    f"cannot upload {item.label}: {_reason(exc)}",
                    hint="Nothing was written. Pass error_manager=ErrorManager() to skip failing files.",
                ) from exc
            error_manager.append(UploadError(item.label, _reason(exc)))
        if progress:
            progress(1)
    if not ok:
        return
    # objects: one columnar dedup query per batch
    by_ref = [r for _, it, r in ok if it.uri is None]
    shas = sorted({r["sha256"] for r in by_ref} - state.blob_shas)
    if shas and objects_ds is not None:
        found = objects_ds.to_table(columns=["sha256"], filter=f"uri IS NULL AND {sql_in('sha256', shas)}")
        state.blob_shas.update(found["sha256"].to_pylist())
    ref_items = [(it, r) for _, it, r in ok if it.uri is not None]
    ref_shas = sorted({r["sha256"] for _, r in ref_items} - state.any_shas)
    if ref_shas and objects_ds is not None:
        found = objects_ds.to_table(columns=["sha256"], filter=sql_in("sha256", ref_shas))
        state.any_shas.update(found["sha256"].to_pylist())
    new_objs: list[dict[str, Any]] = []
    ts = now()
    for _, it, r in ok:
        sha = r["sha256"]
        if it.uri is None and sha not in state.blob_shas:
            new_objs.append({"sha256": sha, "size": r["size"], "uri": None, "blob": r["content"], "created_at": ts})
            state.blob_shas.add(sha)
        elif it.uri is not None and sha not in state.any_shas and sha not in state.blob_shas:
            new_objs.append({"sha256": sha, "size": r["size"], "uri": it.uri, "blob": None, "created_at": ts})
        state.any_shas.add(sha)
        r["content"] = None  # free memory early
    if new_objs:
        table = pa.table(
            [
                pa.array([o["sha256"] for o in new_objs], pa.string()),
                pa.array([o["size"] for o in new_objs], pa.int64()),
                pa.array([o["uri"] for o in new_objs], pa.string()),
                lance.blob_array([o["blob"] for o in new_objs]),
                pa.array([o["created_at"] for o in new_objs], OBJECTS_SCHEMA.field("created_at").type),
            ],
            schema=OBJECTS_SCHEMA,
        )
        obj_fragments.extend(store.write_fragments(OBJECTS, table, OBJECTS_SCHEMA))
        del table, new_objs
    # data rows: one columnar lookup of the latest versions per batch
    names = sorted({it.object_name for _, it, _ in ok} - set(state.latest))
    if names and data_ds is not None:
        for row in data_ds.to_table(filter=f"is_latest = true AND {sql_in('object_name', names)}").to_pylist():
            state.latest[row["object_name"]] = row
            state.committed.add(row["id"])
    for i, it, r in ok:
        results[i] = _decide(state, it, r, tags, source, ts)


def _decide(state: _State, it: Item, r: dict[str, Any], tags: list[str], source: str | None, ts: Any) -> dict[str, Any]:
    meta = {**(it.metadata or {}), **r["filled"]}
    meta_json = json.dumps(meta, sort_keys=True, default=str) if meta else None
    prev = state.latest.get(it.object_name)
    if prev is not None and prev["sha256"] == r["sha256"] and (not meta or prev["metadata"] == meta_json) and prev["uri"] == it.uri:
        missing = [t for t in tags if t not in (prev["tags"] or [])]
        if missing:
            prev["tags"] = list(prev["tags"] or []) + missing
            if prev["id"] in state.committed:
                state.changed[prev["id"]] = prev
        return prev
    row = {
        "id": uuid.uuid4().hex,
        "object_name": it.object_name,
        "filename": it.filename,
        "version": (prev["version"] + 1) if prev else 1,
        "sha256": r["sha256"],
        "size": r["size"],
        "media_type": r["media_type"],
        "width": r["width"],
        "height": r["height"],
        "source": source,
        "tags": list(tags),
        "metadata": meta_json,
        "uri": it.uri,
        "created_at": ts,
        "is_latest": True,
    }
    if prev is not None:
        prev["is_latest"] = False
        if prev["id"] in state.committed:
            state.changed[prev["id"]] = prev
    state.latest[it.object_name] = row
    state.new_rows.append(row)
    return row
