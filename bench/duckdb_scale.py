"""DuckDB SQL over Lance tables of 10^5..10^6+ rows: what `pinlake sql` and stats cost as datasets grow.

``python -m bench.duckdb_scale --rows 100000 1000000 [--work DIR]``

Writes an ``item``-like table (id, split, image_type, width) and a ``bbox``-like table (3 rows per
item: id, item id, category, 4 float coords) as Lance (in fragments of 2^20 rows, as builds write
them), then times, each the median of 3: Lance ``count_rows``; DuckDB ``count(*)``; a GROUP BY over
one column (what stats do per column); a point lookup by id through DuckDB and through Lance; a
join item ⋈ bbox grouped by split and category; and ``ds.to_table()`` of one column.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import duckdb
import lance
import numpy as np
import pyarrow as pa


def tables(n: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(0)
    ids = pa.array([f"{i:022x}" for i in range(n)])
    item = pa.table(
        {
            "id": ids,
            "split": pa.array(np.where(np.arange(n) % 5 == 0, "test", "train")),
            "image_type": pa.array(np.where(np.arange(n) % 2 == 0, "mri", "xray")),
            "width": pa.array(rng.integers(64, 1024, n)),
        }
    )
    m = 3 * n
    cats = np.array(["heart", "lung", "liver", "bone", "joint"])
    coords = pa.FixedSizeListArray.from_arrays(pa.array(rng.random(4 * m, dtype=np.float32)), 4)
    bbox = pa.table(
        {
            "id": pa.array([f"b{i:021x}" for i in range(m)]),
            "item_id": pa.array(np.repeat(ids.to_numpy(zero_copy_only=False), 3)),
            "category": pa.array(cats[rng.integers(0, 5, m)]),
            "coords": coords,
        }
    )
    return item, bbox


def timed(fn, reps: int = 3) -> float:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return round(statistics.median(out), 4)


def run(n: int, work: Path) -> dict:
    item, bbox = tables(n)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    lance.write_dataset(item, str(work / "item.lance"), max_rows_per_file=1 << 20)
    lance.write_dataset(bbox, str(work / "bbox.lance"), max_rows_per_file=1 << 20)
    write_s = round(time.perf_counter() - t0, 3)
    it, bb = lance.dataset(str(work / "item.lance")), lance.dataset(str(work / "bbox.lance"))
    con = duckdb.connect()
    con.register("item", it)
    con.register("bbox", bb)
    probe = f"{n // 2:022x}"
    res = {
        "rows_item": n,
        "rows_bbox": 3 * n,
        "write_s": write_s,
        "lance_count_rows_s": timed(lambda: it.count_rows()),
        "duckdb_count_s": timed(lambda: con.execute("SELECT count(*) FROM item").fetchall()),
        "duckdb_group_by_split_s": timed(lambda: con.execute("SELECT split, count(*) FROM item GROUP BY split").fetchall()),
        "duckdb_point_lookup_s": timed(lambda: con.execute("SELECT * FROM item WHERE id = ?", [probe]).fetchall()),
        "lance_point_lookup_s": timed(lambda: it.to_table(filter=f"id = '{probe}'")),
        "duckdb_join_group_s": timed(
            lambda: con.execute("SELECT i.split, b.category, count(*) FROM bbox b JOIN item i ON b.item_id = i.id GROUP BY ALL").fetchall()
        ),
        "lance_read_one_column_s": timed(lambda: it.to_table(columns=["width"])),
    }
    it.create_scalar_index("id", "BTREE")
    it = lance.dataset(str(work / "item.lance"))
    res["lance_point_lookup_btree_s"] = timed(lambda: it.to_table(filter=f"id = '{probe}'"))
    con.unregister("item")
    con.register("item", it)
    res["duckdb_point_lookup_btree_s"] = timed(lambda: con.execute("SELECT * FROM item WHERE id = ?", [probe]).fetchall())
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/pinlake-duckdb-bench"))
    a = ap.parse_args()
    for n in a.rows:
        print(json.dumps(run(n, a.work / str(n))), flush=True)


if __name__ == "__main__":
    main()
