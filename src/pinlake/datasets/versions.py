"""The dataset version log: the commit point of every multi-table write.

Each build or batch of CRUD writes ends by appending one entry to ``<dataset>/_versions.lance``:
``{dataset_version, created_at, operation, tables: {table: lance_version}, rows: {table: n},
lineage: {...}}``. Readers open a dataset version through this log, so table versions that no
entry names (leftovers of a crashed write) are never seen.

A version is self-contained: the files that describe it (``info.json`` with its media root,
``schema.json``, ``features_values.json``, ``stats.json``, ``preview.png``) are written to
``<dataset>/_meta/<N>/`` BEFORE its entry is committed, and read from there for version N. The
files at the dataset's top level are a cache of the latest version's, rewritten (one atomic file at
a time) only after the commit: a failed or killed write changes nothing a reader of any committed
version sees. ``_meta/<N>/`` of a number that never committed is a leftover; the next writer, which
takes the same number, clears it first. Versions logged before ``_meta/`` existed read the top level.

The log itself is a Lance table. Writers of a dataset are serialised by :func:`pinlake.storage.mutex`
on ``<parent>/.<dataset>.lock`` beside the dataset's directory, so removing a failed create's
directory never removes a lock another writer waits on (a file lock locally, a lease object on S3). Each entry is committed as ONE
Lance ``Overwrite`` transaction whose read version is the log version the writer read its last
entry number from: Lance refuses it if any other entry was committed since (on S3 through a
conditional PUT of the manifest), so even a writer whose lease lapsed can never commit a duplicate
number or lose another's entry. The transaction lists the log's existing fragments (their files
untouched) plus one new fragment holding the new row, so an append costs the same at the
10,000th entry as at the 10th; every :data:`LOG_FRAGMENTS` appends it writes all rows into one
fragment instead. Numbers stay dense and increasing; earlier log versions remain in the Lance
history.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import lance
import pyarrow as pa
import pyarrow.compute as pc

from pinlake.catalog.sync import decode_log, on_version_logged
from pinlake.datasets.tables import index_tables, restores, table_uri, tables_size
from pinlake.errors import BuildError, NotFoundError
from pinlake.layout import LOG_NAME, META_DIR
from pinlake.storage import AnyPath, lance_commit, lance_dataset, lance_write_fragments, location, mutex, rmtree, write_bytes_atomic
from pinlake.util.clock import utcnow
from pinlake.util.faults import commit_point

#: the files that describe one dataset version (see the module doc)
VERSION_FILES = ("info.json", "schema.json", "features_values.json", "stats.json", "preview.png", ".preview.png.key", "summary.json")
#: what a listing of datasets shows of a version, written by every append (:func:`summary_of`)
SUMMARY = "summary.json"
#: the files a new version takes from the previous one unless it is given its own
INHERITED_FILES = ("info.json", "schema.json")
#: fragments of the log before an append writes all its rows into one again: an append writes one
#: row and names the earlier fragments (O(1)); every LOG_FRAGMENTS appends, one rewrite (O(N))
LOG_FRAGMENTS = 64
#: a log fragment of at most this many rows is read whole for its newest entry (:meth:`VersionLog._newest_row`)
SMALL_FRAGMENT = 16
LOG_SCHEMA = pa.schema(
    [
        pa.field("dataset_version", pa.int64()),
        pa.field("created_at", pa.timestamp("us")),
        pa.field("operation", pa.string()),
        pa.field("tables", pa.string()),  # JSON {table: lance version}
        pa.field("rows", pa.string()),  # JSON {table: row count}
        pa.field("lineage", pa.string()),  # JSON {key: value}
        pa.field("message", pa.string()),
    ]
)


@dataclass(frozen=True)
class DatasetVersion:
    """One consistent state of a dataset: a table version for each table."""

    dataset_version: int
    created_at: datetime
    operation: str
    tables: dict[str, int]
    rows: dict[str, int] = field(default_factory=dict)
    lineage: dict[str, str] = field(default_factory=dict)
    message: str = ""

    @property
    def lock_hash(self) -> str:
        return self.lineage.get("pinlake.lock_hash", "")

    @property
    def run_id(self) -> str:
        return self.lineage.get("pinlake.run_id", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_version": self.dataset_version,
            "created_at": self.created_at.isoformat(),
            "operation": self.operation,
            "tables": self.tables,
            "rows": self.rows,
            "lineage": self.lineage,
            "message": self.message,
        }


def summary_of(entry: DatasetVersion, info: bytes | None, size: int) -> bytes:
    """A version's ``summary.json``: its number, time, operation, rows, size in bytes and the
    dataset's title and description (from its info.json), all a listing of datasets needs."""
    meta = json.loads(info) if info else {}
    summary = {
        "dataset_version": entry.dataset_version,
        "created_at": entry.created_at.isoformat(),
        "operation": entry.operation,
        "rows": entry.rows,
        "num_items": entry.rows.get("item", 0),
        "size_bytes": size,
        "id": meta.get("id", ""),
        "title": meta.get("name", ""),
        "description": meta.get("description", ""),
    }
    return (json.dumps(summary, indent=2) + "\n").encode()


