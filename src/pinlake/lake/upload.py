"""Ingest: hash files in a thread pool, dedup by sha256 and object name, write in batches.

All writes of one call are made invisible first (Lance fragments) and committed at the end:
one commit on ``objects`` and one on ``data`` per call, under the lake's write lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import lance
import pyarrow as pa

from pinlake.catalog.sync import on_lake_committed
from pinlake.errors import InputFileError, ValidationError, field_size_error, oversized_string
from pinlake.lake.lance_tables import DATA, DATA_SCHEMA, OBJECTS, OBJECTS_SCHEMA, Store, lake_rows_table, now, sql_in
from pinlake.lake.metadata import CorruptFileError, probe
from pinlake.lake.models import ErrorManager, UploadError
from pinlake.lake.state import StateCache, state_path
from pinlake.storage import take_rows
from pinlake.util.faults import commit_point
from pinlake.util.write_behind import PendingWrites, WriteBehind

BATCH_ROWS = 1000
BATCH_BYTES = 64 * 1024 * 1024


@dataclass
class UploadItem:
    """One thing to ingest: where it comes from, its logical name, how to read it."""

    label: str
    object_name: str
    filename: str
    #: how to get the bytes; None: read the local file ``path`` (see :func:`read_local`)
    read: Callable[[], bytes] | None
    size_hint: int = 0
    uri: str | None = None
    metadata: dict[str, Any] | None = None
    #: local files: absolute path and (inode, size, mtime_ns) when it was listed (the state cache key)
    path: str | None = None
    stat: tuple[int, int, int] | None = None
    #: local files: st_mode when listed (None: missing then)
    mode: int | None = None


#: the longest part of an object name, in UTF-8 bytes (a file name on common file systems and in S3 tools)
MAX_NAME_PART_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 120 else repr(name[:60]) + f"… ({len(name)} characters)"


def check_object_name(name: str) -> str:
    """A safe logical path: relative, '/'-separated, no '..', no empty parts, no control characters
    (newlines included), each part at most 255 bytes."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"invalid object name {name!r}: empty", hint="Use a relative path like 'trial/basel/patient-001/t2.dcm'.")
    bad = None
    if "\\" in name or "\x00" in name:
        bad = "backslashes and NUL are not allowed"
    elif name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        bad = "absolute paths are not allowed"
    elif (ctl := _CONTROL.search(name)) is not None:
        bad = "a newline is not allowed" if ctl.group() == "\n" else f"control character {ctl.group()!r} is not allowed"
    else:
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            bad = "'..', '.' and empty parts are not allowed"
        else:
            longest = max(parts, key=lambda p: len(p.encode()))
            if len(longest.encode()) > MAX_NAME_PART_BYTES:
                bad = f"part {_shown(longest)} is {len(longest.encode())} bytes, over {MAX_NAME_PART_BYTES} bytes"
    if bad:
        raise ValidationError(
            f"invalid object name {_shown(name)}: {bad}",
            hint="Use a relative path like 'trial/basel/patient-001/t2.dcm' (each part at most 255 bytes, no control characters).",
        )
    return name


def check_metadata_sizes(items: list[UploadItem]) -> None:
    """Before any file is read: no file's metadata may be over PINLAKE_MAX_FIELD_BYTES as the JSON
    text of the data table's ``metadata`` field (one text per distinct dict, checked columnar)."""
    first: dict[int, int] = {}  # id of a metadata dict -> the first item carrying it
    for i, it in enumerate(items):
        if it.metadata and id(it.metadata) not in first:
            first[id(it.metadata)] = i
    if not first:
        return
    owners = list(first.values())
    texts = pa.array([json.dumps(items[i].metadata, sort_keys=True, default=str) for i in owners], pa.string())
    over = oversized_string(pa.table({"metadata": texts}))
    if over is None:
        return
    it = items[owners[over[1]]]
    meta = it.metadata or {}
    key = max(meta, key=lambda k: len(json.dumps(meta[k], default=str)))
    raise field_size_error(f"cannot upload {it.label} (object {_shown(it.object_name)})", f"metadata.{key}", over[2])


