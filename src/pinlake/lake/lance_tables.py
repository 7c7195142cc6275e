"""The lake's Lance tables: schemas, opening, locking and committing.

Tables under the lake root:

- ``objects.lance``: content-addressed objects (sha256, size, uri, blob). Bytes live in a
  Lance blob column; objects imported by reference have ``uri`` set and no blob.
- ``data.lance``: one row per resource version (the "lake version" is this table's version).
- ``tags.lance`` / ``sources.lance``: tag and data source names.
- ``lake.json``: the lake's identity (``{"id": uuid}``), written under the write lock by the
  first write or lock of a lake without one. A lock records it, so a lake wiped and made again at the same
  root (its version numbers start again) is not taken for the one a lock was made from.

Lookups stay index lookups as the lake grows: the data table has Lance BTREE indexes on ``id``
and ``object_name``, the objects table on ``sha256`` (:data:`INDEXES`). An ingest creates them,
after its commit, once the table has ``INDEX_ROWS`` rows (below that a scan is as fast), and
brings them up to date once more than ``STALE_ROWS`` rows are not covered; rows appended since are
scanned as they are (Lance searches the index and the fragments it does not cover; thresholds and
costs: :mod:`pinlake.storage.lance_indexes`).
``pinlake maintain`` creates and updates them whatever the size. An index commit is a table
version of its own with the same rows: a kill before or during it leaves the lake as the ingest
committed it, and the next ingest or maintain builds it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lance
import pyarrow as pa
from lance import LanceOperation, Transaction

from pinlake.errors import StorageError, ValidationError, field_size_error, first_line, oversized_string
from pinlake.provenance import lineage_properties
from pinlake.storage import S3Path, is_remote, lance_dataset, location, mutex, storage_options, write_bytes_atomic
from pinlake.storage.lance_indexes import IndexKind, ensure_indexes
from pinlake.util.faults import commit_point
from pinlake.util.sqltext import sql_in, sql_str  # noqa: F401 - re-exported for the lake modules

log = logging.getLogger("pinlake.lake")

OBJECTS, DATA, TAGS, SOURCES = "objects", "data", "tags", "sources"
#: the lake's identity file under its root (module doc)
IDENTITY_FILE = "lake.json"
#: the table versions ``pinlake maintain`` made by compaction, for this lake identity:
#: ``{"lake_id": id, "tables": {table: [version, ...]}}`` (:meth:`Store.record_compactions`)
COMPACTIONS_FILE = "compactions.json"
#: versions kept per table in it (a refresh reads back at most 64 commits)
COMPACTIONS_KEPT = 256
_COMPACTIONS_HINT = (
    'It holds {"lake_id": "<the id in lake.json>", "tables": {"data": [<version>, ...]}}: the next '
    "refresh runs its recipe again where it would have read it, and `pinlake maintain` writes it anew."
)

TS = pa.timestamp("us", tz="UTC")

OBJECTS_SCHEMA = pa.schema(
    [
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size", pa.int64()),
        pa.field("uri", pa.string()),
        lance.blob_field("blob"),
        pa.field("created_at", TS),
    ]
)

DATA_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("object_name", pa.string(), nullable=False),
        pa.field("filename", pa.string()),
        pa.field("version", pa.int32()),
        pa.field("sha256", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("media_type", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("source", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("metadata", pa.string()),
        pa.field("uri", pa.string()),
        pa.field("created_at", TS),
        pa.field("is_latest", pa.bool_()),
    ]
)
DATA_COLUMNS = DATA_SCHEMA.names

NAMES_SCHEMA = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("created_at", TS)])

COMMIT_MESSAGE_KEY = "__lance_commit_message"

#: the lake's scalar indexes, {table: {index name: column}}: lookups by id (replaced rows), by
#: object name (the latest rows of an ingest's names) and by digest (dedupe, blob reads)
INDEXES = {DATA: {"id_idx": "id", "object_name_idx": "object_name"}, OBJECTS: {"sha256_idx": "sha256"}}


def now() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    """Opens and commits the lake tables. ``version`` pins the data table (read-only lake)."""

    def __init__(self, root: str | os.PathLike[str] | S3Path, version: int | None = None) -> None:
        self.root = str(root).rstrip("/")
        self.remote = is_remote(self.root)
        self.pinned_version = version
        self.storage_options = storage_options(self.root)
        #: (message, hint) when every write through this store is refused (see :meth:`check_writable`)
        self.read_only: tuple[str, str] | None = None
        self._lock: Any = None
        if self.remote:
            self._thread_lock = threading.RLock()  # one lease per Store, taken once however deep
            self._lease_depth = 0
        else:
            from filelock import FileLock

            self._lock = FileLock(str(Path(self.root) / ".lock"))

    def uri(self, table: str) -> str:
        return f"{self.root}/{table}.lance"

    def exists(self, table: str) -> bool:
        return (location(self.root) / f"{table}.lance" / "_versions").is_dir()

    def open(self, table: str, version: int | None = None) -> lance.LanceDataset:
        if table == DATA and version is None:
            version = self.pinned_version
        if version is None:
            return self.head(table)
        return lance.dataset(self.uri(table), version=version, storage_options=self.storage_options)

    def head(self, table: str) -> lance.LanceDataset:
        """The table's latest version (:func:`pinlake.storage.lance_dataset`: opened by number where
        Lance's hint tells it, so an open does not list the table's whole history)."""
        return lance_dataset(self.uri(table))

    def open_or_none(self, table: str, version: int | None = None) -> lance.LanceDataset | None:
        if not self.exists(table):
            return None
        return self.open(table, version)

    def identity(self) -> str | None:
        """The lake's id from :data:`IDENTITY_FILE` (module doc); None for a lake never written or
        locked since identities were recorded. Read each time (one small file): a lake wiped and
        made again under a long-running process gets its own."""
        try:
            found = json.loads(location(f"{self.root}/{IDENTITY_FILE}").read_text())["id"]
            if not isinstance(found, str) or not found:
                raise ValueError(f"id {found!r} is not a non-empty string")
            return found
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, IsADirectoryError) as exc:
            raise ValidationError(
                f"{self.root}/{IDENTITY_FILE}: not a lake identity ({exc})",
                hint='It holds {"id": "<uuid>"}; remove it and the next write records a new one.',
            ) from None

    def ensure_identity(self) -> str:
        """The lake's id, recorded first when it has none. Only under the write lock."""
        found = self.identity()
        if found is None:
            found = uuid.uuid4().hex
            write_bytes_atomic(location(f"{self.root}/{IDENTITY_FILE}"), (json.dumps({"id": found}) + "\n").encode())
            commit_point("lake identity")
        return found

    def record_compactions(self, versions: dict[str, int]) -> None:
        """Note that each ``versions[table]`` is a compaction of that table (the same rows as the
        version before it), in :data:`COMPACTIONS_FILE`: one write for all. Only under the write
        lock, right after the compactions: pylance 14 cannot read the record of a compaction that
        remapped the indexes of a table with deleted rows, so :meth:`compactions` is how a later
        refresh knows. A kill before the note costs that refresh a re-run of its recipe; a damaged
        file is written anew (with a warning)."""
        if not versions:
            return
        lake_id = self.ensure_identity()
        doc = self._compactions_doc()
        tables = dict(doc["tables"]) if doc.get("lake_id") == lake_id else {}
        for table, version in versions.items():
            tables[table] = sorted({*tables.get(table, []), version})[-COMPACTIONS_KEPT:]
        text = json.dumps({"lake_id": lake_id, "tables": tables}, sort_keys=True) + "\n"
        write_bytes_atomic(location(f"{self.root}/{COMPACTIONS_FILE}"), text.encode())
        commit_point("lake compaction recorded")

    def compactions(self, table: str) -> frozenset[int]:
        """The versions of ``table`` recorded as compactions (:meth:`record_compactions`) for this
        lake's identity; none for a file another lake left (wiped and made again at this root), or
        a damaged one (a warning: the note only saves a refresh its recipe run)."""
        doc = self._compactions_doc()
        lake_id = self.identity()
        if lake_id is None or doc.get("lake_id") != lake_id:
            return frozenset()
        return frozenset(doc["tables"].get(table, []))

    def _compactions_doc(self) -> dict[str, Any]:
        """:data:`COMPACTIONS_FILE` read and checked; {} when absent or damaged (warned in one line)."""
        path = f"{self.root}/{COMPACTIONS_FILE}"
        try:
            doc = json.loads(location(path).read_text())
        except FileNotFoundError:
            return {}
        except (ValueError, IsADirectoryError) as exc:
            log.warning("%s: not a record of compactions (%s), not used. %s", path, first_line(exc, 120), _COMPACTIONS_HINT)
            return {}
        tables = doc.get("tables") if isinstance(doc, dict) else None
        if not (
            isinstance(tables, dict)
            and isinstance(doc.get("lake_id"), str)
            and all(isinstance(v, list) and all(type(n) is int for n in v) for v in tables.values())
        ):
            log.warning("%s: not a record of compactions, not used. %s", path, _COMPACTIONS_HINT)
            return {}
        return doc

    def record_identity(self) -> str | None:
        """The lake's id, recorded first (under the write lock) when it has none, holds data, and
        this store may write (a lake last written before identities were recorded gets one at its
        next lock). None for an empty or absent lake (nothing is created), a pinned or read-only
        store, or storage that refuses the write (a read-only mount, credentials that cannot
        write): a lock without an identity is only no base for a later delta lock."""
        found = self.identity()
        if found is not None or self.read_only is not None or self.pinned_version is not None or not self.exists(DATA):
            return found
        try:
            with self.write_lock():
                return self.ensure_identity()
        except (OSError, StorageError) as exc:  # see the docstring: the lock goes on without one
            log.debug("lake %s: no identity recorded (%s)", self.root, exc)
            return None

    def check_writable(self) -> None:
        """Raise a ValidationError (why, and a hint) when this store is read-only."""
        if self.read_only is not None:
            raise ValidationError(self.read_only[0], hint=self.read_only[1])

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serialise check-then-write across processes: a file lock, or a lease object on S3 (re-entrant)."""
        self.check_writable()
        if self._lock is not None:
            Path(self.root).mkdir(parents=True, exist_ok=True)
            with self._lock:
                self.ensure_identity()
                yield
            return
        with self._thread_lock:
            if self._lease_depth:
                self._lease_depth += 1
                try:
                    yield
                finally:
                    self._lease_depth -= 1
                return
            with mutex(location(self.root) / ".lock", timeout=600):
                self._lease_depth = 1
                try:
                    self.ensure_identity()
                    yield
                finally:
                    self._lease_depth = 0

    # --- writes ----------------------------------------------------------------
    def write_fragments(self, table: str, data: pa.Table, schema: pa.Schema) -> list[Any]:
        """Write rows as fragments, invisible until :meth:`commit_fragments`."""
        self.check_writable()
        return list(lance.fragment.write_fragments(data, self.uri(table), schema=schema, storage_options=self.storage_options))

    def commit_fragments(self, table: str, fragments: list[Any], schema: pa.Schema, operation: str, **lineage: Any) -> lance.LanceDataset:
        """One commit appending ``fragments`` (creating the table if needed), with lineage."""
        self.check_writable()
        props = lineage_properties(operation, **lineage)
        props[COMMIT_MESSAGE_KEY] = f"pinlake {operation}"
        if self.exists(table):
            ds = self.head(table)
            txn = Transaction(ds.version, LanceOperation.Append(fragments), transaction_properties=props)
        else:
            txn = Transaction(0, LanceOperation.Overwrite(schema, fragments), transaction_properties=props)
        return lance.LanceDataset.commit(self.uri(table), txn, storage_options=self.storage_options)

    def append(self, table: str, rows: pa.Table, schema: pa.Schema, operation: str, **lineage: Any) -> lance.LanceDataset:
        self.check_writable()
        props = lineage_properties(operation, **lineage)
        mode = "append" if self.exists(table) else "create"
        return lance.write_dataset(
            rows.cast(schema) if rows.schema != schema else rows,
            self.uri(table),
            schema=schema,
            mode=mode,
            commit_message=f"pinlake {operation}",
            transaction_properties=props,
            storage_options=self.storage_options,
        )

    def upsert_data(self, rows: pa.Table) -> lance.LanceDataset:
        """Insert new data rows and replace changed ones by ``id`` in ONE commit (merge_insert).

        Only called under the write lock (concurrent merge_insert can duplicate keys).
        """
        self.check_writable()
        rows = rows.select(DATA_COLUMNS).cast(DATA_SCHEMA)
        if not self.exists(DATA):
            return self.append(DATA, rows, DATA_SCHEMA, "lake.upsert")
        ds = self.head(DATA)
        ds.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(rows)
        return ds  # at the version the merge committed

    def replace_rows(
        self, table: str, rows: pa.Table, fragments: list[Any], schema: pa.Schema, operation: str, **lineage: Any
    ) -> lance.LanceDataset:
        """ONE commit (a Lance Update) that replaces the table's rows having the ``id`` of ``rows``
        by ``rows`` (deletion files on their fragments, the new rows in a fragment of their own) and
        appends ``fragments`` (written by :meth:`write_fragments`). Only under the write lock."""
        self.check_writable()
        rows = rows.select(schema.names).cast(schema)
        ds = self.head(table)
        where = sql_in("id", rows["id"].to_pylist())
        hit = ds.to_table(columns=["id"], filter=where, with_row_address=True)
        updated, removed = [], []
        for fid in sorted({int(a) >> 32 for a in hit["_rowaddr"].to_pylist()}):
            frag = ds.get_fragment(fid)
            assert frag is not None
            meta = frag.delete(where)
            if meta is None:
                removed.append(fid)
            else:
                updated.append(meta)
        new = self.write_fragments(table, rows, schema) + list(fragments)
        props = lineage_properties(operation, **lineage)
        props[COMMIT_MESSAGE_KEY] = f"pinlake {operation}"
        op = LanceOperation.Update(removed_fragment_ids=removed, updated_fragments=updated, new_fragments=new)
        txn = Transaction(ds.version, op, transaction_properties=props)
        return lance.LanceDataset.commit(self.uri(table), txn, storage_options=self.storage_options)

    def index(self, table: str, min_rows: int | None = None, stale_rows: int | None = None) -> list[str]:
        """Create the table's missing :data:`INDEXES` once it has ``min_rows`` rows, and update those
        with more than ``stale_rows`` rows not covered (defaults and contract:
        :func:`pinlake.storage.lance_indexes.ensure_indexes`); the names of the indexes written.
        Only under the write lock."""
        if table not in INDEXES or not self.exists(table):
            return []
        self.check_writable()
        wanted: dict[str, tuple[str, IndexKind]] = {name: (column, "BTREE") for name, column in INDEXES[table].items()}
        return ensure_indexes(self.head(table), wanted, f"lake {table}", min_rows, stale_rows)

    def data_version(self) -> int:
        if self.pinned_version is not None:
            return self.pinned_version
        ds = self.open_or_none(DATA)
        return 0 if ds is None else ds.version


def lake_rows_table(rows: list[dict[str, Any]], schema: pa.Schema = DATA_SCHEMA) -> pa.Table:
    """Rows as an Arrow table; a string over PINLAKE_MAX_FIELD_BYTES (e.g. a processing's metadata) is refused."""
    table = pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)
    over = oversized_string(table)
    if over is not None:
        name = rows[over[1]].get("object_name") or rows[over[1]].get("name")
        raise field_size_error(f"lake row {over[1]} ({name!r})", over[0], over[2])
    return table
