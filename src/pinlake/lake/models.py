"""User-facing objects of the lake: Data, MultiData, Tag, DataSource, ErrorManager, UploadError."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, overload

from pinlake.lake.values import data_to_arrow, data_to_numpy
from pinlake.storage import take_rows

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pyarrow as pa

    from pinlake.lake.lake import Lake


@dataclass(frozen=True)
class Tag:
    """A data tag of the lake (``car``, ``huge-car``)."""

    name: str
    created_at: datetime | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DataSource:
    """Where data came from (``camera-one``)."""

    name: str
    created_at: datetime | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.name


@dataclass
class UploadError:
    """One file that did not land: its path (or uri) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ErrorManager:
    """Collects per-file failures of an upload or import instead of raising on the first one."""

    def __init__(self) -> None:
        self.errors: list[UploadError] = []

    def append(self, error: UploadError) -> None:
        self.errors.append(error)

    def clear(self) -> None:
        self.errors.clear()

    def __len__(self) -> int:
        return len(self.errors)

    def __repr__(self) -> str:
        return f"ErrorManager({len(self.errors)} errors)"


class Rows:
    """The rows of one Arrow table, shared by the :class:`Data` of one listing (``Lake.list_data``).

    A column becomes a Python list the first time a field of it is read, and only that column: a
    recipe reading ``object_name`` over 100k resources holds one list of names next to the Arrow
    table, not 100k row dicts with their datetimes. A listing leaves out the :attr:`LAZY` columns
    and keeps its rows' ``_rowid`` and the data table (at the listed version): those columns are
    read by row id when asked, for the rows asked.
    """

    #: columns a listing reads only when asked (the metadata JSON is most of a data row)
    LAZY = ("metadata",)
    #: row ids read from the data table at a time
    TAKE_CHUNK = 8192

    __slots__ = ("_batches", "_bounds", "_columns", "_dataset", "names", "table")

    def __init__(self, table: pa.Table, dataset: Any = None) -> None:
        self.table = table
        self._dataset = dataset
        have = set(table.column_names)
        if dataset is not None:
            self.names = [f.name for f in dataset.schema if f.name in have or f.name in self.LAZY]
        else:
            self.names = [c for c in table.column_names if c != "_rowid"]
        self._columns: dict[str, list[Any]] = {}
        self._batches: list[Any] = []
        self._bounds: Any = None

    def __len__(self) -> int:
        return self.table.num_rows

    def _lazy(self, key: str) -> bool:
        return self._dataset is not None and key not in self.table.schema.names and key in self.names

    def _take(self, row_ids: list[int], columns: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for k in range(0, len(row_ids), self.TAKE_CHUNK):
            out.extend(take_rows(self._dataset, row_ids[k : k + self.TAKE_CHUNK], columns=columns).to_pylist())
        return out

    def column(self, key: str) -> list[Any]:
        col = self._columns.get(key)
        if col is None:
            if self._lazy(key):
                col = [r[key] for r in self._take(self.table.column("_rowid").to_pylist(), [key])]
            else:
                col = self.table.column(key).to_pylist()
            self._columns[key] = col
        return col

    def value(self, key: str, i: int) -> Any:
        return self.column(key)[i]

    def row(self, i: int) -> dict[str, Any]:
        return {k: self.column(k)[i] for k in self.names}

    def table_at(self, positions: list[int], columns: list[str]) -> pa.Table:
        """The rows at ``positions`` (in that order) as an Arrow table of ``columns``.

        Taken record batch by record batch: a take over the whole chunked table concatenates each
        column first, a copy of the table per call. Lazy columns are taken from the data table by
        row id. No Python object per row.
        """
        import numpy as np
        import pyarrow as pa

        lazy = [c for c in columns if self._lazy(c)]
        here = [c for c in columns if c not in lazy]
        scan = here + ["_rowid"] if lazy and "_rowid" not in here else here
        if self._bounds is None:
            self._batches = self.table.to_batches()
            self._bounds = np.cumsum([0] + [b.num_rows for b in self._batches])
        pos = np.asarray(positions, dtype=np.int64)
        which = np.searchsorted(self._bounds, pos, side="right") - 1
        parts, order = [], []
        for b in np.unique(which).tolist():
            sel = np.flatnonzero(which == b)
            parts.append(self._batches[b].select(scan).take(pa.array(pos[sel] - self._bounds[b])))
            order.append(sel)
        if not parts:
            return pa.table({c: pa.array([], pa.null()) for c in columns})
        got = pa.Table.from_batches(parts).take(pa.array(np.argsort(np.concatenate(order), kind="stable")))
        if lazy:
            ids = got.column("_rowid").to_pylist()
            taken = pa.concat_tables(
                [take_rows(self._dataset, ids[k : k + self.TAKE_CHUNK], columns=lazy) for k in range(0, len(ids), self.TAKE_CHUNK)]
            )
            for c in lazy:
                got = got.append_column(c, taken.column(c))
        return got.select(columns)

    def rows_at(self, positions: list[int], columns: list[str]) -> list[dict[str, Any]]:
        """The rows at ``positions`` (in that order) as dicts of ``columns`` (:meth:`table_at`)."""
        return self.table_at(positions, columns).to_pylist()


def _field(key: str) -> property:
    return property(lambda self: self._get(key))


class Data:
    """One resource version in the lake (one row of the data table).

    Holds its row as a dict, or a position in the :class:`Rows` of the listing it came from.
    """

    __slots__ = ("_i", "_lake", "_row", "_rows")

    def __init__(self, lake: Lake, row: dict[str, Any] | None, rows: Rows | None = None, i: int = 0) -> None:
        self._lake = lake
        self._row = row
        self._rows = rows
        self._i = i

    # --- fields ---------------------------------------------------------------
    id = _field("id")
    object_name = _field("object_name")
    filename = _field("filename")
    version = _field("version")
    sha256 = _field("sha256")
    size = _field("size")
    media_type = _field("media_type")
    width = _field("width")
    height = _field("height")
    source = _field("source")
    uri = _field("uri")
    created_at = _field("created_at")
    is_latest = _field("is_latest")

    def _get(self, key: str) -> Any:
        row = self._row
        return row[key] if row is not None else self._rows.value(key, self._i)  # type: ignore[union-attr]  # _rows is set when _row is not

    def listing_position(self) -> tuple[Rows, int] | None:
        """``(rows, i)`` when this Data is row ``i`` of a listing's :class:`Rows` (its row not read into a
        dict yet), else None: columnar readers take the listing's Arrow rows directly."""
        return (self._rows, self._i) if self._row is None and self._rows is not None else None

    def _dict(self) -> dict[str, Any]:
        """The row as a dict (a fresh one for a Data of a listing)."""
        return self._row if self._row is not None else self._rows.row(self._i)  # type: ignore[union-attr]  # _rows is set when _row is not

    @property
    def tags(self) -> list[str]:
        return list(self._get("tags") or [])

    @property
    def metadata(self) -> dict[str, Any]:
        raw = self._get("metadata")
        return json.loads(raw) if raw else {}

    def to_dict(self) -> dict[str, Any]:
        out = dict(self._dict())
        out["metadata"] = self.metadata
        out["tags"] = self.tags
        return out

    # --- content --------------------------------------------------------------
    def get_bytes(self) -> bytes:
        """The stored bytes (from the lake's blob column, or read from ``uri`` and checked by sha256)."""
        return self._lake.read_row_bytes(self._dict())

    def open(self) -> io.BytesIO:
        return io.BytesIO(self.get_bytes())

    def to_numpy(self) -> np.ndarray:
        return data_to_numpy(self)

    def to_arrow(self) -> pa.Table:
        return data_to_arrow(self)

    # --- tags -----------------------------------------------------------------
    def add_tags(self, tags: str | Tag | Iterable[str | Tag]) -> Data:
        self._lake.tag_ids([self.id], tags)
        self._refresh()
        return self

    def remove_tags(self, tags: str | Tag | Iterable[str | Tag]) -> Data:
        self._lake.untag_ids([self.id], tags)
        self._refresh()
        return self

    def _refresh(self) -> None:
        self._row = self._lake.row_by_id(self.id)
        self._rows = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Data) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Data(object_name={self.object_name!r}, version={self.version}, sha256={self.sha256[:12]}…)"