def check_new_rows(state: IngestState) -> None:
    """Before the commit: no new data row's ``metadata`` (the caller's merged with the filled one)
    over PINLAKE_MAX_FIELD_BYTES. Nothing is committed when one is."""
    if not state.new_rows:
        return
    over = oversized_string(pa.table({"metadata": pa.array([r["metadata"] for r in state.new_rows], pa.string())}))
    if over is not None:
        row = state.new_rows[over[1]]
        raise field_size_error(f"cannot upload object {_shown(row['object_name'])}", "metadata", over[2])


def local_items(
    filepaths: Iterable[str | os.PathLike[str]],
    metadata: list[dict[str, Any] | None],
    object_names: list[str] | None,
    object_prefix: str | None = None,
) -> list[UploadItem]:
    items = []
    prefix = object_prefix.strip("/") if object_prefix else None
    for i, fp in enumerate(filepaths):
        label = os.fspath(fp)
        name = object_names[i] if object_names is not None else os.path.basename(label)
        if prefix:
            name = posixpath.join(prefix, name)
        check_object_name(name)
        path = os.path.abspath(label)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        key = (st.st_ino, st.st_size, st.st_mtime_ns) if st is not None and stat.S_ISREG(st.st_mode) else None
        items.append(
            UploadItem(
                label,
                name,
                posixpath.basename(name),
                None,
                st.st_size if st else 0,
                None,
                metadata[i],
                path,
                key,
                st.st_mode if st else None,
            )
        )
    return items


def read_local(path: str, mode: int | None = None) -> bytes:
    """The bytes of a local file, or an error whose text is the reason shown per file
    (``mode``: its st_mode when listed, if known)."""
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError("is a directory, not a file")
    if mode is not None and not stat.S_ISREG(mode):
        raise OSError("not a regular file")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise FileNotFoundError("file not found") from None
    except IsADirectoryError:
        raise IsADirectoryError("is a directory, not a file") from None


def _load(item: UploadItem, fill_metadata: bool) -> dict[str, Any]:
    content = item.read() if item.read is not None else read_local(str(item.path), item.mode)
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


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (not allowed to read)"
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, CorruptFileError)):
        return str(exc.args[0]) if exc.args else exc.__class__.__name__
    return f"{exc.__class__.__name__}: {exc}"


#: files read, hashed and probed by one pool task (per-file tasks cost more than the work)
CHUNK_FILES = 64
#: a file whose mtime is this close to the moment it was read is not recorded in the state cache
#: (its bytes could still change within the filesystem's timestamp granularity: "racy" entries)
RACY_NS = 2_000_000_000
#: up to this many objects, a large ingest reads the whole sha256 column once (64 B a row)
SHA_SCAN_ROWS = 500_000


def _batches(items: list[tuple[int, UploadItem]]) -> Iterator[list[tuple[int, UploadItem]]]:
    batch: list[tuple[int, UploadItem]] = []
    size = 0
    for i, item in items:
        batch.append((i, item))
        size += item.size_hint
        if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def load_chunk(chunk: list[UploadItem], fill_metadata: bool) -> list[dict[str, Any] | BaseException]:
    out: list[dict[str, Any] | BaseException] = []
    for item in chunk:
        try:
            out.append(_load(item, fill_metadata))
        except Exception as exc:  # noqa: BLE001 - reported per file by _process
            out.append(exc)
    return out


def _submit(
    pool: ThreadPoolExecutor, batch: list[tuple[int, UploadItem]], fill_metadata: bool
) -> list[tuple[list[tuple[int, UploadItem]], Future]]:
    return [
        (batch[s : s + CHUNK_FILES], pool.submit(load_chunk, [it for _, it in batch[s : s + CHUNK_FILES]], fill_metadata))
        for s in range(0, len(batch), CHUNK_FILES)
    ]


