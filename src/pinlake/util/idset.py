"""IdSet: an exact set of string ids that stays small at any size (the ids a build has written).

A Python ``set`` of 22-character ids costs ≈ 110 bytes an id: ≈ 100 MB for the ≈ 950k rows of a
100k-item build. Here the ids themselves go to an unnamed temporary file (:class:`IdStore`: each
batch added is appended as one segment, in the order added) and memory keeps, per batch, a *run*:
a 32-bit key of each id (its hash's low half), sorted, and each id's position in the file (8 bytes
an id in all: 16 MB for the 2M item and view ids of a 1M-item build, 48 MB for the 6M ids of one
whose images have two boxes each, against ≈ 100 MB a million with the strings in memory). Keys
are compared first and ids second, so a key shared by several ids (≈ n²/2³³ pairs in a run of n:
a few hundred at 2M) costs a read, never a wrong answer.
Runs of similar size are merged (a run is merged into the one before it once it is as large), so a
set of n ids has O(log n) runs and each hash is copied O(log n) times; the file is written once.

A lookup hashes the asked ids, finds equal keys in each run by binary search and reads the
strings of those candidates back from the file (the segments that hold them, whole) to compare
them, so the answer is exact: a key shared by several ids of a run is resolved id by id. Asking
for ids that are not in the set (a build's duplicate check) reads back only the segments holding
the rare ids whose key matches by chance: its cost is the hashing and the binary searches.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SEED = np.uint64(0x9E3779B97F4A7C15)
#: the type of a run's positions into its set's :class:`IdStore` (4 bytes: up to 4G ids a set)
POSITION = np.uint32
#: the type of a run's keys: the low half of :func:`hash_strings`
KEY = np.uint32
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def as_string_array(ids: Any) -> pa.Array:
    """Ids (an Arrow array or chunked array, or an iterable of str) as one Arrow string array."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    if not isinstance(ids, pa.Array):
        ids = pa.array(list(ids), pa.string())
    if ids.type != pa.string():
        ids = ids.cast(pa.string())
    return ids


