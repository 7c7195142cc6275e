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
at all? A compaction (``Rewrite``) and an index commit (``CreateIndex``) never do; any other named
operation may; an unnamed one (``compact_files`` first commits one, an operation pylance 14 does
not name) kept them when it left the fragments (their data files with the fields they hold, their
deletions and rows) and the schema (its metadata too) as they were. pylance 14 cannot read the
record of a compaction that remapped the indexes of a table with deleted rows: the caller may name
such versions (``compacted``, from ``pinlake maintain``'s own note).
"""

from __future__ import annotations

from collections.abc import Collection
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


def compactions_since(
    ds: lance.LanceDataset, since: int, compacted: Collection[int] = frozenset(), max_commits: int = MAX_COMMITS
) -> list[int] | None:
    """The versions after ``since`` (up to ``ds``'s) that a compaction (``Rewrite``) made, ascending:
    between two of them, :func:`table_delta` reads the change from the fragments. ``compacted``:
    versions known to be compactions whose record may not read (``pinlake maintain``'s own note,
    :meth:`pinlake.lake.lance_tables.Store.compactions`). None when another commit's record does
    not read (module doc), there are more than ``max_commits`` of them, ``since`` is not older than
    ``ds``'s version, or a version between is cleaned up."""
    if not 0 < since <= ds.version or ds.version - since > max_commits:
        return None
    found: list[int] = []
    try:
        for v in range(since + 1, ds.version + 1):
            tx = read_transaction(ds, v)
            if tx is None and v not in compacted:
                return None
            if tx is None or isinstance(tx.operation, lance.LanceOperation.Rewrite):
                found.append(v)
    except (OSError, ValueError, RuntimeError):  # a version between was cleaned up
        return None
    return found


def rows_kept(ds: lance.LanceDataset, since: int, compacted: Collection[int] = frozenset(), max_commits: int = MAX_COMMITS) -> bool:
    """Whether version ``since`` of the table ``ds`` holds the rows ``ds`` holds (module doc): every
    commit after it kept them. ``compacted``: as for :func:`compactions_since`. False when unsure:
    ``since`` not older than ``ds``'s version, more than ``max_commits`` commits between, or a
    version between no longer readable (cleaned up)."""
    if since == ds.version:
        return True
    if not 0 < since < ds.version or ds.version - since > max_commits:
        return False
    keeping = (lance.LanceOperation.Rewrite, lance.LanceOperation.CreateIndex)
    try:
        for v in range(since + 1, ds.version + 1):
            tx = read_transaction(ds, v)
            if (tx is None and v in compacted) or (tx is not None and isinstance(tx.operation, keeping)):
                continue
            if tx is not None and type(tx.operation) is not lance.LanceOperation.BaseOperation:
                return False  # a named operation other than those may change values in place
            # an unnamed one (compact_files first commits one) or an unreadable record: the same
            # fragments, whole (data files and the fields they hold, deletions, rows), and schema
            before, after = ds.checkout_version(v - 1), ds.checkout_version(v)
            if not before.schema.equals(after.schema, check_metadata=True) or _fragments(before) != _fragments(after):
                return False
    except (OSError, ValueError, RuntimeError):  # a version between was cleaned up: the rows cannot be compared
        return False
    return True


def _fragments(ds: lance.LanceDataset) -> list[dict[str, Any]]:
    return [f.metadata.to_json() for f in ds.get_fragments()]


__all__ = ["Fragments", "MAX_COMMITS", "NotIncremental", "TableDelta", "compactions_since", "missing", "rows_kept", "table_delta"]