def ingest(
    store: Store,
    items: list[UploadItem],
    *,
    tags: list[str],
    source: str | None,
    max_workers: int | None,
    error_manager: ErrorManager | None,
    fill_metadata: bool,
    operation: str,
    progress: Callable[[int], None] | None = None,
    lineage: dict[str, Any] | None = None,
    use_state: bool = True,
) -> list[dict[str, Any] | None]:
    """Ingest ``items``; returns one data row per item (None where it failed).

    Local files whose path, inode, size and mtime match the state cache, and whose object name's
    latest version already has the cached sha256, are not read again (see :mod:`pinlake.lake.state`).
    """
    workers = max_workers or min(8, (os.cpu_count() or 1) + 2)
    results: list[dict[str, Any] | None] = [None] * len(items)
    cache = StateCache(state_path(store.root, store.remote)) if use_state else None
    hashed: list[tuple[str, int, int, int, str]] = []
    with store.write_lock():
        objects_ds = store.open_or_none(OBJECTS)
        data_ds = store.open_or_none(DATA)
        state = IngestState()
        load_latest(state, data_ds, [it.object_name for it in items])
        todo = skip_known(state, items, results, cache, fill_metadata, tags, source, progress)
        writes = WriteBehind(backlog=2, name="pinlake-objects")  # blob writes overlap hashing the next batch; ≤ 2 batches wait
        writer = PendingWrites(writes)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pinlake-upload") as pool:
                pending: list[tuple[list[tuple[int, UploadItem]], Future]] | None = None
                for batch in _batches(todo):
                    submitted = _submit(pool, batch, fill_metadata)
                    if pending is not None:
                        _process(store, pending, state, objects_ds, writer, results, tags, source, error_manager, progress, hashed)
                    pending = submitted
                if pending is not None:
                    _process(store, pending, state, objects_ds, writer, results, tags, source, error_manager, progress, hashed)
            obj_fragments = writer.results()
        finally:
            writer.cancel()
            writes.close(cancel=True)
        check_new_rows(state)
        commit(store, state, obj_fragments, operation, {"files": len(items), **(lineage or {})})
    if cache is not None:
        cache.record(hashed)
    return results


def commit(store: Store, state: IngestState, obj_fragments: list[Any], operation: str, extra: dict[str, Any]) -> None:
    """The commit point of an ingest: the new objects (one commit), then the data rows (one commit)."""
    if obj_fragments:
        store.commit_fragments(OBJECTS, obj_fragments, OBJECTS_SCHEMA, operation, **extra)
        commit_point("lake objects")
    if state.changed:
        store.upsert_data(lake_rows_table(state.new_rows + list(state.changed.values())))
        commit_point("lake data")
    elif state.new_rows:
        store.append(DATA, lake_rows_table(state.new_rows), DATA_SCHEMA, operation, **extra)
        commit_point("lake data")

    on_lake_committed(store.root)  # also after a no-op: a rerun after a kill before the catalog write catches up


class IngestState:
    def __init__(self) -> None:
        self.blob_shas: set[str] = set()  # objects with bytes (committed or written in this call)
        self.any_shas: set[str] = set()
        self.latest: dict[str, dict[str, Any]] = {}  # object_name -> latest row
        self.committed: set[str] = set()  # ids of rows already in the table
        self.new_rows: list[dict[str, Any]] = []
        self.changed: dict[str, dict[str, Any]] = {}
        self._ids: list[str] = []
        self.all_shas_loaded = False

    def load_all_shas(self, objects_ds: lance.LanceDataset | None, batch: int) -> None:
        """For a batch large next to the objects table, read its sha256 column once instead of IN lists."""
        if self.all_shas_loaded or objects_ds is None or batch < 200:
            return
        if objects_ds.count_rows() > SHA_SCAN_ROWS:
            return
        table = objects_ds.to_table(columns=["sha256", "uri"])
        import pyarrow.compute as pc

        self.blob_shas.update(table.filter(pc.is_null(table["uri"]))["sha256"].to_pylist())
        self.any_shas.update(table["sha256"].to_pylist())
        self.all_shas_loaded = True

    def new_id(self) -> str:
        """A random 128-bit hex id (ids are drawn 1024 at a time: one urandom call, not one per row)."""
        if not self._ids:
            raw = os.urandom(16 * 1024).hex()
            self._ids = [raw[k : k + 32] for k in range(0, len(raw), 32)]
        return self._ids.pop()