def hash_strings(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string of ``arr`` (nulls included), computed with numpy.

    The UTF-8 bytes of each string, a 0x01 terminator and zero padding are laid out as a row of
    64-bit words; the string's own words (not the padding to the longest) are folded with a
    multiply-xorshift mix (splitmix64's finalizer). A null has one zero word, "" one word of 0x01.
    """
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
    lens = np.diff(offsets)
    if arr.null_count:
        lens = np.where(np.asarray(arr.is_valid()), lens, 0)
    width = (int(lens.max()) + 1 + 7) // 8 * 8
    mat = np.zeros((n, width), np.uint8)
    total = int(lens.sum())
    if total and not arr.null_count and lens.min() == lens.max():  # one length (ids of one scheme): a reshape
        length = int(lens[0])
        mat[:, :length] = np.frombuffer(data_buf, np.uint8)[offsets[0] : offsets[0] + n * length].reshape(n, length)
    elif total:
        data = np.frombuffer(data_buf, np.uint8)
        rows = np.repeat(np.arange(n), lens)
        starts = np.repeat(offsets[:-1], lens)
        cols = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
        mat[rows, cols] = data[starts + cols]
    mat[np.arange(n), lens] = 1
    if arr.null_count:
        mat[~np.asarray(arr.is_valid())] = 0  # a null: no terminator, unlike ""
    words = mat.view("<u8")
    used = (lens + 1 + 7) // 8  # words of each string (its bytes and terminator): padding is not hashed
    h = np.full(n, _SEED, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            x = h ^ words[:, j]
            x ^= x >> np.uint64(30)
            x *= _MUL1
            x ^= x >> np.uint64(27)
            x *= _MUL2
            x ^= x >> np.uint64(31)
            h = x if j == 0 or used.min() > j else np.where(used > j, x, h)
    return h


def _equal(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Element-wise equality of two string arrays, a null equal to a null only."""
    eq = pc.equal(a, b)
    if eq.null_count:
        eq = pc.fill_null(eq, pc.and_(pc.is_null(a), pc.is_null(b)))
    return np.asarray(eq, dtype=bool)


class IdStore:
    """Strings appended in batches to an unnamed temporary file and read back by position.

    Each batch is one *segment*: its offsets (int32, from 0) and UTF-8 bytes, and a validity byte an
    id when it has nulls. Memory keeps five numbers a segment; the file is gone when the store is
    closed or collected. Reading a position reads its whole segment (one batch)."""

    def __init__(self) -> None:
        self._file: Any = None
        self._closed = False
        #: position of each segment's first string, and the total after the last segment
        self._starts: list[int] = [0]
        #: (file offset, strings, bytes of data, has nulls) of each segment
        self._segments: list[tuple[int, int, int, bool]] = []
        self._end = 0

    def __len__(self) -> int:
        return self._starts[-1]

    def append(self, arr: pa.Array) -> np.ndarray:
        """Append ``arr`` as one segment; returns the positions of its strings."""
        n = len(arr)
        self.check_open()
        if self._file is None:
            try:
                self._file = tempfile.TemporaryFile(prefix="pinlake-ids-")  # noqa: SIM115 - open for the store's life: close() or collection ends it
            except OSError as exc:
                raise _temp_error(exc) from exc
        _, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + n + 1]
        data = np.frombuffer(data_buf, np.uint8)[offsets[0] : offsets[-1]] if data_buf is not None else np.zeros(0, np.uint8)
        parts = [(offsets - offsets[0]).astype(np.int32).tobytes(), data.tobytes()]
        if arr.null_count:
            parts.append(np.asarray(arr.is_valid(), dtype=np.uint8).tobytes())
        try:
            self._file.seek(self._end)
            for part in parts:
                self._file.write(part)
        except OSError as exc:
            raise _temp_error(exc) from exc
        self._segments.append((self._end, n, len(data), bool(arr.null_count)))
        self._end += sum(len(p) for p in parts)
        first = self._starts[-1]
        self._starts.append(first + n)
        return np.arange(first, first + n, dtype=np.int64)

    def segment(self, k: int) -> pa.Array:
        """The strings of segment ``k``, read back."""
        self.check_open()
        at, n, size, nulls = self._segments[k]
        self._file.flush()
        want = 4 * (n + 1) + size + (n if nulls else 0)
        raw = b""
        while len(raw) < want:  # a read returns at most about 2 GiB
            more = os.pread(self._file.fileno(), want - len(raw), at + len(raw))
            if not more:
                raise OSError(f"the temporary file of a set of ids ended {want - len(raw)} bytes early")
            raw += more
        offsets, data = raw[: 4 * (n + 1)], raw[4 * (n + 1) : 4 * (n + 1) + size]
        arr = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        if nulls:
            valid = np.frombuffer(raw[4 * (n + 1) + size :], np.uint8).astype(bool)
            arr = pc.if_else(pa.array(valid), arr, pa.scalar(None, pa.string()))
        return arr

    def take(self, positions: np.ndarray, read: dict[int, pa.Array] | None = None) -> pa.Array:
        """The strings at ``positions``, in that order (each segment holding some is read once).
        ``read``: segments already read (by number), kept there for the caller's next take."""
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return pa.array([], pa.string())
        seg = np.searchsorted(np.asarray(self._starts), positions, side="right") - 1
        order = np.argsort(seg, kind="stable")
        pieces = []
        for k in np.unique(seg).tolist():
            local = positions[seg == k] - self._starts[k]
            strings = read.get(k) if read is not None else None
            if strings is None:
                strings = self.segment(k)
                if read is not None:
                    read[k] = strings
            pieces.append(strings.take(pa.array(local)))
        gathered = pa.concat_arrays(pieces)  # the positions grouped by segment, in ``order``
        back = np.empty(len(order), np.int64)
        back[order] = np.arange(len(order))
        return gathered.take(pa.array(back))

    def __iter__(self) -> Iterator[str | None]:
        for k in range(len(self._segments)):
            yield from self.segment(k).to_pylist()

    def check_open(self) -> None:
        if self._closed:
            raise ValueError("this set of ids is closed: its ids are gone")

    def close(self) -> None:
        """Remove the file now; the store cannot be used after."""
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


def _temp_error(exc: OSError) -> OSError:
    where = tempfile.gettempdir()
    return OSError(
        exc.errno,
        f"cannot write the ids a build has written to a temporary file in {where}: {exc.strerror or exc} "
        f"(hint: free space there, or point TMPDIR at a disk with room: a build of 1M items needs about 50 MB, 150 MB with two boxes an image)",
    )


class _Run:
    __slots__ = ("hashes", "positions")

    def __init__(self, hashes: np.ndarray, positions: np.ndarray) -> None:
        self.hashes, self.positions = hashes, positions

    def __len__(self) -> int:
        return len(self.hashes)


def merge_runs(a: _Run, b: _Run) -> _Run:
    """One sorted run of two (``a``'s entries first among equal hashes), in one linear pass: ``b``'s
    entries go in where a binary search puts them. Sorting the two joined instead holds an index and
    a copy of both beside the result: to merge runs of 1M and 0.5M ids (64-bit keys then), 48 MB
    and 225 ms against 23.5 MB (the result's 18 MB included) and 50 ms; with 32-bit keys, 17.5 MB
    (the result's 12 MB included)."""
    at = np.searchsorted(a.hashes, b.hashes, side="right")
    at += np.arange(len(b), dtype=at.dtype)  # where b's entries land in the merged run
    from_a = np.ones(len(a) + len(b), bool)
    from_a[at] = False
    hashes = np.empty(len(from_a), a.hashes.dtype)
    hashes[at], hashes[from_a] = b.hashes, a.hashes
    positions = np.empty(len(from_a), a.positions.dtype)
    positions[at], positions[from_a] = b.positions, a.positions
    return _Run(hashes, positions)


class IdSet:
    """An exact set of ids (str or None) kept compact (see the module doc)."""

    def __init__(self, ids: Any = ()) -> None:
        self._runs: list[_Run] = []
        self._store = IdStore()
        self._len = 0
        #: (array, hashes, found) of the last lookup: update() of that same array reuses them
        self._last: tuple[pa.Array, np.ndarray, np.ndarray] | None = None
        self.update(ids)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str | None]:
        yield from self._store

    def close(self) -> None:
        """Remove the file of the ids now (it goes when the set is collected otherwise)."""
        self._store.close()

    def __contains__(self, value: object) -> bool:
        if value is not None and not isinstance(value, str):
            return False
        return bool(self.contains(pa.array([value], pa.string()))[0])

    @staticmethod
    def run_keys(arr: pa.Array) -> np.ndarray:
        """The run keys of ``arr``'s ids (:data:`KEY`)."""
        return hash_strings(arr).astype(KEY)

    # --- lookups -------------------------------------------------------------------------------
    def contains(self, ids: Any) -> np.ndarray:
        """A boolean mask: which of ``ids`` are in the set."""
        arr = as_string_array(ids)
        h = self.run_keys(arr)
        found = self._contains(arr, h)
        self._last = (arr, h, found)
        return found.copy()

    def _contains(self, arr: pa.Array, h: np.ndarray) -> np.ndarray:
        self._store.check_open()
        found = np.zeros(len(arr), bool)
        if not self._runs or not len(arr):
            return found
        order = np.argsort(h)
        sorted_h = h[order]  # sorted keys: each binary search starts where the last one ended
        for run in self._runs:
            lo = np.empty(len(h), np.int64)
            lo[order] = np.searchsorted(run.hashes, sorted_h)
            np.minimum(lo, len(run) - 1, out=lo)
            cand = np.flatnonzero((run.hashes[lo] == h) & ~found)
            if not len(cand):
                continue
            eq = _equal(self._store.take(run.positions[lo[cand]]), arr.take(pa.array(cand)))
            found[cand[eq]] = True
            read: dict[int, pa.Array] = {}  # the segments the shared hashes need, read once
            for k in cand[~eq].tolist():  # a hash shared by other ids of the run: compare with each
                end = int(np.searchsorted(run.hashes, h[k], side="right"))
                found[k] = arr[k].as_py() in self._store.take(run.positions[int(lo[k]) + 1 : end], read).to_pylist()
        return found

    def intersection(self, ids: Any) -> set[str]:
        arr = as_string_array(ids)
        return set(arr.filter(pa.array(self.contains(arr))).to_pylist())

    def absent(self, ids: Any) -> list[str]:
        """The ids not in the set, in their order."""
        arr = as_string_array(ids)
        return arr.filter(pa.array(~self.contains(arr))).to_pylist()

    # --- updates -------------------------------------------------------------------------------
    def update(self, ids: Any) -> None:
        """Add ``ids`` (those already in the set, and repeats, are added once)."""
        arr = as_string_array(ids)
        last, self._last = self._last, None
        if not len(arr):
            return
        if last is not None and last[0] is arr and len(pc.unique(arr)) == len(arr):
            _, h, found = last  # looked up just before (and the set has not changed since)
            new = ~found
        else:
            arr = pc.unique(arr)
            h = self.run_keys(arr)
            new = ~self._contains(arr, h)
        if not new.all():
            keep = np.flatnonzero(new)
            arr, h = arr.take(pa.array(keep)), h[keep]
        if not len(arr):
            return
        if len(self._store) + len(arr) > np.iinfo(POSITION).max:
            raise OverflowError(f"an IdSet holds at most {np.iinfo(POSITION).max} ids")
        positions = self._store.append(arr)
        order = np.argsort(h, kind="stable")
        self._runs.append(_Run(h[order], positions[order].astype(POSITION)))
        self._len += len(arr)
        while len(self._runs) > 1 and len(self._runs[-2]) <= len(self._runs[-1]):
            b, a = self._runs.pop(), self._runs.pop()
            self._runs.append(merge_runs(a, b))

    def add(self, value: str) -> None:
        self.update([value])


def duplicates(ids: Any) -> set[str]:
    """The ids that occur more than once in ``ids``."""
    arr = as_string_array(ids)
    if len(arr) < 2:
        return set()
    counts = pc.value_counts(arr)
    return set(counts.field("values").filter(pc.greater(counts.field("counts"), 1)).to_pylist())


def absent_from(seen: IdSet | set[str] | Iterable[str], ids: Any) -> list[str]:
    """The ids not in ``seen`` (an :class:`IdSet` or any set of str), in their order."""
    if isinstance(seen, IdSet):
        return seen.absent(ids)
    values = ids.to_pylist() if isinstance(ids, (pa.Array, pa.ChunkedArray)) else list(ids)
    return [i for i in values if i not in seen]


__all__ = ["IdSet", "IdStore", "absent_from", "duplicates", "hash_strings"]
