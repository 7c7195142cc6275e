"""Lance table I/O for datasets: fragment writes with one commit, pinned opens, id filters.

Every commit carries the write's lineage as Lance ``transaction_properties`` (and a commit message
under ``lance.commit.message``), so a table read on its own still tells where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

import lance
import pyarrow as pa
from lance.fragment import FragmentMetadata

from pinlake.errors import NotFoundError, first_line
from pinlake.storage import AnyPath, lance_commit, lance_dataset, lance_write_fragments, location, read_transaction
from pinlake.storage.lance_indexes import IndexKind, ensure_indexes
from pinlake.util.faults import commit_point
from pinlake.util.sqltext import sql_in
from pinlake.util.write_behind import PendingWrites, WriteBehind

DB_DIR = "db"


def table_uri(dataset_path: AnyPath | str, table: str) -> str:
    return str(location(dataset_path) / DB_DIR / f"{table}.lance")


def table_exists(dataset_path: AnyPath | str, table: str) -> bool:
    return (location(dataset_path) / DB_DIR / f"{table}.lance" / "_versions").is_dir()


#: scan options that keep a long scan's memory flat: Lance reads two batches ahead of its reader, one
#: fragment at a time (its defaults read far ahead while a slow consumer, a DuckDB join, catches up:
#: +74 MB against +28 MB over 14 scans of a 700k-row mask table, and no slower)
LOW_MEMORY_SCAN = {"batch_readahead": 2, "fragment_readahead": 1}


def open_table(dataset_path: AnyPath | str, table: str, version: int | None = None, *, low_memory: bool = False) -> lance.LanceDataset:
    """The Lance dataset of ``table`` at ``version``; ``low_memory`` makes its scans read little ahead
    (:data:`LOW_MEMORY_SCAN`), for a scan that feeds a slower consumer."""
    uri = table_uri(dataset_path, table)
    try:
        if low_memory:
            return lance_dataset(uri, version=version, default_scan_options=dict(LOW_MEMORY_SCAN))
        return lance_dataset(uri, version=version)
    except (ValueError, OSError) as exc:
        gone = "not found" in str(exc).lower()
        detail = "it was removed by cleanup" if gone else first_line(exc, None)
        raise NotFoundError(
            f"table {table!r} of dataset {location(dataset_path).name!r} has no version {version} ({detail})",
            hint="Versions removed by `pinlake cleanup` cannot be read; try `pinlake versions` for those that remain.",
        ) from None


def tables_size(dataset_path: AnyPath | str, tables: dict[str, int]) -> int:
    """Bytes of the data files that the given table versions read (each Lance manifest's
    ``total_files_size``: this state's data, not the history kept for time travel)."""
    total = 0
    for table, version in tables.items():
        meta = open_table(dataset_path, table, version).get_version().get("metadata") or {}
        total += int(meta.get("total_files_size", 0))
    return total


def table_indexes(schema: pa.Schema) -> dict[str, tuple[str, IndexKind]]:
    """The scalar indexes a dataset table gets ({name: (column, kind)}): a BTREE on ``id`` and on
    ``item_ref.id`` where the table has them (the lookups by id of an item read, an annotation
    save, a CRUD write, the preview). No BITMAP on ``split``: a page of a split's rows stops its
    scan at the page, and the bitmap made it 3× slower at a million rows (bench/NOTES.md)."""
    out: dict[str, tuple[str, IndexKind]] = {}
    if "id" in schema.names:
        out["id_idx"] = ("id", "BTREE")
    ref = schema.field("item_ref").type if "item_ref" in schema.names else None
    if isinstance(ref, pa.StructType) and ref.get_field_index("id") >= 0:
        out["item_ref_id_idx"] = ("item_ref.id", "BTREE")
    return out


def restores(head: lance.LanceDataset, version: int) -> bool:
    """Whether the table's ``head`` is a Lance restore of ``version`` (the same rows: what
    :meth:`pinlake.datasets.versions.VersionLog.write_bases` leaves after rolling back a write no
    log entry names)."""
    tx = read_transaction(head, head.version)
    return tx is not None and isinstance(tx.operation, lance.LanceOperation.Restore) and tx.operation.version == version


def index_tables(
    dataset_path: AnyPath | str, tables: dict[str, int], min_rows: int | None = None, stale_rows: int | None = None
) -> dict[str, int]:
    """``tables`` ({table: version}) after the indexes of those at their head are made or brought up
    to date (:func:`table_indexes`, thresholds of :func:`pinlake.storage.lance_indexes.ensure_indexes`):
    an index commit is a new table version with the same rows, which the caller's version names.
    A head that is a restore of the named version (a write rolled back) is indexed as that version.
    An index that cannot be written is left for a later write or ``pinlake maintain`` (a warning):
    the version is named without it. Called under the dataset's write lock, before its version-log
    commit."""
    out = dict(tables)
    for table, version in tables.items():
        ds = lance_dataset(table_uri(dataset_path, table))
        if ds.version != version and not restores(ds, version):
            continue
        if ensure_indexes(ds, table_indexes(ds.schema), f"table {table}", min_rows, stale_rows):
            out[table] = ds.version
    return out


def id_filter(ids: Sequence[str], column: str = "id") -> str:
    return sql_in(column, ids)


#: rows, and bytes, a writer gathers before writing them as one fragment. A build flushes every
#: 1,024 samples; one fragment a flush left a 1M-row table in 977 fragments, and a random take of
#: 100 rows from it read each column of each fragment touched: ≈ 4× the take of fewer, larger
#: fragments (bench/NOTES.md). The bytes bound keeps a writer's held rows small when rows carry
#: image bytes.
FRAGMENT_ROWS = 1 << 17
FRAGMENT_BYTES = 16 << 20
#: the Lance file format of the fragments a writer writes. pylance 14 writes 2.2 by default, whose
#: random reads are ≈ 3× slower than 2.1's here: a take of 100 rows of a 1M-row image table 55 ms
#: against 17 ms, a page of 50 rows at offset 500,000 17.6 against 2.6 ms; scans 0.55 against
#: 0.67 s, files 105 against 113 MB (bench/NOTES.md). A table's fragments may mix the two: Lance
#: reads each file in its own format.
FILE_VERSION = "2.1"


class TableWriter:
    """Write Arrow batches into a Lance table as uncommitted fragments, then commit once.

    ``mode``: "create" (the table must not exist), "overwrite" (new version replacing the rows),
    "append". With ``writes`` (a :class:`~pinlake.util.write_behind.WriteBehind` shared by a build's
    writers) each batch is written on that background thread while the caller builds the next one;
    without, in the caller's thread. Nothing is visible until :meth:`commit`; :meth:`finish` returns
    the fragments without committing (a shard hands them to its coordinator); after an error call
    :meth:`abort`. A writer that is dropped leaves only unreferenced data files, which Lance's
    cleanup removes. Small batches are gathered up to :data:`FRAGMENT_ROWS` rows or
    :data:`FRAGMENT_BYTES` bytes and written as one fragment.
    """

    def __init__(
        self,
        dataset_path: AnyPath | str,
        table: str,
        schema: pa.Schema,
        mode: str = "append",
        base_version: int | None = None,
        writes: WriteBehind | None = None,
    ):
        self.dataset_path = location(dataset_path)
        self.table = table
        self.uri = table_uri(dataset_path, table)
        self.schema = schema
        self.exists = table_exists(dataset_path, table)
        if mode == "append" and not self.exists:
            mode = "create"
        self.mode = mode
        self.base_version = base_version
        #: fragments to commit: those written by this writer (after :meth:`finish`) and any added
        self.fragments: list[FragmentMetadata] = []
        self.rows = 0
        self._pending = PendingWrites(writes) if writes is not None else None
        #: batches held until they make a fragment of :data:`FRAGMENT_ROWS` rows or :data:`FRAGMENT_BYTES`
        self._held: list[pa.Table] = []
        self._held_rows = 0
        self._held_bytes = 0

    def _write_fragments(self, batch: pa.Table) -> list[FragmentMetadata]:
        return lance_write_fragments(batch, self.uri, schema=self.schema, max_rows_per_file=1 << 20, data_storage_version=FILE_VERSION)

    def write(self, batch: pa.Table) -> None:
        if batch.num_rows == 0:
            return
        batch = batch.select(self.schema.names).cast(self.schema) if batch.schema != self.schema else batch
        self._held.append(batch)
        self._held_rows += batch.num_rows
        self._held_bytes += batch.nbytes
        self.rows += batch.num_rows
        if self._held_rows >= FRAGMENT_ROWS or self._held_bytes >= FRAGMENT_BYTES:
            self._write_held()

    def _write_held(self) -> None:
        """Write the held batches as one fragment (on the write-behind thread when there is one)."""
        if not self._held:
            return
        data = pa.concat_tables(self._held) if len(self._held) > 1 else self._held[0]
        self._held, self._held_rows, self._held_bytes = [], 0, 0
        if self._pending is None:
            self.fragments.extend(self._write_fragments(data))
        else:
            self._pending.add(self._write_fragments, data)

    def finish(self) -> list[FragmentMetadata]:
        """Wait for the rows written so far to be on storage; every fragment to commit, in order."""
        self._write_held()
        if self._pending is not None:
            self.fragments.extend(self._pending.results())
        return self.fragments

    def abort(self) -> None:
        """After an error elsewhere: drop the held rows and the writes not started, wait for the running one."""
        self._held, self._held_rows, self._held_bytes = [], 0, 0
        if self._pending is not None:
            self._pending.cancel()

    def commit(self, properties: dict[str, str], message: str) -> int:
        """Commit every fragment written so far as one new table version; returns it."""
        self.finish()
        props = {**properties, "lance.commit.message": message}
        if self.mode in ("create", "overwrite") or not self.exists:
            read_version = 0
            if self.exists:
                read_version = lance_dataset(self.uri).version
            op: lance.LanceOperation.BaseOperation = lance.LanceOperation.Overwrite(self.schema, self.fragments)
        else:
            read_version = self.base_version if self.base_version is not None else lance_dataset(self.uri).version
            op = lance.LanceOperation.Append(self.fragments)
        tx = lance.Transaction(read_version=read_version, operation=op, transaction_properties=props)
        ds = lance_commit(self.uri, tx)
        commit_point(f"table {self.table}")
        return ds.version


def write_table(dataset_path: AnyPath | str, table: str, data: pa.Table, mode: str, properties: dict[str, str], message: str) -> int:
    writer = TableWriter(dataset_path, table, data.schema, mode=mode)
    try:
        writer.write(data)
        return writer.commit(properties, message)
    finally:
        writer.abort()