class MultiData(Sequence[Data]):
    """A list of Data with bulk operations."""

    def __init__(self, lake: Lake, items: Iterable[Data]) -> None:
        self._lake = lake
        self._items = list(items)

    @classmethod
    def from_arrow(cls, lake: Lake, table: pa.Table, dataset: Any = None) -> MultiData:
        """One Data per row of ``table`` (data-table columns), all sharing it (see :class:`Rows`;
        ``dataset``: the data table the rows were listed from, for the columns left out)."""
        rows = Rows(table, dataset)
        return cls(lake, [Data(lake, None, rows, i) for i in range(table.num_rows)])

    @overload
    def __getitem__(self, i: int) -> Data: ...
    @overload
    def __getitem__(self, i: slice) -> MultiData: ...
    def __getitem__(self, i: int | slice) -> Data | MultiData:
        if isinstance(i, slice):
            return MultiData(self._lake, self._items[i])
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Data]:
        return iter(self._items)

    @property
    def ids(self) -> list[str]:
        return [d.id for d in self._items]

    def add_tags(self, tags: str | Tag | Iterable[str | Tag]) -> MultiData:
        self._lake.tag_ids(self.ids, tags)
        self._refresh()
        return self

    def remove_tags(self, tags: str | Tag | Iterable[str | Tag]) -> MultiData:
        self._lake.untag_ids(self.ids, tags)
        self._refresh()
        return self

    def to_arrow(self) -> pa.Table:
        return self._lake.to_arrow(self)

    def _refresh(self) -> None:
        rows = self._lake.rows_by_ids(self.ids)
        self._items = [Data(self._lake, rows[i]) for i in self.ids if i in rows]

    def __repr__(self) -> str:
        return f"MultiData({len(self._items)} data)"