def load_latest(state: IngestState, data_ds: lance.LanceDataset | None, names: list[str]) -> None:
    """The latest row of each of ``names`` already in the lake, in one columnar lookup."""
    if data_ds is None or not names:
        return
    uniq = sorted(set(names))
    if len(uniq) <= BATCH_ROWS:
        table = data_ds.to_table(filter=f"is_latest = true AND {sql_in('object_name', uniq)}")
    else:  # many names: scan the name column once, then take the matching rows
        import pyarrow.compute as pc

        keys = data_ds.to_table(columns=["object_name"], filter="is_latest = true", with_row_id=True)
        hit = keys.filter(pc.is_in(keys["object_name"], value_set=pa.array(uniq, pa.string())))
        table = take_rows(data_ds, hit["_rowid"].to_pylist()) if hit.num_rows else None
    for row in table.to_pylist() if table is not None else []:
        state.latest[row["object_name"]] = row
        state.committed.add(row["id"])


def skip_known(
    state: IngestState,
    items: list[UploadItem],
    results: list[dict[str, Any] | None],
    cache: Any,
    fill_metadata: bool,
    tags: list[str],
    source: str | None,
    progress: Callable[[int], None] | None,
) -> list[tuple[int, UploadItem]]:
    """Settle the files the state cache knows (no read); return the (index, item) pairs still to read."""
    keys = {it.path: it.stat for it in items if it.path and it.stat} if cache is not None and not fill_metadata else {}
    known = cache.lookup(keys) if keys else {}
    if not known:
        return list(enumerate(items))
    counts: dict[str, int] = {}
    for it in items:
        counts[it.object_name] = counts.get(it.object_name, 0) + 1
    todo: list[tuple[int, UploadItem]] = []
    ts = now()
    skipped = 0
    for i, it in enumerate(items):
        sha = known.get(it.path) if it.path else None
        prev = state.latest.get(it.object_name) if sha else None
        if prev is None or prev["sha256"] != sha or prev["uri"] is not None or counts[it.object_name] > 1:
            todo.append((i, it))
            continue
        same = {
            "sha256": sha,
            "size": prev["size"],
            "media_type": prev["media_type"],
            "width": prev["width"],
            "height": prev["height"],
            "filled": {},
        }
        results[i] = decide(state, it, same, tags, source, ts)
        skipped += 1
    if progress and skipped:
        progress(skipped)
    return todo


