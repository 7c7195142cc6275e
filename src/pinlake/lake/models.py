"""User-facing objects of the lake: Data, MultiData, Tag, DataSource, ErrorManager, UploadError."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, overload

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


class Data:
    """One resource version in the lake (one row of the data table)."""

    __slots__ = ("_lake", "_row")

    def __init__(self, lake: "Lake", row: dict[str, Any]) -> None:
        self._lake = lake
        self._row = row

    # --- fields ---------------------------------------------------------------
    id = property(lambda self: self._row["id"])
    object_name = property(lambda self: self._row["object_name"])
    filename = property(lambda self: self._row["filename"])
    version = property(lambda self: self._row["version"])
    sha256 = property(lambda self: self._row["sha256"])
    size = property(lambda self: self._row["size"])
    media_type = property(lambda self: self._row["media_type"])
    width = property(lambda self: self._row["width"])
    height = property(lambda self: self._row["height"])
    source = property(lambda self: self._row["source"])
    uri = property(lambda self: self._row["uri"])
    created_at = property(lambda self: self._row["created_at"])
    is_latest = property(lambda self: self._row["is_latest"])

    @property
    def tags(self) -> list[str]:
        return list(self._row["tags"] or [])

    @property
    def metadata(self) -> dict[str, Any]:
        raw = self._row["metadata"]
        return json.loads(raw) if raw else {}

    def to_dict(self) -> dict[str, Any]:
        out = dict(self._row)
        out["metadata"] = self.metadata
        out["tags"] = self.tags
        return out

    # --- content --------------------------------------------------------------
    def get_bytes(self) -> bytes:
        """The stored bytes (from the lake's blob column, or read from ``uri`` and checked by sha256)."""
        return self._lake._read_bytes(self._row)

    def open(self) -> io.BytesIO:
        return io.BytesIO(self.get_bytes())

    def to_numpy(self) -> "np.ndarray":
        from pinlake.lake.values import data_to_numpy

        return data_to_numpy(self)

    def to_arrow(self) -> "pa.Table":
        from pinlake.lake.values import data_to_arrow

        return data_to_arrow(self)

    # --- tags -----------------------------------------------------------------
    def add_tags(self, tags: "str | Tag | Iterable[str | Tag]") -> "Data":
        self._lake._add_tags([self.id], tags)
        self._refresh()
        return self

    def remove_tags(self, tags: "str | Tag | Iterable[str | Tag]") -> "Data":
        self._lake._remove_tags([self.id], tags)
        self._refresh()
        return self

    def _refresh(self) -> None:
        self._row = self._lake._row_by_id(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Data) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Data(object_name={self.object_name!r}, version={self.version}, sha256={self.sha256[:12]}…)"


class MultiData(Sequence[Data]):
    """A list of Data with bulk operations."""

    def __init__(self, lake: "Lake", items: Iterable[Data]) -> None:
        self._lake = lake
        self._items = list(items)

    @overload
    def __getitem__(self, i: int) -> Data: ...
    @overload
    def __getitem__(self, i: slice) -> "MultiData": ...
    def __getitem__(self, i: int | slice) -> "Data | MultiData":
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

    def add_tags(self, tags: "str | Tag | Iterable[str | Tag]") -> "MultiData":
        self._lake._add_tags(self.ids, tags)
        self._refresh()
        return self

    def remove_tags(self, tags: "str | Tag | Iterable[str | Tag]") -> "MultiData":
        self._lake._remove_tags(self.ids, tags)
        self._refresh()
        return self

    def to_arrow(self) -> "pa.Table":
        return self._lake.to_arrow(self)

    def _refresh(self) -> None:
        rows = self._lake._rows_by_ids(self.ids)
        self._items = [Data(self._lake, rows[i]) for i in self.ids if i in rows]

    def __repr__(self) -> str:
        return f"MultiData({len(self._items)} data)"
