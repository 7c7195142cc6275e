"""Writes on a dataset: each call (or each ``batch()``) makes one new dataset version.

Table writes go through Lance (append / merge_insert / delete: each a new table version, history
kept); the version-log append at the end is the commit point. Writers of one dataset are serialised
by a file lock (a lease object on S3, see :mod:`pinlake.storage`). Table versions left by a crashed write are rolled back (restore = a new version)
before the next write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import lance
import pyarrow as pa
import pyarrow.compute as pc

from pinlake.datasets.finalize import derive_files, json_bytes
from pinlake.datasets.refs import check_refs
from pinlake.datasets.search import semantic_search
from pinlake.datasets.tables import id_filter, table_exists, table_uri, write_table
from pinlake.errors import NotFoundError, ValidationError
from pinlake.features.arrow import rows_to_table
from pinlake.features.base import BaseSchema, utcnow
from pinlake.provenance import lineage_properties
from pinlake.storage import lance_dataset
from pinlake.util.faults import commit_point

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self

    from pinlake.datasets.dataset import Dataset
    from pinlake.datasets.dataset_item import DatasetItem
    from pinlake.datasets.info import DatasetInfo
    from pinlake.datasets.schema import DatasetSchema
    from pinlake.datasets.versions import DatasetVersion, VersionLog
    from pinlake.storage import AnyPath


def new_id() -> str:
    return uuid.uuid4().hex[:22]


class _Batch:
    def __init__(self, operation: str) -> None:
        self.operation = operation
        #: the writer's own words for the version, put before the list of table changes in its log message
        self.message = ""
        self.changed: dict[str, int] = {}
        self.ops: list[str] = []
        self.lineage: dict[str, str] = {}
        #: per table, the table version this batch's first write is based on (see VersionLog.write_bases)
        self.bases: dict[str, int] = {}


class CrudMixin:
    _batch: _Batch | None = None

    if TYPE_CHECKING:
        # What the mixin uses of Dataset (datasets/dataset.py), the one class that mixes it in.
        path: AnyPath
        media_dir: Path | None
        info: DatasetInfo
        schema: DatasetSchema
        _log: VersionLog
        _state: DatasetVersion
        _pinned: bool

        @property
        def name(self) -> str: ...

        @property
        def version(self) -> int: ...

        @property
        def dataset_item(self) -> type[DatasetItem]: ...

        def _use(
            self,
            state: DatasetVersion,
            dataset_item: type[DatasetItem] | None = None,
            info: DatasetInfo | None = None,
            schema: DatasetSchema | None = None,
        ) -> None: ...

        @classmethod
        def candidate(
            cls, path: AnyPath, state: DatasetVersion, info: DatasetInfo, schema: DatasetSchema, media_dir: Path | None = None
        ) -> Dataset: ...

    def _as_dataset(self) -> Dataset:
        """This handle as the Dataset it is (only Dataset mixes this class in)."""
        return cast("Dataset", self)

    # --- version plumbing --------------------------------------------------------
    @contextmanager
    def batch(
        self, operation: str = "crud", *, record_empty: bool = False, derived: bool = False, message: str = "", **lineage: Any
    ) -> Iterator[Self]:
        """Group several writes into one dataset version::

            with ds.batch("fix labels"):
                ds.update_data("objects", rows)
                ds.delete_data("bbox", ids)

        ``record_empty=True`` records a version even when no table changed (e.g. a new lock that
        selects the same resources), so the version carries the new lineage. ``derived=True``
        computes the new version's stats and preview before its commit (a build does); otherwise
        the version has none until ``pinlake stats`` / ``pinlake preview`` make them. ``message``
        (e.g. an annotator's words) heads the version's log message, before the table changes.

        If a write raises, nothing is committed, the table versions it made are rolled back, and
        the dataset stays writable at the version it had.
        """
        if self._batch is not None:
            yield self
            return
        self._check_writable()
        with self._log.locked():
            self._reconcile()
            self._batch = _Batch(operation)
            self._batch.message = message
            self._batch.lineage = lineage_properties(operation, **lineage)
            self._batch.bases = self._log.write_bases(self._state)
            try:
                yield self
                if self._batch.changed or record_empty:
                    self._commit_batch(operation, derived)
            except BaseException:
                failed = self._batch
                self._batch = None
                if failed.changed:  # roll back now (a kill leaves them to the next writer's write_bases)
                    self._log.write_bases(self._state)
                raise
            finally:
                self._batch = None

    def _commit_batch(self, operation: str, derived: bool) -> None:
        assert self._batch is not None
        tables = {**self._state.tables, **self._batch.changed}
        rows = dict(self._state.rows)
        for t, v in self._batch.changed.items():
            rows[t] = lance_dataset(table_uri(self.path, t), version=v).count_rows()
        message = "; ".join(self._batch.ops) or "no table changed"
        if self._batch.message:
            message = f"{self._batch.message} ({message})"
        info = self.info.model_copy(deep=True)
        info.num_items = rows.get("item", 0)
        if derived:
            derive = derive_files(
                lambda e: type(self).candidate(self.path, e, info, self.schema, self.media_dir), previous=self._as_dataset()
            )
            state = self._log.append(operation, tables, rows, self._batch.lineage, message, derive=derive)
        else:
            state = self._log.append(
                operation, tables, rows, self._batch.lineage, message, files={"info.json": json_bytes(info.model_dump(mode="json"))}
            )
        self._use(state, info=None, schema=self.schema)

    def _check_writable(self) -> None:
        if self._pinned:
            raise ValidationError(
                f"dataset {self.name!r} is open read-only at version {self.version}",
                hint="Open it without version= to write.",
            )

    def _reconcile(self) -> None:
        """Move to the latest logged version (its own info and schema)."""
        latest = self._log.latest()
        if latest is not None and latest.dataset_version != self._state.dataset_version:
            self._use(latest, info=None, schema=self.schema)

    def _current(self, table: str) -> lance.LanceDataset:
        """The table as this batch sees it: its last write in the batch, else the base of the batch."""
        b = self._batch
        version = (b.changed.get(table) or b.bases.get(table) if b else None) or self._state.tables.get(table)
        return lance_dataset(table_uri(self.path, table), version=version)

    def _note(self, table: str, version: int, op: str) -> None:
        assert self._batch is not None
        self._batch.changed[table] = version
        self._batch.ops.append(op)

    def _to_arrow(self, table: str, rows: Sequence[BaseSchema | dict[str, Any]]) -> pa.Table:
        schema = self.schema.schema(table)
        now = utcnow()
        fixed = []
        for r in rows:
            r = r if isinstance(r, dict) else r.model_dump()
            r = dict(r)
            if not r.get("id"):
                r["id"] = new_id()
            r["updated_at"] = now
            fixed.append(r)
        return rows_to_table(schema, fixed, table=table)

    def _has_table(self, table: str) -> bool:
        """The table has rows in the version this write builds on (or earlier in this batch)."""
        return table in self._state.tables or bool(self._batch and table in self._batch.changed)

    def _existing_rows(self, table: str, ids: list[str]) -> pa.Table:
        """(id, created_at) of the rows of ``table`` among ``ids``."""
        if not ids or not self._has_table(table):
            return pa.table({"id": pa.array([], pa.string()), "created_at": pa.array([], pa.timestamp("us"))})
        return self._current(table).to_table(columns=["id", "created_at"], filter=id_filter(ids))

    def _existing_ids(self, table: str, ids: list[str]) -> set[str]:
        return set(self._existing_rows(table, ids).column("id").to_pylist())

    def _check_refs(self, table: str, data: pa.Table, pending: dict[str, set[str]] | None = None) -> None:
        check_refs(table, data, self.schema.schemas, pending or {}, self._existing_ids)

    # --- table level -----------------------------------------------------------------
    def add_data(self, table: str, data: Sequence[BaseSchema | dict[str, Any]]) -> list[str]:
        """Append rows to ``table`` (ids must be new); returns their ids."""
        with self.batch(f"add_data {table}"):
            arrow = self._to_arrow(table, data)
            ids = arrow.column("id").to_pylist()
            if len(set(ids)) != len(ids):
                raise ValidationError(f"table {table!r}: duplicate ids in the rows to add")
            clash = self._existing_ids(table, ids)
            if clash:
                raise ValidationError(f"table {table!r}: ids already exist: {sorted(clash)[:5]}", hint="Use update_data to change them.")
            self._check_refs(table, arrow, {table: set(ids)})
            self._append(table, arrow)
        return ids

    def _append(self, table: str, arrow: pa.Table) -> None:
        assert self._batch is not None
        if arrow.num_rows == 0:
            return
        if self._has_table(table):
            mode = "append"
        else:  # a table left by a crashed first write is replaced, never appended to
            mode = "overwrite" if table_exists(self.path, table) else "create"
        version = write_table(self.path, table, arrow, mode, self._batch.lineage, f"{self._batch.operation}: add {arrow.num_rows} rows")
        self._note(table, version, f"add {arrow.num_rows} to {table}")

    def update_data(self, table: str, data: Sequence[BaseSchema | dict[str, Any]]) -> list[str]:
        """Replace rows of ``table`` by id (every id must exist); returns their ids."""
        with self.batch(f"update_data {table}"):
            arrow = self._to_arrow(table, data)
            ids = arrow.column("id").to_pylist()
            old = self._existing_rows(table, ids)
            missing = set(ids) - set(old.column("id").to_pylist())
            if missing:
                raise NotFoundError(f"table {table!r}: no rows with ids {sorted(missing)[:5]}", hint="Use add_data for new rows.")
            self._check_refs(table, arrow, {table: set(ids)})
            self._upsert(table, arrow, f"update {arrow.num_rows} in {table}", old)
        return ids

    def _upsert(self, table: str, arrow: pa.Table, op: str, old: pa.Table | None = None) -> None:
        """Insert or replace rows by id; replaced rows keep their original created_at."""
        if arrow.num_rows == 0:
            return
        if not self._has_table(table):
            self._append(table, arrow)
            return
        if old is None:
            old = self._existing_rows(table, arrow.column("id").to_pylist())
        if old.num_rows:
            idx = pc.index_in(arrow.column("id"), value_set=old.column("id"))
            created = pc.coalesce(pc.take(old.column("created_at"), idx), arrow.column("created_at"))
            arrow = arrow.set_column(arrow.schema.get_field_index("created_at"), "created_at", created)
        ds = self._current(table)
        ds.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(arrow)
        commit_point(f"table {table}")
        self._note(table, ds.version, op)  # merge_insert moves ds to the version it committed

    def delete_data(self, table: str, ids: Sequence[str]) -> list[str]:
        """Delete rows of ``table`` by id; returns the ids that existed."""
        with self.batch(f"delete_data {table}"):
            found = sorted(self._existing_ids(table, list(ids)))
            self._delete(table, id_filter(found), len(found))
        return found

    def _delete(self, table: str, predicate: str, n: int) -> None:
        if n == 0:
            return
        ds = self._current(table)
        ds.delete(predicate)
        commit_point(f"table {table}")
        self._note(table, ds.version, f"delete {n} from {table}")  # as does delete

    # --- dataset item level -------------------------------------------------------------
    def _split_items(self, items: Sequence[DatasetItem | dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        cls = self.dataset_item
        per_table: dict[str, list[dict[str, Any]]] = {t: [] for t in self.schema.tables}
        for _n, raw in enumerate(items):
            item = raw if isinstance(raw, cls) else cls.model_validate(raw if isinstance(raw, dict) else raw.model_dump())
            item_id = item.id or new_id()
            row = {"id": item_id, "split": item.split}
            for name in cls.metadata_fields():
                row[name] = getattr(item, name)
            per_table["item"].append(row)
            for table, (_schema, is_list) in cls.table_fields().items():
                value = getattr(item, table, None)
                values = value if is_list else ([value] if value is not None else [])
                for v in values or []:
                    r = v.model_dump() if isinstance(v, BaseSchema) else dict(v)
                    r["item_ref"] = {"name": "item", "id": item_id}
                    per_table[table].append(r)
        return per_table

    def add_dataset_items(self, items: Sequence[DatasetItem | dict[str, Any]]) -> list[str]:
        """Add whole items (item row plus their views, entities, annotations) as one version."""
        per_table = self._split_items(items)
        with self.batch("add_dataset_items"):
            arrows = {t: self._to_arrow(t, rows) for t, rows in per_table.items() if rows}
            pending = {t: set(a.column("id").to_pylist()) for t, a in arrows.items()}
            for t, a in arrows.items():
                clash = self._existing_ids(t, a.column("id").to_pylist())
                if clash:
                    raise ValidationError(f"table {t!r}: ids already exist: {sorted(clash)[:5]}", hint="Use update_dataset_items.")
            for t, a in arrows.items():
                self._check_refs(t, a, pending)
            for t, a in arrows.items():
                self._append(t, a)
        return [r["id"] for r in per_table["item"]]

    def update_dataset_items(self, items: Sequence[DatasetItem | dict[str, Any]]) -> list[str]:
        """Replace whole items: rows present are upserted, rows of the item no longer present are deleted."""
        per_table = self._split_items(items)
        item_ids = [r["id"] for r in per_table["item"]]
        with self.batch("update_dataset_items"):
            missing = set(item_ids) - self._existing_ids("item", item_ids)
            if missing:
                raise NotFoundError(f"no items with ids {sorted(missing)[:5]}", hint="Use add_dataset_items for new items.")
            arrows = {t: self._to_arrow(t, rows) for t, rows in per_table.items()}
            pending = {t: set(a.column("id").to_pylist()) for t, a in arrows.items()}
            for t, a in arrows.items():
                self._check_refs(t, a, pending)
            for t, a in arrows.items():
                if t != "item" and t != "source" and t in self._state.tables:
                    keep = a.column("id").to_pylist()
                    stale = self._current(t).to_table(
                        columns=["id"], filter=f"{id_filter(item_ids, 'item_ref.id')}" + (f" AND NOT ({id_filter(keep)})" if keep else "")
                    )
                    self._delete(t, id_filter(stale.column("id").to_pylist()), stale.num_rows)
                self._upsert(t, a, f"update {a.num_rows} in {t}")
        return item_ids

    def delete_dataset_items(self, ids: Sequence[str]) -> list[str]:
        """Delete items and, cascading, every row that refers to them."""
        with self.batch("delete_dataset_items"):
            found = sorted(self._existing_ids("item", list(ids)))
            if found:
                for t in self.schema.tables:
                    if t in ("item", "source") or t not in self._state.tables:
                        continue
                    n = self._current(t).count_rows(id_filter(found, "item_ref.id"))
                    self._delete(t, id_filter(found, "item_ref.id"), n)
                self._delete("item", id_filter(found), len(found))
        return found

    # --- search -----------------------------------------------------------------------
    def semantic_search(
        self, query: Any, table: str, limit: int = 50, embedding_fn: Any = None
    ) -> tuple[list[Any], list[float], list[str]]:
        return semantic_search(self._as_dataset(), query, table, limit=limit, embedding_fn=embedding_fn)