def _process(
    store: Store,
    pending: list[tuple[list[tuple[int, UploadItem]], Future]],
    state: IngestState,
    objects_ds: lance.LanceDataset | None,
    writer: PendingWrites,
    results: list[dict[str, Any] | None],
    tags: list[str],
    source: str | None,
    error_manager: ErrorManager | None,
    progress: Callable[[int], None] | None,
    hashed: list[tuple[str, int, int, int, str]],
) -> None:
    ok: list[tuple[int, UploadItem, dict[str, Any]]] = []
    for chunk, fut in pending:
        loaded = fut.result()
        for (i, item), r in zip(chunk, loaded):
            if isinstance(r, BaseException):
                if error_manager is None:
                    for _, f in pending:
                        f.cancel()
                    raise InputFileError(
                        f"cannot upload {item.label}: {failure_reason(r)}",
                        hint="Nothing was written. Pass error_manager=ErrorManager() to skip failing files.",
                    ) from r
                error_manager.append(UploadError(item.label, failure_reason(r)))
            else:
                ok.append((i, item, r))
        if progress:
            progress(len(chunk))
    if not ok:
        return
    record_hashed(ok, hashed)
    new_objs = dedupe(state, objects_ds, ok)
    ts = now()
    if new_objs:
        table = objects_table([(r["sha256"], r["size"], it.uri, r["content"] if it.uri is None else None) for it, r in new_objs], ts)
        del new_objs
        for _, _, r in ok:
            r["content"] = None  # free memory early
        writer.add(store.write_fragments, OBJECTS, table, OBJECTS_SCHEMA)
        del table
    for i, it, r in ok:
        results[i] = decide(state, it, r, tags, source, ts)


def objects_table(rows: list[tuple[str, int, str | None, bytes | None]], created_at: Any) -> pa.Table:
    """Rows of the ``objects`` table from ``(sha256, size, uri, bytes)``: bytes for uploads, a uri
    (and no bytes) for objects imported by reference."""
    sha, size, uri, blob = zip(*rows) if rows else ((), (), (), ())
    return pa.table(
        [
            pa.array(sha, pa.string()),
            pa.array(size, pa.int64()),
            pa.array(uri, pa.string()),
            lance.blob_array(list(blob)),
            pa.array([created_at] * len(rows), OBJECTS_SCHEMA.field("created_at").type),
        ],
        schema=OBJECTS_SCHEMA,
    )


def record_hashed(ok: list[tuple[int, UploadItem, dict[str, Any]]], hashed: list[tuple[str, int, int, int, str]]) -> None:
    """State-cache entries of the files just hashed (not the racy ones: see RACY_NS)."""
    read_at = time.time_ns() - RACY_NS
    for _, it, r in ok:
        if it.path and it.stat and it.stat[2] < read_at and it.stat[1] == r["size"]:
            hashed.append((it.path, it.stat[0], it.stat[1], it.stat[2], r["sha256"]))


def dedupe(
    state: IngestState, objects_ds: lance.LanceDataset | None, ok: list[tuple[int, UploadItem, dict[str, Any]]]
) -> list[tuple[UploadItem, dict[str, Any]]]:
    """The (item, loaded) pairs that need a new object row: the first of each sha256 the lake lacks
    (with bytes for uploads, by reference for imports). One columnar query per batch, or one scan
    of the sha256 column for a large call."""
    state.load_all_shas(objects_ds, len(ok))
    shas = sorted({r["sha256"] for _, it, r in ok if it.uri is None} - state.blob_shas)
    if shas and objects_ds is not None and not state.all_shas_loaded:
        found = objects_ds.to_table(columns=["sha256"], filter=f"uri IS NULL AND {sql_in('sha256', shas)}")
        state.blob_shas.update(found["sha256"].to_pylist())
    ref_shas = sorted({r["sha256"] for _, it, r in ok if it.uri is not None} - state.any_shas)
    if ref_shas and objects_ds is not None and not state.all_shas_loaded:
        found = objects_ds.to_table(columns=["sha256"], filter=sql_in("sha256", ref_shas))
        state.any_shas.update(found["sha256"].to_pylist())
    new: list[tuple[UploadItem, dict[str, Any]]] = []
    for _, it, r in ok:
        sha = r["sha256"]
        if it.uri is None and sha not in state.blob_shas:
            new.append((it, r))
            state.blob_shas.add(sha)
        elif it.uri is not None and sha not in state.any_shas and sha not in state.blob_shas:
            new.append((it, r))
        state.any_shas.add(sha)
    return new


def decide(state: IngestState, it: UploadItem, r: dict[str, Any], tags: list[str], source: str | None, ts: Any) -> dict[str, Any]:
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
        "id": state.new_id(),
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
