"""The rows one Lance table version removed and added against another, read from fragment metadata.

Contract: :func:`table_delta` returns exactly the rows ``after`` lacks of ``before`` (removed) and
the rows ``before`` lacks of ``after`` (added), or raises :class:`NotIncremental` when that cannot
be told cheaply: a fragment both versions share has other data files (a compaction, a column
change), or more than ``max_changed`` rows changed.

How. Lance never reuses a fragment id, and a row keeps its address (fragment id, offset) until its
fragment is rewritten. Between two versions whose shared fragments have the same data files, the
removed rows are the old version's addresses the new one lacks, and the added rows the new
version's addresses the old one lacks (an update is a removal plus an addition). Only the fragments
whose deletions differ are read, and only their addresses (no data file: 40 ms for a 1M-row table
whose every fragment changed); addresses ascend within a fragment, so the differences are binary
searches. The changed rows are then taken by position, in the asked columns only.

Used by the incremental stats of a dataset version (:mod:`pinlake.datasets.stats_delta`) and the
incremental lock of a row-wise recipe (:mod:`pinlake.recipes.delta`).

:func:`rows_kept` answers the question before it: did any commit since a version change the rows
at all? A compaction (``Rewrite``) and an index commit (``CreateIndex``) never do; any other commit
kept them when it left the fragments (their data files and deletions) and the schema as they were
(``compact_files`` first commits such a version, an operation pylance 14 does not name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lance
import numpy as np
import pyarrow as pa

from pinlake.storage.lance_io import read_transaction

#: commits past this many are not read one by one: the caller does the whole computation
MAX_COMMITS = 64


class NotIncremental(Exception):
    """The change cannot be read from the fragments cheaply (fragments rewritten, too many rows
    changed); the caller does the whole computation."""


@dataclass
class TableDelta:
    """The rows one table removed (from the old version) and added (in the new one), in ``columns``."""

    removed: pa.Table
    added: pa.Table


@dataclass
class Fragments:
    """A table version's fragments in scan order: id → (data files, deletion file), and the position
    of each fragment's first visible row (what :meth:`lance.LanceDataset.take` counts in)."""

    ds: lance.LanceDataset
    files: dict[int, tuple[tuple[str, ...], Any]]
    start: dict[int, int]
    rows: dict[int, int]

    @classmethod
    def of(cls, ds: lance.LanceDataset) -> Fragments:
        files, start, rows, at = {}, {}, {}, 0
        for f in ds.get_fragments():
            meta = f.metadata
            deletion = meta.deletion_file
            files[f.fragment_id] = (tuple(d.path for d in meta.files), deletion and deletion.asdict())
            start[f.fragment_id] = at
            rows[f.fragment_id] = meta.physical_rows - (deletion.num_deleted_rows if deletion else 0)
            at += rows[f.fragment_id]
        return cls(ds, files, start, rows)

    def addresses(self, fragment: int) -> np.ndarray:
        """The row addresses of one fragment's visible rows, in order."""
        frag = self.ds.get_fragment(fragment)
        if frag is None:  # pragma: no cover  (ids come from this version's own fragment list)
            raise NotIncremental(f"no fragment {fragment}")
        scan = self.ds.scanner(columns=[], with_row_address=True, fragments=[frag])
        return scan.to_table().column("_rowaddr").to_numpy()


def missing(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The indices of the values of ``x`` not in ``y`` (both ascending, as a fragment's addresses are)."""
    if not len(y):
        return np.arange(len(x))
    at = np.minimum(np.searchsorted(y, x), len(y) - 1)
    return np.flatnonzero(y[at] != x)


def table_delta(before: lance.LanceDataset, after: lance.LanceDataset, columns: list[str], max_changed: int) -> TableDelta:
    """The rows ``after`` removed from ``before`` and added to it (module doc); raises
    :class:`NotIncremental` when a shared fragment's data files differ or more than ``max_changed``
    rows changed. Only the fragments whose deletions differ are read, and only their addresses."""
    old, new = Fragments.of(before), Fragments.of(after)
    shared = old.files.keys() & new.files.keys()
    if any(old.files[f][0] != new.files[f][0] for f in shared) or (old.files and not shared):
        raise NotIncremental("fragments rewritten")
    removed: list[np.ndarray] = []
    added: list[np.ndarray] = []
    for f in old.files:
        if f not in new.files:
            removed.append(old.start[f] + np.arange(old.rows[f]))
        elif old.files[f] != new.files[f]:  # rows deleted from it
            a, b = old.addresses(f), new.addresses(f)
            removed.append(old.start[f] + missing(a, b))
            added.append(new.start[f] + missing(b, a))  # none unless Lance un-deletes: kept exact anyway
    for f in new.files.keys() - old.files.keys():
        added.append(new.start[f] + np.arange(new.rows[f]))
    rem = np.concatenate(removed) if removed else np.array([], dtype=np.int64)
    add = np.concatenate(added) if added else np.array([], dtype=np.int64)
    if len(rem) + len(add) > max_changed:
        raise NotIncremental("too many rows changed")
    return TableDelta(before.take(rem, columns=columns), after.take(add, columns=columns))


def compactions_since(ds: lance.LanceDataset, since: int, max_commits: int = MAX_COMMITS) -> list[int] | None:
    """The versions after ``since`` (up to ``ds``'s) that a compaction (``Rewrite``) made, ascending:
    between two of them, :func:`table_delta` reads the change from the fragments. None when a
    commit's record does not read (pylance 14 fails on some compactions: module doc), there are
    more than ``max_commits`` of them, ``since`` is not older than ``ds``'s version, or a version
    between is cleaned up."""
    if not 0 < since <= ds.version or ds.version - since > max_commits:
        return None
    found: list[int] = []
    try:
        for v in range(since + 1, ds.version + 1):
            tx = read_transaction(ds, v)
            if tx is None:
                return None
            if isinstance(tx.operation, lance.LanceOperation.Rewrite):
                found.append(v)
    except (OSError, ValueError):  # a version between was cleaned up
        return None
    return found


def rows_kept(ds: lance.LanceDataset, since: int, max_commits: int = MAX_COMMITS) -> bool:
    """Whether version ``since`` of the table ``ds`` holds the rows ``ds`` holds (module doc): every
    commit after it kept them. False when unsure: ``since`` not older than ``ds``'s version, more
    than ``max_commits`` commits between, or a version between no longer readable (cleaned up)."""
    if since == ds.version:
        return True
    if not 0 < since < ds.version or ds.version - since > max_commits:
        return False
    keeping = (lance.LanceOperation.Rewrite, lance.LanceOperation.CreateIndex)
    try:
        for v in range(since + 1, ds.version + 1):
            tx = read_transaction(ds, v)
            if tx is not None and isinstance(tx.operation, keeping):
                continue
            before, after = ds.checkout_version(v - 1), ds.checkout_version(v)
            if before.schema != after.schema or Fragments.of(before).files != Fragments.of(after).files:
                return False
    except (OSError, ValueError):  # a version between was cleaned up: the rows cannot be compared
        return False
    return True


__all__ = ["Fragments", "MAX_COMMITS", "NotIncremental", "TableDelta", "compactions_since", "missing", "rows_kept", "table_delta"]
