"""The lake's lookups with and without its scalar indexes (issue 19), on a lake an ingest made.

``python -m bench.index_bench --library bench/results/ingest_scale/n1000000/pinlake/library [--dataset scale] [--reps 5]``

The lookups an ingest and a read make (:mod:`pinlake.lake.upload`, :mod:`pinlake.lake.lake`):

- the latest rows of 1 and of 1,000 object names (``is_latest = true AND object_name IN …``: the
  first batch of an ingest);
- the rows of 1,000 ids (``id IN …``: the rows an ingest replaces, a processing's rows);
- the objects of 1,000 digests (``sha256 IN …``: an ingest's dedupe, a blob read);
- with ``--dataset``, a dataset's items by 1 and 1,000 ids and a view's rows by ``item_ref.id`` (an
  item's page, an annotation save, a CRUD write), at its latest version.

Each is timed in this process, the median of ``--reps``, once as Lance plans it (the index, plus a
scan of the fragments it does not cover) and once with ``use_scalar_index=False`` (a scan of the
column). The lake is read, never written; when it has no index yet (under ``INDEX_ROWS`` rows, or an
ingest older than the indexes), ``--create`` makes them first (``pinlake maintain`` does the same)
and times that.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from functools import partial
from pathlib import Path

import lance

from pinlake.datasets.tables import table_uri
from pinlake.datasets.versions import VersionLog
from pinlake.lake.lance_tables import DATA, INDEXES, OBJECTS, Store
from pinlake.layout import LAKE_DIR
from pinlake.storage import lance_indexes
from pinlake.util.sqltext import sql_in


def timed(fn, reps: int) -> tuple[float, int]:
    """(median ms, rows) of ``fn`` over ``reps`` calls, after one warm-up call."""
    rows = fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), rows


def count(ds, columns: list[str], where: str, use_index: bool) -> int:
    """Rows of one lookup, read in ``columns``, through the indexes or by a scan."""
    return ds.to_table(columns=columns, filter=where, use_scalar_index=use_index).num_rows


def lookups(store: Store, seed: int = 0) -> dict[str, tuple[str, str, list[str], str]]:
    """{label: (table, column, values, extra filter)} of the measured lookups."""
    rng = random.Random(seed)
    data = store.head(DATA)
    n = data.count_rows()
    picks = sorted(rng.sample(range(n), min(1000, n)))
    rows = data.take(picks, columns=["id", "object_name", "sha256"])
    names, ids, shas = (sorted(set(rows[c].to_pylist())) for c in ("object_name", "id", "sha256"))
    return {
        "latest rows of 1 name": (DATA, "object_name", names[:1], "is_latest = true"),
        f"latest rows of {len(names):,} names": (DATA, "object_name", names, "is_latest = true"),
        f"rows of {len(ids):,} ids": (DATA, "id", ids, ""),
        f"objects of {len(shas):,} digests": (OBJECTS, "sha256", shas, ""),
    }


def measure(library: Path, reps: int, create: bool) -> list[tuple[str, float, float, int]]:
    """[(lookup, ms with the index, ms scanning, rows)] of :func:`lookups` on the library's lake."""
    store = Store(library / LAKE_DIR)
    if not store.exists(DATA):
        raise SystemExit(f"{store.root}: no lake here (run `python -m bench.ingest_scale` first)")
    for table in (DATA, OBJECTS):
        have = {ix.name for ix in store.head(table).describe_indices()}
        if not set(INDEXES[table]) <= have:
            if not create:
                raise SystemExit(f"{table}: no index yet (pass --create, or run `pinlake maintain`)")
            t0 = time.perf_counter()
            with store.write_lock():
                store.index(table, min_rows=1, stale_rows=0)
            print(f"{table}: indexes made in {time.perf_counter() - t0:.2f} s")
    out = []
    for label, (table, column, values, extra) in lookups(store).items():
        ds = store.head(table)
        where = sql_in(column, values) + (f" AND {extra}" if extra else "")
        cols = ["id", "object_name"] if table == DATA else ["sha256", "uri"]
        with_ix, rows = timed(partial(count, ds, cols, where, True), reps)
        scan, rows_scan = timed(partial(count, ds, cols, where, False), reps)
        assert rows == rows_scan, (label, rows, rows_scan)
        out.append((label, with_ix, scan, rows))
    return out


def measure_dataset(library: Path, name: str, reps: int) -> list[tuple[str, float, float, int]]:
    """[(lookup, ms with the index, ms scanning, rows)] of a dataset's reads by id, on the table
    versions of its latest version: items by id, view rows by ``item_ref.id``."""
    entry = VersionLog(library / name).latest()
    if entry is None:
        raise SystemExit(f"{library / name}: no dataset here")
    rng = random.Random(0)
    out = []
    items = lance.dataset(table_uri(library / name, "item"), version=entry.tables["item"])
    n = items.count_rows()
    ids = items.take(sorted(rng.sample(range(n), min(1000, n))), columns=["id"])["id"].to_pylist()
    refs = [t for t in entry.tables if entry.rows.get(t) and "item_ref" in lance.dataset(table_uri(library / name, t)).schema.names]
    largest = sorted(refs, key=lambda t: -entry.rows[t])[:1]  # the table with an item's rows to read by item
    asks = [("item", "id", ids[:1]), ("item", "id", ids)] + [(t, "item_ref.id", part) for t in largest for part in (ids[:1], ids)]
    for table, column, values in asks:
        ds = lance.dataset(table_uri(library / name, table), version=entry.tables[table])
        if not lance_indexes.coverage(ds):
            raise SystemExit(f"{name}: table {table} has no index (under INDEX_ROWS rows; `pinlake maintain` makes them)")
        where = sql_in(column, values)
        with_ix, rows = timed(partial(count, ds, ["id"], where, True), reps)
        scan, rows_scan = timed(partial(count, ds, ["id"], where, False), reps)
        assert rows == rows_scan, (table, column, rows, rows_scan)
        out.append((f"{name}.{table} by {len(values):,} {column}", with_ix, scan, rows))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", type=Path, required=True, help="a library whose lake an ingest made")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--create", action="store_true", help="make the indexes first when the lake has none")
    ap.add_argument("--dataset", action="append", default=[], help="also a dataset's reads by id (repeatable)")
    args = ap.parse_args()
    measured = measure(args.library, args.reps, args.create)
    for name in args.dataset:
        measured += measure_dataset(args.library, name, args.reps)
    print(f"lake of {Store(args.library / LAKE_DIR).head(DATA).count_rows():,} rows ({args.library})")
    print("| lookup | with the index | scan | ratio | rows |\n|---|---|---|---|---|")
    for label, with_ix, scan, rows in measured:
        print(f"| {label} | {with_ix:.1f} ms | {scan:.1f} ms | {with_ix / scan:.2f}× | {rows:,} |")


if __name__ == "__main__":
    main()
