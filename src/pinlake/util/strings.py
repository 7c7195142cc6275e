"""StringList: a read-only list of str kept as one Arrow string array.

A Python list of a million 30-character names costs ≈ 90 MB (a str object and a pointer each); the
same names as an Arrow array cost their UTF-8 bytes plus 4 bytes of offset each (≈ 34 MB). A
StringList reads like a list (``len``, indexing, slicing, iteration, ``==`` against any sequence of
str) and converts a slice at a time, so code that takes a ``Sequence[str]`` cannot tell it apart.
:meth:`StringList.deferred` makes one whose strings are read on first use: its length is known
before, so ``len`` costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import overload

import pyarrow as pa

from pinlake.util.idset import as_string_array

#: strings converted to Python at a time while iterating
ITER_CHUNK = 65_536


class StringList(Sequence[str]):
    """Strings kept as one Arrow string array, read as a list (module doc)."""

    __slots__ = ("_strings", "_load", "_len")

    def __init__(self, values: pa.Array | pa.ChunkedArray | Iterable[str] = ()) -> None:
        self._strings: pa.Array | None = None
        self._load: Callable[[], pa.Array] | None = None
        self._set(as_string_array(values))

    @classmethod
    def deferred(cls, length: int, load: Callable[[], pa.Array | pa.ChunkedArray]) -> StringList:
        """``length`` strings that ``load()`` reads on first use of one of them (never before)."""
        out = cls()
        out._strings, out._len, out._load = None, int(length), lambda: as_string_array(load())
        return out

    def _set(self, arr: pa.Array) -> None:
        if arr.null_count:
            raise ValueError("a StringList holds strings, not nulls")
        self._strings, self._len = arr, len(arr)

    @property
    def _arr(self) -> pa.Array:
        if self._strings is None:
            assert self._load is not None
            arr = self._load()
            if len(arr) != self._len:  # raised again at each use: nothing wrong is kept
                raise ValueError(f"a deferred StringList of {self._len} strings read {len(arr)}")
            self._set(arr)
            self._load = None
        assert self._strings is not None
        return self._strings

    def __len__(self) -> int:
        return self._len

    def __reduce__(self) -> tuple[type[StringList], tuple[pa.Array]]:
        return (StringList, (self._arr,))  # pickled with its strings (a deferred one reads them first)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return list(self._arr[index].to_pylist())
        n = len(self._arr)
        if not -n <= index < n:
            raise IndexError("StringList index out of range")
        return str(self._arr[index % n].as_py())

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self._arr), ITER_CHUNK):
            yield from self._arr.slice(start, ITER_CHUNK).to_pylist()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringList):
            return len(self) == len(other) and bool(self._arr.equals(other._arr))
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are unhashable

    def __repr__(self) -> str:
        if self._strings is None:
            return f"StringList(<{self._len} strings, not read yet>)"
        head = self[:3]
        more = f", … {len(self) - 3} more" if len(self) > 3 else ""
        return f"StringList({head!r}{more})"

    def to_arrow(self) -> pa.Array:
        """The strings as the Arrow array they are kept in."""
        return self._arr


__all__ = ["StringList"]
