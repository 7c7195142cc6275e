"""The lineage catalog: append-only Lance tables under ``<library>/_catalog/``.

Tables (one ``<name>.lance`` each):

- ``versions``: one row per version of every Lance table under the library (datasets' ``db/*``
  tables, their ``_versions`` logs, the lake's tables), keyed by (dataset, table, version), with
  timestamp, operation, rows, schema hash and the lineage properties its commit carries.
- ``dataset_versions``: one row per dataset version (the version-log entries).
- ``members``: (dataset, dataset_version, table, version): which table versions a dataset version names.
- ``tags``, ``pins``, ``consumers``, ``cleanups``: tags, registered pins.yaml entries, reads by
  training runs, and retention runs.
- ``checks``: one row per quality check run on a dataset version (status, value, threshold, run).
- ``publications``: the channel events of a dataset (write–audit–publish, see
  :mod:`pinlake.library.publish`): ``gated``/``ungated`` when a refresh starts or stops gating it on a
  channel, ``published``/``quarantined`` for each audited version (forced publishes with their
  reason), numbered per dataset (``seq``) under the catalog lock. A channel's version is its
  ``published`` row with the highest ``seq``.

Every append takes ``<library>/_catalog/.lock`` (a file lock; a lease object on S3, see
:mod:`pinlake.storage`) and dedupes by key inside it, so
several writers at once never duplicate or lose rows. Rows are never updated: derived flags
(orphan, removed) are computed when reading.

Reads by dataset stay cheap as the history grows: an append reads only the keys of the dataset and
versions it appends, and a table gets Lance BTREE indexes on ``dataset`` and on its key's version
number when its fragments are merged: by an append (every ``CATALOG_FRAGMENTS`` appends) once it
has ``INDEX_ROWS`` rows, by ``pinlake maintain`` whatever its size. Each later merge brings the
indexes up to date; rows appended since are scanned as they are. The key read asks the index of the
version number alone (the rows of a few version numbers, across datasets) and keeps the dataset's
rows after: the ``dataset`` index would give every row of the dataset, a set that grows with its
history. The merge of an append leaves fragments of ``FRAGMENT_ROWS`` rows or more alone, so it
rewrites the recent rows only, not the whole table. Reads in one process share a Lance session
(:func:`catalog_session`): index pages and manifests are not read again at each append.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pinlake.layout import CATALOG_DIR
from pinlake.storage import AnyPath, lance_append, lance_dataset, lance_write, location, mutex
from pinlake.util.faults import commit_point
from pinlake.util.sqltext import sql_str

_TS = pa.timestamp("us")
LINEAGE_COLUMNS = ("run_id", "flow_run_id", "lock_hash", "lake_version", "recipe_hash", "code_version", "user")

SCHEMAS: dict[str, pa.Schema] = {
    "versions": pa.schema(
        [
            ("dataset", pa.string()),
            ("table", pa.string()),
            ("version", pa.int64()),
            ("timestamp", _TS),
            ("operation", pa.string()),
            ("rows", pa.int64()),
            ("schema_hash", pa.string()),
            ("message", pa.string()),
            *[(c, pa.string()) for c in LINEAGE_COLUMNS],
            ("lineage", pa.string()),
            ("catalogued_at", _TS),
        ]
    ),
    "dataset_versions": pa.schema(
        [
            ("dataset", pa.string()),
            ("dataset_version", pa.int64()),
            ("created_at", _TS),
            ("operation", pa.string()),
            ("tables", pa.string()),
            ("rows", pa.string()),
            ("message", pa.string()),
            *[(c, pa.string()) for c in LINEAGE_COLUMNS],
            ("lineage", pa.string()),
        ]
    ),
    "members": pa.schema([("dataset", pa.string()), ("dataset_version", pa.int64()), ("table", pa.string()), ("version", pa.int64())]),
    "tags": pa.schema(
        [
            ("dataset", pa.string()),
            ("name", pa.string()),
            ("dataset_version", pa.int64()),
            ("tables", pa.string()),
            ("created_at", _TS),
            ("user", pa.string()),
        ]
    ),
    "pins": pa.schema(
        [
            ("dataset", pa.string()),
            ("dataset_version", pa.int64()),
            ("tables", pa.string()),
            ("pin_file", pa.string()),
            ("hashes", pa.string()),
            ("created_at", _TS),
        ]
    ),
    "consumers": pa.schema(
        [
            ("dataset", pa.string()),
            ("dataset_version", pa.int64()),
            ("pin", pa.string()),
            ("run", pa.string()),
            ("tables", pa.string()),
            ("used_at", _TS),
            ("user", pa.string()),
            ("host", pa.string()),
        ]
    ),
    "checks": pa.schema(
        [
            ("dataset", pa.string()),
            ("dataset_version", pa.int64()),
            ("name", pa.string()),  # the check
            ("status", pa.string()),
            ("value", pa.string()),  # JSON
            ("threshold", pa.string()),  # JSON
            ("message", pa.string()),
            ("blocking", pa.bool_()),
            ("channel", pa.string()),
            ("run_id", pa.string()),
            ("flow_run_id", pa.string()),
            ("checked_at", _TS),
        ]
    ),
    "publications": pa.schema(
        [
            ("dataset", pa.string()),
            ("seq", pa.int64()),  # the dataset's event order, given under the catalog lock (clocks may differ)
            ("channel", pa.string()),
            ("event", pa.string()),  # gated | ungated | published | quarantined
            ("dataset_version", pa.int64()),
            ("forced", pa.bool_()),
            ("reason", pa.string()),
            ("failed", pa.string()),  # JSON list of the blocking checks
            ("checks_hash", pa.string()),
            ("run_id", pa.string()),
            ("flow_run_id", pa.string()),
            ("user", pa.string()),
            ("decided_at", _TS),
        ]
    ),
    "cleanups": pa.schema(
        [
            ("dataset", pa.string()),
            ("table", pa.string()),
            ("cutoff", _TS),
            ("older_than", pa.string()),
            ("removed", pa.string()),
            ("kept", pa.string()),
            ("bytes_removed", pa.int64()),
            ("cleaned_at", _TS),
            ("user", pa.string()),
        ]
    ),
}

KEYS: dict[str, tuple[str, ...]] = {
    "versions": ("dataset", "table", "version"),
    "dataset_versions": ("dataset", "dataset_version"),
    "members": ("dataset", "dataset_version", "table"),
    "tags": ("dataset", "name"),
}


#: fragments of a catalog table before an append compacts it (Lance ``compact_files``)
CATALOG_FRAGMENTS = 32
#: the fragment size an append's merge aims at; bigger fragments are left as they are
FRAGMENT_ROWS = 8192
#: bytes of index pages and of manifests kept by this process's catalog session, each
SESSION_BYTES = 32 << 20
#: rows of a catalog table from which it gets its BTREE indexes (module doc)
INDEX_ROWS = 1_000
INDEX_NAME = "dataset_idx"


def index_columns(table: str) -> dict[str, str]:
    """{index name: column} of a catalog table: ``dataset``, and the version number of its key
    (``version`` or ``dataset_version``), so that a read of a few versions of one dataset is an
    index lookup even when the catalog holds one dataset only."""
    out = {INDEX_NAME: "dataset"}
    for column in ("version", "dataset_version"):
        if column in KEYS.get(table, ()):
            out[f"{column}_idx"] = column
    return out


def mergeable(fragments: Sequence[Any]) -> int:
    """Fragments under FRAGMENT_ROWS rows next to another such: what Lance's merge rewrites (it
    leaves a small fragment alone between full ones, so those do not count)."""
    small = [f.metadata.physical_rows < FRAGMENT_ROWS for f in fragments]
    return sum(s and ((i > 0 and small[i - 1]) or (i + 1 < len(small) and small[i + 1])) for i, s in enumerate(small))


_session: tuple[int, Any] | None = None


def catalog_session() -> Any:
    """This process's Lance session for catalog reads: the files a table version names never change,
    so their cached pages stay right whatever is appended later (a forked child makes its own)."""
    global _session
    if _session is None or _session[0] != os.getpid():
        import lance

        _session = (os.getpid(), lance.Session(index_cache_size_bytes=SESSION_BYTES, metadata_cache_size_bytes=SESSION_BYTES))
    return _session[1]


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


class Catalog:
    """The catalog of the library at ``library_path``."""

    def __init__(self, library_path: AnyPath | str) -> None:
        self.library_path = location(library_path)
        self.path = self.library_path / CATALOG_DIR

    def uri(self, table: str) -> str:
        return str(self.path / f"{table}.lance")

    def exists(self, table: str) -> bool:
        return (self.path / f"{table}.lance" / "_versions").is_dir()

    def init(self) -> Catalog:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    @contextmanager
    def locked(self, timeout: float = 600) -> Iterator[None]:
        """Serialise catalog appends (the dedupe read happens inside)."""
        self.init()
        with mutex(self.path / ".lock", timeout=timeout):
            yield

    # --- reads ---------------------------------------------------------------------
    def read(self, table: str, filter: str | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        """A catalog table (empty with its schema if never written)."""
        schema = SCHEMAS[table]
        if not self.exists(table):
            empty = schema.empty_table()
            return empty.select(list(columns)) if columns else empty
        ds = lance_dataset(self.uri(table), session=catalog_session())
        return ds.to_table(columns=list(columns) if columns else None, filter=filter)

    def dataset_ref(self, table: str) -> Any:
        """A scannable snapshot of a catalog table (a Lance dataset, or an empty Arrow table)."""
        if not self.exists(table):
            return SCHEMAS[table].empty_table()
        return lance_dataset(self.uri(table))

    def keys(
        self, table: str, dataset: str | None = None, dataset_versions: Sequence[int] | None = None, versions: Sequence[int] | None = None
    ) -> set[tuple[Any, ...]]:
        """The keys of ``table``'s rows (of one dataset; of some of its dataset versions, or of some
        table ``versions`` for a table keyed by them)."""
        key = KEYS[table]
        filt = None
        for column, numbers in (("dataset_version", dataset_versions), ("version", versions)):
            if numbers is None or column not in key:
                continue
            within = f"{column} IN ({', '.join(str(int(v)) for v in sorted(set(numbers)))})" if numbers else "false"
            filt = f"{filt} AND {within}" if filt else within
        if filt is None:  # every key of the dataset (or of the table)
            data = self.read(table, filter=f"dataset = {sql_str(dataset)}" if dataset is not None else None, columns=list(key))
        else:  # the rows of these numbers (by their index) across datasets, then the dataset's
            data = self.read(table, filter=filt, columns=list(key))
            if dataset is not None:
                data = data.filter(pc.equal(data.column("dataset"), dataset))
        cols = [data.column(k).to_pylist() for k in key]
        return set(zip(*cols)) if cols else set()

    # --- appends ---------------------------------------------------------------------
    def append(self, table: str, rows: list[dict[str, Any]], *, dedupe: bool = True, lock: bool = True) -> int:
        """Append ``rows`` to a catalog table; rows whose key is already there are skipped.

        Takes the catalog lock unless the caller holds it (``lock=False``). Returns rows written.
        """
        if not rows:
            return 0
        if lock:
            with self.locked():
                return self._append(table, rows, dedupe)
        return self._append(table, rows, dedupe)

    def _append(self, table: str, rows: list[dict[str, Any]], dedupe: bool) -> int:
        schema = SCHEMAS[table]
        if dedupe and table in KEYS:
            key = KEYS[table]
            datasets = {r["dataset"] for r in rows}
            seen: set[tuple[Any, ...]] = set()
            for d in datasets:
                # rows of some dataset versions (or table versions): only their keys are read
                mine = [r for r in rows if r["dataset"] == d]
                numbers = [r["dataset_version"] for r in mine] if "dataset_version" in key else None
                seen |= self.keys(table, d, numbers, [r["version"] for r in mine] if "version" in key else None)
            fresh = []
            for r in rows:
                k = tuple(r[c] for c in key)
                if k not in seen:
                    seen.add(k)
                    fresh.append(r)
            rows = fresh
        if not rows:
            return 0
        data = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
        self.init()
        message = f"catalog: {len(rows)} rows"
        if self.exists(table):
            written = lance_append(self.uri(table), data, commit_message=message)
        else:
            written = lance_write(data, self.uri(table), mode="create", commit_message=message)
        commit_point(f"catalog {table}")
        if mergeable(written.get_fragments()) > CATALOG_FRAGMENTS:
            # every append adds a fragment: those under FRAGMENT_ROWS rows are merged every
            # CATALOG_FRAGMENTS appends (full ones are not counted, nor rewritten), so neither the
            # next append nor a read of the catalog slows down as the history grows
            merged = written.optimize.compact_files(target_rows_per_fragment=FRAGMENT_ROWS)
            commit_point(f"catalog {table} compacted")
            if merged.fragments_removed:
                self.index(table)
        return len(rows)

    def index(self, table: str, min_rows: int | None = None) -> bool:
        """Create the indexes of a table (:func:`index_columns`) once it has at least ``min_rows``
        rows (default ``INDEX_ROWS``), or bring those it has up to date (call with the catalog lock
        held); True when it wrote one."""
        if not self.exists(table):
            return False
        ds = lance_dataset(self.uri(table))
        have = {ix.name for ix in ds.describe_indices()}
        wanted = index_columns(table)
        if have & wanted.keys():
            ds.optimize.optimize_indices(index_names=sorted(have & wanted.keys()))
            ds = lance_dataset(self.uri(table))
        missing = {name: column for name, column in wanted.items() if name not in have}
        if missing and ds.count_rows() >= max(1, INDEX_ROWS if min_rows is None else min_rows):
            for name, column in missing.items():
                ds.create_scalar_index(column, "BTREE", name=name)
        elif not have & wanted.keys():
            return False
        commit_point(f"catalog {table} indexed")
        return True
