"""Scalar indexes on a Lance table, made once it is large enough and kept current by threshold.

Contract: :func:`ensure_indexes` leaves ``ds``'s table with every wanted index when it has at
least ``min_rows`` rows, and brings an index up to date when more than ``stale_rows`` of the
table's rows are in fragments it does not cover. Each index written is one commit of its own (a
new table version with the same rows and fragments), followed by ``commit_point(f"{point}
indexed")``. A lookup is always right whatever the index's state: Lance searches the index and
scans the fragments it does not cover. So an index that cannot be written (a full disk, a store
that stops answering, a concurrent commit) does not fail the write that asked for it: the
``pinlake.indexes`` logger warns in one line, the indexes written before it stay, and the next
write or ``pinlake maintain`` tries again.

Why thresholds. Under about 50,000 rows a scan of the column takes a few milliseconds, as the
index lookup does; at a million a BTREE lookup of one key takes 1–2 ms against 70 ms for the scan.
Bringing an index up to date rewrites it (≈ 1 s for four indexes at a million rows), so it is done
when enough rows wait, not at every write (bench/NOTES.md).

Why segments. Lance sorts a BTREE's keys in memory: at a million 64-character digests that held
about 180 MB more than the table's reading did, the peak of a whole ingest. A BTREE over more than
:data:`SEGMENT_ROWS` rows is therefore built as segments, each over a run of whole fragments of
about that many rows (``create_index_uncommitted``), and the segments are committed together as
one index (``commit_existing_index_segments``): one commit, as before, and the memory of one
segment's sort. A lookup asks each segment (four at a million rows: an IN list of 100 digests
took 136 ms against 97 ms on one segment). An update (``optimize_indices``) folds the new
fragments into the index's last segment, and its sort holds the new rows: so when more than
SEGMENT_ROWS rows wait, the index is built again in segments instead (one commit, replacing it).
An index made while the table was small stays one segment until then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal

import lance

from pinlake.errors import first_line
from pinlake.storage.lance_io import lance_call
from pinlake.util.faults import commit_point

log = logging.getLogger("pinlake.indexes")

IndexKind = Literal["BTREE", "BITMAP"]

#: rows from which a table gets its indexes
INDEX_ROWS = 50_000
#: rows not covered by an index after which it is brought up to date
STALE_ROWS = 100_000
#: rows per segment of a BTREE index built on a larger table (module doc)
SEGMENT_ROWS = 250_000


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
    uncovered = {name: sum(n for f, n in rows.items() if f not in covered[name]) for name in wanted if name in covered}
    stale = [name for name, n in uncovered.items() if n > stale_rows]
    # more new rows than a segment: built again in segments, not folded into the last one (module doc)
    rebuilt = [name for name in stale if wanted[name][1] == "BTREE" and uncovered[name] > SEGMENT_ROWS]
    folded = [name for name in stale if name not in rebuilt]
    missing = {name: spec for name, spec in wanted.items() if name not in covered}
    steps: list[tuple[list[str], Callable[[], None]]] = []
    if folded:
        steps.append((folded, partial(ds.optimize.optimize_indices, index_names=folded)))
    steps += [([name], partial(create_index, ds, wanted[name][0], wanted[name][1], name, rows)) for name in rebuilt]
    if missing and sum(rows.values()) >= max(1, min_rows):
        steps += [([name], partial(create_index, ds, column, kind, name, rows)) for name, (column, kind) in missing.items()]
    written: list[str] = []
    for names, step in steps:
        try:
            with lance_call(ds.uri):  # on S3: refused at once while the store does not answer, noted when it stops
                step()
        except (OSError, RuntimeError, ValueError) as exc:  # the write stands; see the module doc
            log.warning(
                "%s: index %s not written (%s: %s); lookups scan until the next write or `pinlake maintain` writes it",
                point,
                ", ".join(names),
                type(exc).__name__,
                first_line(exc),
            )
            break
        commit_point(f"{point} indexed")
        written += names
    return written


def segments(rows: Mapping[int, int], per: int) -> list[list[int]]:
    """Runs of consecutive fragment ids (``rows``: {fragment id: rows}, in table order) of at least
    ``per`` rows each, the last one what is left."""
    runs: list[list[int]] = [[]]
    held = 0
    for fragment, n in rows.items():
        if held >= per:
            runs.append([])
            held = 0
        runs[-1].append(fragment)
        held += n
    return [run for run in runs if run]


def create_index(ds: lance.LanceDataset, column: str, kind: IndexKind, name: str, rows: Mapping[int, int]) -> None:
    """Create (or replace) the index ``name`` over ``column`` in one commit: a BTREE over more than
    :data:`SEGMENT_ROWS` rows as segments of about that many rows (module doc), anything else whole."""
    runs = segments(rows, SEGMENT_ROWS) if kind == "BTREE" else []
    if len(runs) < 2:
        ds.create_scalar_index(column, kind, name=name, replace=True)
        return
    built: list[Any] = [ds.create_index_uncommitted(column, kind, name=name, fragment_ids=run, replace=True) for run in runs]
    ds.commit_existing_index_segments(name, column, built)


__all__ = [
    "INDEX_ROWS",
    "IndexKind",
    "SEGMENT_ROWS",
    "STALE_ROWS",
    "coverage",
    "create_index",
    "ensure_indexes",
    "segments",
    "visible_rows",
]
