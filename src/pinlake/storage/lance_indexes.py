"""Scalar indexes on a Lance table, made once it is large enough and kept current by threshold.

Contract: :func:`ensure_indexes` leaves ``ds``'s table with every wanted index when it has at
least ``min_rows`` rows, and brings an index up to date when more than ``stale_rows`` of the
table's rows are in fragments it does not cover. Each index written is one commit of its own (a
new table version with the same rows and fragments), followed by ``commit_point(f"{point}
indexed")``. A lookup is always right whatever the index's state: Lance searches the index and
scans the fragments it does not cover.

Why thresholds. Under about 50,000 rows a scan of the column takes a few milliseconds, as the
index lookup does; at a million a BTREE lookup of one key takes 1–2 ms against 70 ms for the scan.
Bringing an index up to date rewrites it (≈ 1 s for four indexes at a million rows), so it is done
when enough rows wait, not at every write (bench/NOTES.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import lance

from pinlake.util.faults import commit_point

IndexKind = Literal["BTREE", "BITMAP"]

#: rows from which a table gets its indexes
INDEX_ROWS = 50_000
#: rows not covered by an index after which it is brought up to date
STALE_ROWS = 100_000


def visible_rows(meta: Any) -> int:
    """A fragment's rows from its metadata alone (its physical rows less those deleted)."""
    deletion = meta.deletion_file
    return int(meta.physical_rows) - (int(deletion.num_deleted_rows) if deletion else 0)


def coverage(ds: lance.LanceDataset) -> dict[str, set[int]]:
    """{index name: ids of the fragments it covers}."""
    return {ix.name: {f for seg in ix.segments for f in seg.fragment_ids} for ix in ds.describe_indices()}


def ensure_indexes(
    ds: lance.LanceDataset,
    wanted: Mapping[str, tuple[str, IndexKind]],
    point: str,
    min_rows: int | None = None,
    stale_rows: int | None = None,
) -> list[str]:
    """Create the missing ``wanted`` indexes ({name: (column, "BTREE" | "BITMAP")}) once the table
    has ``min_rows`` rows (default INDEX_ROWS), and update those with more than ``stale_rows``
    uncovered rows (default STALE_ROWS); the names of the indexes written (module doc). ``ds`` is
    the table's head; call under the table's write lock."""
    min_rows = INDEX_ROWS if min_rows is None else min_rows
    stale_rows = STALE_ROWS if stale_rows is None else stale_rows
    covered = coverage(ds)
    rows = {f.fragment_id: visible_rows(f.metadata) for f in ds.get_fragments()}
    stale = [name for name in wanted if name in covered and sum(n for f, n in rows.items() if f not in covered[name]) > stale_rows]
    if stale:
        ds.optimize.optimize_indices(index_names=stale)
        commit_point(f"{point} indexed")
    missing = {name: spec for name, spec in wanted.items() if name not in covered}
    if not missing or sum(rows.values()) < max(1, min_rows):
        return stale
    for name, (column, kind) in missing.items():
        ds.create_scalar_index(column, kind, name=name)
        commit_point(f"{point} indexed")
    return stale + list(missing)


__all__ = ["INDEX_ROWS", "IndexKind", "STALE_ROWS", "coverage", "ensure_indexes", "visible_rows"]
