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
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pinlake.catalog.sync import on_lake_committed
from pinlake.errors import InputFileError, ValidationError, field_size_error, oversized_string
from pinlake.lake.lance_tables import DATA, DATA_SCHEMA, OBJECTS, OBJECTS_SCHEMA, Store, lake_rows_table, now, sql_in
from pinlake.lake.metadata import CorruptFileError, probe
from pinlake.lake.models import ErrorManager, UploadError
from pinlake.lake.state import StateCache, state_path
from pinlake.storage import take_rows
from pinlake.util.digestset import DigestSet
from pinlake.util.faults import commit_point
from pinlake.util.idset import duplicates, hash_strings
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


#: parts of no '/', backslash, control character or lone surrogate (a file name not in UTF-8), and
#: no ':' in the first (no drive letter)
_PLAIN = re.compile(r"[^/\\\x00-\x1f\x7f\ud800-\udfff:]+(?:/[^/\\\x00-\x1f\x7f\ud800-\udfff]+)*")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def plainly_safe(name: str) -> bool:
    """The quick test of the common name: at most 63 characters (so every part is at most 252
    bytes), plain parts, none of them '.' or '..', not blank. False only means "check fully"."""
    if not isinstance(name, str) or len(name) > MAX_NAME_PART_BYTES // 4 or not name.strip() or not _PLAIN.fullmatch(name):
        return False
    dotted = f"/{name}/"
    return "/./" not in dotted and "/../" not in dotted


def check_object_name(name: str) -> str:
    """A safe logical path: relative, '/'-separated, no '..', no empty parts, no control characters
    (newlines included), each part at most 255 bytes."""
    return name if plainly_safe(name) else checked_name(name)


def checked_name(name: str) -> str:
    """:func:`check_object_name` without the quick test: every rule, with the reason of a refusal."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"invalid object name {name!r}: empty", hint="Use a relative path like 'trial/basel/patient-001/t2.dcm'.")
    bad = None
    if "\\" in name or "\x00" in name:
        bad = "backslashes and NUL are not allowed"
    elif name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        bad = "absolute paths are not allowed"
    elif (ctl := _CONTROL.search(name)) is not None:
        bad = "a newline is not allowed" if ctl.group() == "\n" else f"control character {ctl.group()!r} is not allowed"
    elif _SURROGATE.search(name) is not None:
        bad = "it is not valid UTF-8 (rename the file)"
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
    """Before the commit, batch by batch: no new data row's ``metadata`` (the caller's merged with
    the filled one) over PINLAKE_MAX_FIELD_BYTES. Nothing is committed when one is."""
    rows = state.new_rows + list(state.held_new.values())
    if not rows:
        return
    over = oversized_string(pa.table({"metadata": pa.array([r["metadata"] for r in rows], pa.string())}))
    if over is not None:
        row = rows[over[1]]
        raise field_size_error(f"cannot upload object {_shown(row['object_name'])}", "metadata", over[2])


def local_items(
    filepaths: Iterable[str | os.PathLike[str]],
    metadata: list[dict[str, Any] | None],
    object_names: list[str] | None,
    object_prefix: str | None = None,
    normalized: bool = False,
) -> list[UploadItem]:
    """One UploadItem a local file, its stat taken now. ``normalized``: the paths are already
    normalized (as :func:`walk_files` gives them), so a relative one is made absolute by joining
    it to the working directory, without ``os.path.abspath``'s normalization of each."""
    items = []
    prefix = object_prefix.strip("/") if object_prefix else None
    cwd = os.path.join(os.getcwd(), "") if normalized else ""
    for i, fp in enumerate(filepaths):
        label = os.fspath(fp)
        name = object_names[i] if object_names is not None else os.path.basename(label)
        if prefix:
            name = posixpath.join(prefix, name)
        check_object_name(name)
        path = cwd + label if normalized and not os.path.isabs(label) and not label.startswith("..") else os.path.abspath(label)
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


