"""The dataset version log: the commit point of every multi-table write.

Each build or batch of CRUD writes ends by appending one entry to ``<dataset>/_versions.lance``:
``{dataset_version, created_at, operation, tables: {table: lance_version}, rows: {table: n},
lineage: {...}}``. Readers open a dataset version through this log, so table versions that no
entry names (leftovers of a crashed write) are never seen.

The log itself is a Lance table. Writers of a dataset are serialised by :func:`pinlake.storage.lock`
on ``<dataset>/.lock`` (a file lock locally, a lease object on S3). Each entry is committed as ONE
Lance ``Overwrite`` transaction (the log's rows plus the new one) whose read version is the log
version the writer read its last entry number from: Lance refuses it if any other entry was
committed since (on S3 through a conditional PUT of the manifest), so even a writer whose lease
lapsed can never commit a duplicate number or lose another's entry. Numbers stay dense and
increasing; earlier log versions remain in the Lance history.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

import lance
import pyarrow as pa

from pinlake.errors import BuildError, NotFoundError
from pinlake.clock import utcnow
from pinlake.storage import AnyPath, lance_commit, lance_dataset, lance_write_fragments, location
from pinlake.storage import lock as storage_lock

LOG_NAME = "_versions.lance"
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


class VersionLog:
    """Read and append the version log of the dataset at ``path``."""

    def __init__(self, dataset_path: AnyPath | str) -> None:
        self.dataset_path = location(dataset_path)
        self.uri = str(self.dataset_path / LOG_NAME)

    def exists(self) -> bool:
        return (self.dataset_path / LOG_NAME).exists()

    @contextmanager
    def locked(self, timeout: float = 600) -> Iterator[None]:
        """Serialise writers of this dataset (a file lock locally, a lease object on S3)."""
        self.dataset_path.mkdir(parents=True, exist_ok=True)
        with storage_lock(self.dataset_path / ".lock", timeout=timeout):
            yield

    def _open(self) -> lance.LanceDataset | None:
        return lance_dataset(self.uri) if self.exists() else None

    def entries(self) -> list[DatasetVersion]:
        ds = self._open()
        return [] if ds is None else self._entries(ds.to_table())

    @staticmethod
    def _entries(table: pa.Table) -> list[DatasetVersion]:
        out = [
            DatasetVersion(
                dataset_version=r["dataset_version"],
                created_at=r["created_at"],
                operation=r["operation"],
                tables=json.loads(r["tables"]),
                rows=json.loads(r["rows"] or "{}"),
                lineage=json.loads(r["lineage"] or "{}"),
                message=r["message"] or "",
            )
            for r in table.to_pylist()
        ]
        out.sort(key=lambda v: v.dataset_version)
        return out

    def latest(self) -> DatasetVersion | None:
        entries = self.entries()
        return entries[-1] if entries else None

    def get(self, version: int) -> DatasetVersion:
        for entry in self.entries():
            if entry.dataset_version == version:
                return entry
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
    ) -> DatasetVersion:
        """Append one entry (call with :meth:`locked` held). This is the commit point."""
        ds = self._open()
        current = ds.to_table() if ds is not None else LOG_SCHEMA.empty_table()
        read_version = ds.version if ds is not None else 0
        numbers = current.column("dataset_version").to_pylist()
        number = (max(numbers) + 1) if numbers else 1
        lineage = {**lineage, "pinlake.dataset_version": str(number)}
        entry = DatasetVersion(number, utcnow(), operation, dict(tables), dict(rows), lineage, message)
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
        data = pa.concat_tables([current.select(LOG_SCHEMA.names).cast(LOG_SCHEMA), row])
        fragments = lance_write_fragments(data, self.uri, schema=LOG_SCHEMA)
        props = {**lineage, "lance.commit.message": f"dataset version {number}: {operation}"}
        tx = lance.Transaction(read_version=read_version, operation=lance.LanceOperation.Overwrite(LOG_SCHEMA, fragments),
                               transaction_properties=props)
        try:
            lance_commit(self.uri, tx)
        except (OSError, ValueError):  # lance.commit.CommitConflictError is an OSError
            if self.exists() and lance_dataset(self.uri).version != read_version:
                raise BuildError(
                    f"dataset {self.dataset_path.name!r}: another writer committed a version of {self.uri} "
                    f"after this write read version {number - 1}; this write was not recorded",
                    hint="Its lock was taken over (the writer stalled longer than the lease); run the write again.",
                ) from None
            raise
        from pinlake.catalog.sync import on_version_logged  # catalogue the new versions (library only)

        on_version_logged(self.dataset_path)
        return entry
