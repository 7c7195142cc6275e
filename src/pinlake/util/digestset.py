"""DigestSet: an exact set of sha256 digests at 32 bytes a digest (the objects an ingest has seen).

A Python ``set`` of 64-character hex strings costs ≈ 120 bytes a digest: ≈ 120 MB for an ingest
of a million new files. Here each batch of added digests becomes a *run*: their raw 32 bytes as a
sorted numpy ``S32`` array. A run is merged into the one before it once it is as large, so a set
of n digests has O(log n) runs and each digest is copied O(log n) times. A lookup is one binary
search per run (vectorized). Fixed-width bytes compare exactly (all 32 bytes, NULs included).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa

WIDTH = 32  # bytes of a sha256 digest
_HEX = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


def digests(hexes: Iterable[str] | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Hex sha256 digests (64 characters each) as a numpy ``S32`` array of their bytes.

    An Arrow string array is decoded from its buffers (no Python string per row)."""
    if isinstance(hexes, pa.ChunkedArray):
        parts = [digests(c) for c in hexes.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, f"S{WIDTH}")
    if isinstance(hexes, pa.Array):
        n = len(hexes)
        if n == 0:
            return np.zeros(0, f"S{WIDTH}")
        if hexes.null_count:
            raise ValueError("a sha256 digest is null")
        offsets = np.frombuffer(hexes.buffers()[1], np.int32)[hexes.offset : hexes.offset + n + 1]
        if not (np.diff(offsets) == 2 * WIDTH).all():
            raise ValueError(f"a sha256 digest is not {2 * WIDTH} hex characters")
        chars = np.frombuffer(hexes.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    else:
        text = "".join(hexes).encode("ascii")
        if len(text) % (2 * WIDTH):
            raise ValueError(f"a sha256 digest is not {2 * WIDTH} hex characters")
        chars = np.frombuffer(text, np.uint8)
    nibbles = _HEX[chars]
    if (nibbles == 255).any():
        raise ValueError("a sha256 digest has a character that is not hex")
    raw = (nibbles[0::2] << 4) | nibbles[1::2]
    return raw.view(f"S{WIDTH}")


class DigestSet:
    """An exact set of sha256 digests, given as hex (see the module doc)."""

    def __init__(self, hexes: Iterable[str] | pa.Array | None = None) -> None:
        self._runs: list[np.ndarray] = []
        self._len = 0
        if hexes is not None:
            self.update(hexes)

    def __len__(self) -> int:
        return self._len

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and len(value) == 2 * WIDTH and bool(self.contains([value])[0])

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self._runs)

    def contains(self, hexes: Iterable[str] | pa.Array | np.ndarray) -> np.ndarray:
        """A boolean mask: which of the digests are in the set."""
        keys = hexes if isinstance(hexes, np.ndarray) else digests(hexes)
        found = np.zeros(len(keys), bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, keys), len(run) - 1)
            found |= run[pos] == keys
        return found

    def update(self, hexes: Iterable[str] | pa.Array | np.ndarray) -> None:
        """Add digests (those already in the set, and repeats, are added once)."""
        keys = hexes if isinstance(hexes, np.ndarray) else digests(hexes)
        if not len(keys):
            return
        keys = np.unique(keys)  # sorted, without repeats
        keys = keys[~self.contains(keys)]
        if not len(keys):
            return
        self._runs.append(keys)
        self._len += len(keys)
        while len(self._runs) > 1 and len(self._runs[-2]) <= len(self._runs[-1]):
            b, a = self._runs.pop(), self._runs.pop()
            merged = np.concatenate([a, b])
            merged.sort(kind="stable")
            self._runs.append(merged)


__all__ = ["DigestSet", "digests"]