def walk_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, str]]:
    """``(path, relative name)`` of the files under ``paths``, lazily. A directory is walked
    (entries in name order, hidden files skipped, symbolic links to directories not followed) and
    its files are named by their path under it (``train/img-1.jpg``), as ``pinlake lake upload``
    names them; anything else is named by its file name (a missing path then fails as that file).
    Paths are given normalized (``./images/a.png`` as ``images/a.png``)."""
    for p in paths:
        top = os.path.normpath(os.fspath(p))
        if os.path.isdir(top):
            yield from _walk(top, "")
        else:
            yield top, os.path.basename(top)


def _walk(top: str, rel: str) -> Iterator[tuple[str, str]]:
    with os.scandir(top) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        path = e.name if top == os.curdir else e.path  # "d/a.png", not "./d/a.png": normalized
        if e.is_dir(follow_symlinks=False):
            yield from _walk(path, f"{rel}{e.name}/")
        elif not e.name.startswith(".") and e.is_file():
            yield path, f"{rel}{e.name}"


def name_of(rel: str, prefix: str | None) -> str:
    """The object name of a file named ``rel`` under its folder: ``prefix/rel``."""
    return posixpath.join(prefix.strip("/"), rel) if prefix and prefix.strip("/") else rel


def chunks(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``values`` in lists of ``size`` (the last shorter), taken from the iterable lazily."""
    chunk: list[Any] = []
    for v in values:
        chunk.append(v)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def repeated_names(roots: list[str | os.PathLike[str]], object_prefix: str | None) -> set[str]:
    """The object names that more than one file under ``roots`` would get (two roots holding the
    same relative path). A first walk keeps a 64-bit hash a file (8 MB for a million); only when
    hashes repeat does a second walk collect the names behind them. One root names each of its
    files once: no walk then."""
    if len(roots) < 2:
        return set()

    def named(rels: list[str]) -> pa.Array:
        return pa.array([name_of(r, object_prefix) for r in rels], pa.string())

    rels = (rel for _, rel in walk_files(roots))
    parts = [hash_strings(named(c)) for c in chunks(rels, 65_536)]
    if not parts:
        return set()
    values, counts = np.unique(np.concatenate(parts), return_counts=True)
    twice = values[counts > 1]
    if not len(twice):
        return set()
    names: list[str] = []  # the names behind repeated hashes only
    for c in chunks((rel for _, rel in walk_files(roots)), 65_536):
        batch = named(c)
        names += batch.filter(pa.array(np.isin(hash_strings(batch), twice))).to_pylist()
    return duplicates(names)


def folder_items(files: Iterable[tuple[str, str]], object_prefix: str | None) -> Iterator[UploadItem]:
    """One UploadItem a ``(path, relative name)``, lazily: made BATCH_ROWS at a time as the walk
    reaches them (their stat taken then)."""
    for chunk in chunks(files, BATCH_ROWS):
        yield from local_items([p for p, _ in chunk], [None] * len(chunk), [name_of(r, object_prefix) for _, r in chunk], normalized=True)


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
#: batches that may ask the objects table with IN lists before the sha256 column is read once
SHA_QUERIES = 4
#: the same once the column has its index: an IN list of 1,000 digests is then about 35 ms at a
#: million objects, and reading the column once about 0.9 s and 70 MB (bench/NOTES.md)
SHA_QUERIES_INDEXED = 32
#: up to this many objects, a large ingest reads the whole sha256 column once (kept at 32 B a row)
SHA_SCAN_ROWS = 4_000_000


def _batches(items: Iterable[tuple[int, UploadItem]]) -> Iterator[list[tuple[int, UploadItem]]]:
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


def settled_batches(
    items: Iterable[UploadItem],
    state: IngestState,
    out: Ingested,
    cache: StateCache | None,
    fill_metadata: bool,
    tags: list[str],
    progress: Callable[[int], None] | None,
) -> Iterator[tuple[list[tuple[int, UploadItem]], dict[str, str] | None]]:
    """Each batch of ``items``, counted, less the files :func:`skip_unchanged` settles."""
    for batch in _batches(enumerate(items)):
        out.files += len(batch)
        state.lookup.next_batch()
        yield skip_unchanged(state, batch, out, cache, fill_metadata, tags, progress)


def regroup(
    settled: Iterable[tuple[list[tuple[int, UploadItem]], dict[str, str] | None]],
) -> Iterator[tuple[list[tuple[int, UploadItem]], dict[str, str] | None]]:
    """The files each batch left after :func:`skip_unchanged` (with what the state cache said of
    them), in order, regrouped into batches of BATCH_ROWS files or BATCH_BYTES: a rerun that
    settles most files in columns leaves a few a batch, and each batch read, decided and recorded
    costs about 10 ms whatever its size (1,000 changed files spread over a million: 1,000 batches
    of one file). The known answers are kept for the files left only; None when the cache was not
    asked (the same for every batch of a call)."""
    carry: list[tuple[int, UploadItem]] = []
    size = 0
    known: dict[str, str] | None = None
    for todo, found in settled:
        for pair in todo:
            carry.append(pair)
            size += pair[1].size_hint
            if found is not None:
                known = {} if known is None else known
                if (path := pair[1].path) in found:
                    known[path] = found[path]
            if len(carry) >= BATCH_ROWS or size >= BATCH_BYTES:
                yield carry, known
                carry, size, known = [], 0, None
    if carry:
        yield carry, known


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


@dataclass
class Ingested:
    """What an ingest did: counts, and one data row per item when the caller keeps them."""

    files: int = 0
    #: items ingested (the others failed and an ErrorManager took their errors)
    ok: int = 0
    #: data rows written: new resources and new versions
    new: int = 0
    #: one row per item, None where it failed (``keep_rows=True`` only)
    rows: list[dict[str, Any] | None] | None = None


def ingest(
    store: Store,
    items: Iterable[UploadItem],
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
    keep_rows: bool = True,
    repeated: set[str] | None = None,
) -> Ingested:
    """Ingest ``items`` batch by batch; memory follows the batch, not the call.

    ``items`` is a list, or (with ``keep_rows=False``) any iterable: a folder walk streams. Object
    names that occur more than once in the call are ``repeated`` (computed from a list; a stream's
    caller passes them): only their rows are held across batches. Local files whose path, inode,
    size and mtime match the state cache, and whose object name's latest version already has the
    cached sha256, are not read again (see :mod:`pinlake.lake.state`).
    """
    workers = max_workers or min(8, (os.cpu_count() or 1) + 2)
    if keep_rows and not isinstance(items, list):
        items = list(items)
    if repeated is None:
        items = items if isinstance(items, list) else list(items)
        repeated = duplicates([it.object_name for it in items])
    out = Ingested(rows=[None] * len(items) if keep_rows and isinstance(items, list) else None)
    cache = StateCache(state_path(store.root, store.remote)) if use_state else None
    with store.write_lock():
        objects_ds = store.open_or_none(OBJECTS)
        state = IngestState(repeated, LatestLookup(store.open_or_none(DATA)))
        writes = WriteBehind(backlog=2, name="pinlake-objects")  # blob writes overlap hashing the next batch; ≤ 2 batches wait
        writer = PendingWrites(writes)
        data_fragments: list[Any] = []
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pinlake-upload") as pool:
                pending: list[tuple[list[tuple[int, UploadItem]], Future]] | None = None
                pending_names: list[str] = []
                for todo, known in regroup(settled_batches(items, state, out, cache, fill_metadata, tags, progress)):
                    names = [it.object_name for _, it in todo]
                    state.begin(names)
                    todo = skip_known(state, todo, out, cache, fill_metadata, tags, source, progress, known)
                    submitted = _submit(pool, todo, fill_metadata)
                    if pending is not None:
                        _process(store, pending, state, objects_ds, writer, out, tags, source, error_manager, progress, cache)
                        state.end(pending_names)
                        data_fragments += flush_rows(store, state)
                    pending, pending_names = submitted, names
                if pending is not None:
                    _process(store, pending, state, objects_ds, writer, out, tags, source, error_manager, progress, cache)
                    state.end(pending_names)
            data_fragments += flush_rows(store, state, final=True)
            flush_objects(store, state, writer, final=True)
            out.new = state.new_count
            obj_fragments = writer.results()
        finally:
            writer.cancel()
            writes.close(cancel=True)
            if cache is not None:
                cache.close()
        changed = list(state.changed.values())
        del state, objects_ds  # the call's digests and lookups (≈ 100 MB at a million files) go before the indexes
        commit(store, changed, obj_fragments, data_fragments, operation, {"files": out.files, **(lineage or {})})
    return out


def commit(
    store: Store, changed: list[dict[str, Any]], obj_fragments: list[Any], data_fragments: list[Any], operation: str, extra: dict[str, Any]
) -> None:
    """The commit point of an ingest: the new objects (one commit), then the data rows (one commit:
    the new rows' fragments, and the ``changed`` rows of earlier versions); then the lake's indexes
    (Lance builds a new one in memory: the caller lets its own state go first) and the catalog."""
    if obj_fragments:
        store.commit_fragments(OBJECTS, obj_fragments, OBJECTS_SCHEMA, operation, **extra)
        commit_point("lake objects")
    if changed:
        store.replace_rows(DATA, lake_rows_table(changed), data_fragments, DATA_SCHEMA, operation, **extra)
        commit_point("lake data")
    elif data_fragments:
        store.commit_fragments(DATA, data_fragments, DATA_SCHEMA, operation, **extra)
        commit_point("lake data")
    pa.default_memory_pool().release_unused()  # Arrow's freed buffers back to the system first
    for table in (OBJECTS, DATA):
        store.index(table)

    on_lake_committed(store.root)  # also after a no-op: a rerun after a kill before the catalog write catches up


#: new data rows are written as uncommitted fragments of about this many rows (they commit at the end)
DATA_FRAGMENT_ROWS = 50_000


#: new objects are given to the writer once this many bytes of them wait (or DATA_FRAGMENT_ROWS objects)
OBJECT_FRAGMENT_BYTES = 16 * 1024 * 1024


def flush_objects(store: Store, state: IngestState, writer: PendingWrites, final: bool = False) -> None:
    """Give the new objects of earlier batches to the writer once OBJECT_FRAGMENT_BYTES of bytes or
    DATA_FRAGMENT_ROWS objects wait (every one left with ``final``): a rerun that finds one changed
    file a batch writes a few fragments, not one a batch (a million files, 1,000 changed: 1,000
    fragment files of one object each, 15 s, before), and a million files of 1 kB make about 60
    fragments, not 1,000 (a later IN query on the table costs with each fragment)."""
    waiting = state.objects_waiting
    if not waiting:
        return
    if not final and state.objects_waiting_rows < DATA_FRAGMENT_ROWS and state.objects_waiting_bytes < OBJECT_FRAGMENT_BYTES:
        return
    table = pa.concat_tables(waiting)
    state.objects_waiting, state.objects_waiting_rows, state.objects_waiting_bytes = [], 0, 0
    writer.add(store.write_fragments, OBJECTS, table, OBJECTS_SCHEMA)


def flush_rows(store: Store, state: IngestState, final: bool = False) -> list[Any]:
    """After a batch: its new rows become Arrow (≈ 250 bytes a row, not a dict's ≈ 1 kB), and once
    DATA_FRAGMENT_ROWS of them wait (every one left with ``final``) they are written as
    uncommitted fragments of ``data``. The rows of repeated names wait for the end: a later item of
    the same name makes them an earlier version."""
    if state.new_rows:
        state.waiting.append(lake_rows_table(state.new_rows))
        state.waiting_rows += len(state.new_rows)
        state.new_rows = []
    if final and state.held_new:
        state.waiting.append(lake_rows_table(list(state.held_new.values())))
        state.held_new = {}
    if not state.waiting or (not final and state.waiting_rows < DATA_FRAGMENT_ROWS):
        return []
    table = pa.concat_tables(state.waiting)
    state.waiting, state.waiting_rows = [], 0
    return store.write_fragments(DATA, table, DATA_SCHEMA)


class LatestLookup:
    """The latest data row of object names, asked batch by batch.

    In the first batch, an ask of up to BATCH_ROWS names goes to Lance as an IN list (one scan of
    the name column). From the second batch on (or for a larger ask), the names and row ids of the
    latest rows are read once (≈ 50 bytes a row: 50 MB for a million) and each ask finds its names
    by 64-bit hash (then compares the names) and takes its rows by row id: the cost of a batch
    follows the batch, not the table."""

    def __init__(self, data_ds: lance.LanceDataset | None) -> None:
        self.ds = data_ds
        self.batches = 0
        self.names: pa.Array | None = None
        self.sorted_hashes: np.ndarray | None = None
        self.order: np.ndarray | None = None
        self.row_ids: np.ndarray | None = None

    def next_batch(self) -> None:
        """The ingest moved on to its next batch (see the class: only the first asks with IN lists)."""
        self.batches += 1

    def small(self, n: int) -> bool:
        """Whether an ask of ``n`` names goes to Lance as an IN list (see the class)."""
        return self.names is None and self.batches <= 1 and n <= BATCH_ROWS

    def rows(self, names: list[str]) -> list[dict[str, Any]]:
        """The latest rows of ``names``, as dicts (those that have one, in no set order)."""
        if self.ds is None or not names:
            return []
        _, table = self.latest_columns(sorted(set(names)), self.ds.schema.names)
        return table.to_pylist() if table is not None else []

    def latest_columns(self, names: list[str], columns: list[str]) -> tuple[np.ndarray, pa.Table | None]:
        """For distinct ``names``: the positions in ``names`` of those with a latest row, and the
        ``columns`` of those rows, aligned (None when none has one)."""
        if self.ds is None or not names:
            return np.empty(0, np.int64), None
        asked = pa.array(names, pa.string())
        if self.small(len(names)):
            read = list(dict.fromkeys(["object_name", *columns]))
            found = self.ds.to_table(columns=read, filter=f"is_latest = true AND {sql_in('object_name', sorted(names))}")
            if not found.num_rows:
                return np.empty(0, np.int64), None
            at = pc.index_in(found["object_name"], value_set=asked).to_numpy(zero_copy_only=False)
            return at.astype(np.int64), found.select(columns)
        at, ids = self.find(asked)
        return (at, take_rows(self.ds, ids.tolist(), columns=columns)) if len(ids) else (at, None)

    def find(self, asked: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``asked``, row ids) of the distinct names ``asked`` that have a latest row."""
        assert self.ds is not None
        if self.names is None:
            keys = self.ds.to_table(columns=["object_name"], filter="is_latest = true", with_row_id=True)
            self.names = keys["object_name"].combine_chunks()
            self.row_ids = keys["_rowid"].to_numpy()
            hashes = hash_strings(self.names)
            self.order = np.argsort(hashes, kind="stable")
            self.sorted_hashes = hashes[self.order]
        assert self.sorted_hashes is not None and self.order is not None and self.row_ids is not None
        if not len(self.sorted_hashes):
            return np.empty(0, np.int64), np.empty(0, np.uint64)
        h = hash_strings(asked)
        pos = np.minimum(np.searchsorted(self.sorted_hashes, h), len(self.sorted_hashes) - 1)
        cand = np.flatnonzero(self.sorted_hashes[pos] == h)
        rows_of = self.order[pos[cand]]
        eq = np.asarray(pc.equal(self.names.take(pa.array(rows_of)), asked.take(pa.array(cand))), dtype=bool)
        at, ids = cand[eq].tolist(), self.row_ids[rows_of[eq]].tolist()
        for k in cand[~eq].tolist():  # a hash other names share: walk the equal hashes, compare each
            p, want = int(pos[k]) + 1, asked[k].as_py()
            while p < len(self.sorted_hashes) and self.sorted_hashes[p] == h[k]:
                j = int(self.order[p])
                if self.names[j].as_py() == want:
                    at.append(k)
                    ids.append(int(self.row_ids[j]))
                    break
                p += 1
        return np.array(at, np.int64), np.array(ids, np.uint64)


class IngestState:
    """What an ingest knows between batches: the digests it has seen, the latest rows of the names
    in flight, and the rows it will write. Only repeated names' rows are held across batches."""

    def __init__(self, repeated: set[str] | None = None, lookup: LatestLookup | None = None) -> None:
        self.repeated = repeated or set()
        self.lookup = lookup or LatestLookup(None)
        self.blob_shas = DigestSet()  # objects with bytes (committed or written in this call)
        self.ref_shas = DigestSet()  # objects by reference only
        self.latest: dict[str, dict[str, Any]] = {}  # object_name -> latest row, for names in flight
        self.committed: set[str] = set()  # ids of the rows in ``latest`` already in the table
        self.new_rows: list[dict[str, Any]] = []  # decided in this batch (names not repeated)
        self.waiting: list[pa.Table] = []  # new rows of earlier batches, not yet written
        self.waiting_rows = 0
        self.objects_waiting: list[pa.Table] = []  # new objects of earlier batches, not yet given to the writer
        self.objects_waiting_rows = 0
        self.objects_waiting_bytes = 0  # of their contents
        self.held_new: dict[str, dict[str, Any]] = {}  # id -> new row of a repeated name (written at the end)
        self.changed: dict[str, dict[str, Any]] = {}  # id -> committed row this call changes
        self.new_count = 0  # new rows decided in the call
        self.sha_asks = 0  # batches that looked digests up
        self._ids: list[str] = []
        self.all_shas_loaded = False
        self.shas_indexed: bool | None = None  # whether the objects' sha256 has an index (asked once)

    def begin(self, names: list[str]) -> None:
        """Before a batch: the latest committed row of each of its names not already known."""
        for row in self.lookup.rows([n for n in names if n not in self.latest]):
            if row["object_name"] not in self.latest:
                self.latest[row["object_name"]] = row
                self.committed.add(row["id"])

    def end(self, names: list[str]) -> None:
        """After a batch: forget its names' rows (repeated names' rows stay for their later items)."""
        for n in names:
            if n not in self.repeated:
                row = self.latest.pop(n, None)
                if row is not None:
                    self.committed.discard(row["id"])

    def load_all_shas(self, objects_ds: lance.LanceDataset | None, batch: int) -> None:
        """Read the objects' sha256 column once (32 bytes a digest, batch by batch) instead of an IN
        list a batch. Without an index on it, each IN list scans the whole column (a rerun reading
        one changed file a batch over a million objects spent 0.39 s a batch on it): the column is
        read for a large batch, or from the SHA_QUERIES-th batch that asks. With its index, an IN
        list is a lookup: the column is read from the SHA_QUERIES_INDEXED-th batch that asks."""
        self.sha_asks += 1
        if self.all_shas_loaded or objects_ds is None:
            return
        if self.shas_indexed is None:
            self.shas_indexed = any("sha256" in ix.field_names for ix in objects_ds.describe_indices())
        if self.shas_indexed and self.sha_asks < SHA_QUERIES_INDEXED:
            return
        if not self.shas_indexed and batch < 200 and self.sha_asks < SHA_QUERIES:
            return
        if objects_ds.count_rows() > SHA_SCAN_ROWS:
            return
        for b in objects_ds.to_batches(columns=["sha256", "uri"], batch_size=65_536):
            by_ref = pc.is_valid(b["uri"])
            self.blob_shas.update(b["sha256"].filter(pc.invert(by_ref)))
            self.ref_shas.update(b["sha256"].filter(by_ref))
        self.all_shas_loaded = True

    def has_any(self, shas: list[str]) -> np.ndarray:
        return self.blob_shas.contains(shas) | self.ref_shas.contains(shas)

    def new_id(self) -> str:
        """A random 128-bit hex id (ids are drawn 1024 at a time: one urandom call, not one per row)."""
        if not self._ids:
            raw = os.urandom(16 * 1024).hex()
            self._ids = [raw[k : k + 32] for k in range(0, len(raw), 32)]
        return self._ids.pop()


def skip_unchanged(
    state: IngestState,
    batch: list[tuple[int, UploadItem]],
    out: Ingested,
    cache: StateCache | None,
    fill_metadata: bool,
    tags: list[str],
    progress: Callable[[int], None] | None,
) -> tuple[list[tuple[int, UploadItem]], dict[str, str] | None]:
    """Settle, in columns, the files of a batch with nothing to write: the state cache knows the
    file, and its object name's latest version holds those bytes (by digest, not by reference)
    with every tag asked. Only for a call that keeps no rows (a folder stream counts them) and
    files given without metadata; every other file is returned, in order, for :func:`skip_known`
    and the read. Their latest rows are not read as dicts: two or three columns are taken by row id.
    Returns those files, and what the state cache said of the batch's files ({path: sha256}; None
    when it was not asked) for :func:`skip_known`."""
    if cache is None or fill_metadata or out.rows is not None:
        return batch, None
    found = cache.lookup({str(it.path): it.stat for _, it in batch if it.path and it.stat})
    cand = [(i, it) for i, it in batch if it.path in found and not it.metadata and it.uri is None and it.object_name not in state.repeated]
    if not cand:
        return batch, found
    columns = ["sha256", "uri", "tags"] if tags else ["sha256", "uri"]
    at, latest = state.lookup.latest_columns([it.object_name for _, it in cand], columns)
    if latest is None:
        return batch, found
    cached = pa.array([found[str(cand[k][1].path)] for k in at.tolist()], pa.string())
    same = np.asarray(pc.fill_null(pc.and_(pc.equal(latest["sha256"], cached), pc.is_null(latest["uri"])), False), dtype=bool)
    if tags:
        same &= has_tags(latest["tags"], tags)
    settled = {cand[k][0] for k in at[same].tolist()}
    if not settled:
        return batch, found
    out.ok += len(settled)
    if progress:
        progress(len(settled))
    return [(i, it) for i, it in batch if i not in settled], found


def has_tags(tag_lists: pa.Array | pa.ChunkedArray, tags: list[str]) -> np.ndarray:
    """Which lists of ``tag_lists`` hold every one of ``tags`` (a null list holds none)."""
    lists = tag_lists.combine_chunks() if isinstance(tag_lists, pa.ChunkedArray) else tag_lists
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy()
    held = np.ones(len(lists), dtype=bool)
    for tag in set(tags):
        hit = np.zeros(len(lists), dtype=bool)
        hit[parents[np.asarray(pc.fill_null(pc.equal(flat, tag), False), dtype=bool)]] = True
        held &= hit
    return held


def skip_known(
    state: IngestState,
    batch: list[tuple[int, UploadItem]],
    out: Ingested,
    cache: Any,
    fill_metadata: bool,
    tags: list[str],
    source: str | None,
    progress: Callable[[int], None] | None,
    known: dict[str, str] | None = None,
) -> list[tuple[int, UploadItem]]:
    """Settle the files of a batch the state cache knows (no read); return the (index, item) pairs
    still to read. ``known``: what the state cache already said of these files, if it was asked."""
    if known is None:
        keys = {it.path: it.stat for _, it in batch if it.path and it.stat} if cache is not None and not fill_metadata else {}
        known = cache.lookup(keys) if keys else {}
    if not known:
        return batch
    todo: list[tuple[int, UploadItem]] = []
    ts = now()
    skipped = 0
    for i, it in batch:
        sha = known.get(it.path) if it.path else None
        prev = state.latest.get(it.object_name) if sha else None
        if prev is None or prev["sha256"] != sha or prev["uri"] is not None or it.object_name in state.repeated:
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
        settle(out, i, decide(state, it, same, tags, source, ts))
        skipped += 1
    if progress and skipped:
        progress(skipped)
    return todo


def settle(out: Ingested, i: int, row: dict[str, Any]) -> None:
    out.ok += 1
    if out.rows is not None:
        out.rows[i] = row


def _process(
    store: Store,
    pending: list[tuple[list[tuple[int, UploadItem]], Future]],
    state: IngestState,
    objects_ds: lance.LanceDataset | None,
    writer: PendingWrites,
    out: Ingested,
    tags: list[str],
    source: str | None,
    error_manager: ErrorManager | None,
    progress: Callable[[int], None] | None,
    cache: StateCache | None,
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
    if cache is not None:
        # a cache of content hashes, true whether or not this call commits: recorded batch by batch
        cache.record(hashed_entries(ok))
    new_objs = dedupe(state, objects_ds, ok)
    ts = now()
    if new_objs:
        table = objects_table([(r["sha256"], r["size"], it.uri, r["content"] if it.uri is None else None) for it, r in new_objs], ts)
        state.objects_waiting_rows += len(new_objs)
        state.objects_waiting_bytes += sum(r["size"] for it, r in new_objs if it.uri is None)
        del new_objs
        for _, _, r in ok:
            r["content"] = None  # free memory early
        state.objects_waiting.append(table)
        del table
        flush_objects(store, state, writer)
    for i, it, r in ok:
        settle(out, i, decide(state, it, r, tags, source, ts))
    check_new_rows(state)


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


def hashed_entries(ok: list[tuple[int, UploadItem, dict[str, Any]]]) -> list[tuple[str, int, int, int, str]]:
    """State-cache entries of the files just hashed (not the racy ones: see RACY_NS)."""
    read_at = time.time_ns() - RACY_NS
    return [
        (it.path, it.stat[0], it.stat[1], it.stat[2], r["sha256"])
        for _, it, r in ok
        if it.path and it.stat and it.stat[2] < read_at and it.stat[1] == r["size"]
    ]


def dedupe(
    state: IngestState, objects_ds: lance.LanceDataset | None, ok: list[tuple[int, UploadItem, dict[str, Any]]]
) -> list[tuple[UploadItem, dict[str, Any]]]:
    """The (item, loaded) pairs that need a new object row: the first of each sha256 the lake lacks
    (with bytes for uploads, by reference for imports). One columnar query per batch, or one scan
    of the sha256 column for a large call."""
    state.load_all_shas(objects_ds, len(ok))
    uploads = sorted({r["sha256"] for _, it, r in ok if it.uri is None})
    if uploads and objects_ds is not None and not state.all_shas_loaded:
        asked = [h for h, seen in zip(uploads, state.blob_shas.contains(uploads)) if not seen]
        if asked:
            found = objects_ds.to_table(columns=["sha256"], filter=f"uri IS NULL AND {sql_in('sha256', asked)}")
            state.blob_shas.update(found["sha256"])
    refs = sorted({r["sha256"] for _, it, r in ok if it.uri is not None})
    if refs and objects_ds is not None and not state.all_shas_loaded:
        asked = [h for h, seen in zip(refs, state.has_any(refs)) if not seen]
        if asked:
            found = objects_ds.to_table(columns=["sha256", "uri"], filter=sql_in("sha256", asked))
            by_ref = pc.is_valid(found["uri"])
            state.blob_shas.update(found["sha256"].filter(pc.invert(by_ref)))
            state.ref_shas.update(found["sha256"].filter(by_ref))
    shas = [r["sha256"] for _, _, r in ok]
    has_blob = state.blob_shas.contains(shas)
    has_any = has_blob | state.ref_shas.contains(shas)
    new: list[tuple[UploadItem, dict[str, Any]]] = []
    seen_blob: set[str] = set()  # new in this batch (the sets are updated once, after)
    seen_any: set[str] = set()
    for (_, it, r), blob, any_ in zip(ok, has_blob.tolist(), has_any.tolist()):
        sha = r["sha256"]
        if it.uri is None and not blob and sha not in seen_blob:
            new.append((it, r))
            seen_blob.add(sha)
        elif it.uri is not None and not any_ and sha not in seen_any and sha not in seen_blob:
            new.append((it, r))
        seen_any.add(sha)
    state.blob_shas.update(sorted(seen_blob))
    state.ref_shas.update(sorted(seen_any - seen_blob))
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
    state.new_count += 1
    if it.object_name in state.repeated:
        state.held_new[row["id"]] = row  # a later item of the name may make it an earlier version
    else:
        state.new_rows.append(row)
    return row