class VersionLog:
    """Read and append the version log of the dataset at ``path``."""

    def __init__(self, dataset_path: AnyPath | str) -> None:
        self.dataset_path = location(dataset_path)
        self.uri = str(self.dataset_path / LOG_NAME)

    def exists(self) -> bool:
        """The log has a committed version (a dataset directory without one is incomplete)."""
        return (self.dataset_path / LOG_NAME / "_versions").is_dir()

    @property
    def mutex_path(self) -> AnyPath:
        return self.dataset_path.parent / f".{self.dataset_path.name}.lock"

    @contextmanager
    def locked(self, timeout: float = 600) -> Iterator[None]:
        """Serialise writers of this dataset (a file lock locally, a lease object on S3)."""
        with mutex(self.mutex_path, timeout=timeout):
            yield

    # --- per-version files ----------------------------------------------------------
    def meta_dir(self, version: int) -> AnyPath:
        return self.dataset_path / META_DIR / str(version)

    def version_file(self, version: int, name: str) -> AnyPath | None:
        """Where ``name`` (one of VERSION_FILES) of ``version`` is, or None when that version has none.
        A version logged before per-version files existed reads the top-level file."""
        own = self.meta_dir(version) / name
        if own.is_file():
            return own
        if (self.meta_dir(version) / "info.json").is_file():
            return None
        top = self.dataset_path / name
        return top if top.is_file() else None

    def _stage(self, number: int, previous: int | None, files: Mapping[str, bytes]) -> None:
        """Write version ``number``'s files before its commit (inherited ones from ``previous``)."""
        meta = self.meta_dir(number)
        rmtree(meta)  # a leftover of an attempt at this number that never committed
        meta.mkdir(parents=True, exist_ok=True)
        for name in INHERITED_FILES:
            if name not in files and previous is not None:
                src = self.version_file(previous, name)
                if src is not None:
                    write_bytes_atomic(meta / name, src.read_bytes())
        for name, data in files.items():
            if name not in VERSION_FILES:
                raise ValueError(f"{name!r} is not a version file ({', '.join(VERSION_FILES)})")
            write_bytes_atomic(meta / name, data)
        commit_point("staged version files")

    def publish_cache(self, version: int) -> None:
        """Make the top-level files a copy of ``version``'s (call after its commit, with the lock held)."""
        for name in VERSION_FILES:
            src = self.version_file(version, name)
            top = self.dataset_path / name
            if src is None:
                top.unlink(missing_ok=True)
            elif src != top:
                write_bytes_atomic(top, src.read_bytes())
            commit_point(f"cache {name}")

    def write_version_files(self, version: int, files: Mapping[str, bytes]) -> None:
        """Add files computed later (stats, preview) to an already committed version; the top-level
        copies follow when ``version`` is the latest (one read of the log for all of them)."""
        bad = [n for n in files if n not in VERSION_FILES]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a version file ({', '.join(VERSION_FILES)})")
        meta = self.meta_dir(version)
        own = (meta / "info.json").is_file()
        latest = self.latest()
        for name, data in files.items():
            if own:
                write_bytes_atomic(meta / name, data)
                commit_point(f"version file {name}")
            if latest is None or latest.dataset_version == version:
                write_bytes_atomic(self.dataset_path / name, data)

    # --- writers' base ------------------------------------------------------------------
    def write_bases(self, state: DatasetVersion | None) -> dict[str, int]:
        """For each table of ``state``: the table version a write must be based on to see exactly that
        state. Table versions no log entry names (a crashed or failed write) are rolled back with a
        Lance restore (a new version); the head is then the base, so later updates and deletes are
        never refused as concurrent with the restore. A head that already is such a restore is reused
        (no new version)."""
        bases: dict[str, int] = {}
        for table, version in state.tables.items() if state is not None else ():
            uri = table_uri(self.dataset_path, table)
            head = lance_dataset(uri)
            if head.version != version and not restores(head, version):
                lance_dataset(uri, version=version).restore()
                commit_point(f"restore {table}")
                head = lance_dataset(uri)
            bases[table] = head.version
        return bases

    def _open(self) -> lance.LanceDataset | None:
        return lance_dataset(self.uri) if self.exists() else None

    def entries(self) -> list[DatasetVersion]:
        ds = self._open()
        return [] if ds is None else self._entries(ds.to_table())

    @staticmethod
    def _entries(table: pa.Table) -> list[DatasetVersion]:
        return [DatasetVersion(**e) for e in decode_log(table)]

    @staticmethod
    def _newest_row(ds: lance.LanceDataset) -> pa.Table | None:
        """The newest entry's row, or None for an empty log. Entries are appended in number order
        and each append lists the earlier fragments first, so it is in the last fragment with rows:
        one small fragment read (the whole log only right after a rewrite), not every fragment's."""
        for fragment in reversed(ds.get_fragments()):
            if fragment.metadata.physical_rows <= SMALL_FRAGMENT:  # an append's own fragment: one read of all of it
                rows = fragment.to_table()
                numbers = rows.column("dataset_version")
            else:
                rows = None
                numbers = fragment.to_table(columns=["dataset_version"]).column(0)
            if len(numbers):
                at = pc.index(numbers, pc.max(numbers)).as_py()
                return rows.slice(at, 1) if rows is not None else fragment.to_table(offset=at, limit=1)
        return None

    def latest(self) -> DatasetVersion | None:
        """The newest entry (:meth:`_newest_row`, decoded)."""
        ds = self._open()
        row = self._newest_row(ds) if ds is not None else None
        return self._entries(row)[0] if row is not None else None

    def get(self, version: int) -> DatasetVersion:
        ds = self._open()
        found = ds.to_table(filter=f"dataset_version = {int(version)}") if ds is not None else LOG_SCHEMA.empty_table()
        if found.num_rows:
            return self._entries(found)[0]
        known = [e.dataset_version for e in self.entries()]
        raise NotFoundError(
            f"dataset {self.dataset_path.name!r} has no version {version}",
            hint=f"Versions: {known or 'none'}. Try `pinlake versions {self.dataset_path.name}`.",
        )

    def append(
        self,
        operation: str,
        tables: dict[str, int],
        rows: dict[str, int],
        lineage: dict[str, str],
        message: str = "",
        *,
        files: Mapping[str, bytes] | None = None,
        derive: Callable[[DatasetVersion], Mapping[str, bytes]] | None = None,
        index_rows: int | None = None,
        stale_rows: int | None = None,
    ) -> DatasetVersion:
        """Append one entry (call with :meth:`locked` held). This is the commit point.

        First the scalar indexes of the tables this version changed (their version differs from
        the previous entry's) are made or brought up to date past their thresholds
        (:func:`pinlake.datasets.tables.index_tables`; ``index_rows``, ``stale_rows``), so the entry
        names the indexed table versions; a table the write left alone is left as it is (``pinlake
        maintain`` indexes every table). Before the commit the version's files are staged in
        ``_meta/<N>/``: ``files``, then what ``derive(entry)`` returns (stats, preview: computed on
        the uncommitted state), and info.json/schema.json of the previous version when not given.
        After it, the top-level cache."""
        ds = self._open() if self.exists() else None
        read_version = ds.version if ds is not None else 0
        newest = self._newest_row(ds) if ds is not None else None
        previous = newest.column("dataset_version")[0].as_py() if newest is not None else None
        before = self._entries(newest)[0].tables if newest is not None else {}
        changed = {t: v for t, v in tables.items() if before.get(t) != v}  # a write pays for the tables it wrote
        tables = {**tables, **index_tables(self.dataset_path, changed, index_rows, stale_rows)}
        number = previous + 1 if previous is not None else 1
        lineage = {**lineage, "pinlake.dataset_version": str(number)}
        entry = DatasetVersion(number, utcnow(), operation, dict(tables), dict(rows), lineage, message)
        staged = dict(files or {})
        if derive is not None:
            staged.update(derive(entry))
        info = staged.get("info.json")
        if info is None and previous is not None:
            found = self.version_file(previous, "info.json")
            info = found.read_bytes() if found is not None else None
        staged[SUMMARY] = summary_of(entry, info, tables_size(self.dataset_path, tables))
        self._stage(number, previous, staged)
        row = pa.Table.from_pylist(
            [
                {
                    "dataset_version": number,
                    "created_at": entry.created_at,
                    "operation": operation,
                    "tables": json.dumps(tables, sort_keys=True),
                    "rows": json.dumps(rows, sort_keys=True),
                    "lineage": json.dumps(lineage, sort_keys=True),
                    "message": message,
                }
            ],
            schema=LOG_SCHEMA,
        )
        kept = [f.metadata for f in ds.get_fragments()] if ds is not None and ds.schema.equals(LOG_SCHEMA) else None
        if kept is not None and len(kept) < LOG_FRAGMENTS:
            # the entries so far stay in their files: the new version lists them and one new fragment
            fragments = kept + lance_write_fragments(row, self.uri, schema=LOG_SCHEMA)
        else:  # every LOG_FRAGMENTS entries (or a log of an older schema): all rows in one fragment
            current = ds.to_table() if ds is not None else LOG_SCHEMA.empty_table()
            data = pa.concat_tables([current.select(LOG_SCHEMA.names).cast(LOG_SCHEMA), row])
            fragments = lance_write_fragments(data, self.uri, schema=LOG_SCHEMA)
        props = {**lineage, "lance.commit.message": f"dataset version {number}: {operation}"}
        tx = lance.Transaction(
            read_version=read_version, operation=lance.LanceOperation.Overwrite(LOG_SCHEMA, fragments), transaction_properties=props
        )
        try:
            lance_commit(self.uri, tx)
            commit_point("version log")
        except (OSError, ValueError):  # lance.commit.CommitConflictError is an OSError
            if self.exists() and lance_dataset(self.uri).version != read_version:
                raise BuildError(
                    f"dataset {self.dataset_path.name!r}: another writer committed a version of {self.uri} "
                    f"after this write read version {number - 1}; this write was not recorded",
                    hint="Its lock was taken over (the writer stalled longer than the lease); run the write again.",
                ) from None
            raise
        self.publish_cache(number)

        on_version_logged(self.dataset_path, entry)
        return entry
