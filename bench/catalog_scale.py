"""`pinlake sql` over a big catalog: 100 datasets × 1,000 versions, made by a generator.

``python -m bench.catalog_scale [--datasets 100] [--versions 1000] [--tables 6] [--fragments 32]``

Writes the catalog of a library as a long history leaves it (outside the measure): for each of
``--datasets`` datasets, ``--versions`` dataset versions (``catalog.lineage``), each with a new
version of each of its ``--tables`` tables (``catalog.versions`` and ``catalog.members``: 600k rows
each at the defaults), a tag every 10 versions, and one retention cleanup per dataset, every table
in ``--fragments`` fragments (the most an append leaves before it compacts). Then times, each in a
fresh process through ``pinlake sql --json`` (the whole command) and inside the process (the query):

- a group-by over ``catalog.versions`` (versions and rows per dataset);
- the lineage of one version: its ``catalog.lineage`` row joined with its tables' ``catalog.versions`` rows.

Prints the median of 3 of each, in seconds; the target (issue 19) is at most 1 s. Then, in this
process, what a write's catalog append reads: the keys of one dataset version in ``versions``,
``members`` and ``dataset_versions``, before and after the tables get their ``dataset`` index (as
``pinlake maintain`` gives them), median of 5, in ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TABLES = ("item", "image", "objects", "keypoints", "source", "embedding")

GROUP_BY = (
    "SELECT dataset, count(*) AS versions, sum(rows) AS rows, max(timestamp) AS last "
    "FROM catalog.versions GROUP BY dataset ORDER BY dataset"
)


def lineage_query(dataset: str, version: int) -> str:
    return (
        'SELECT l.dataset, l.dataset_version, l.lock_hash, l.lake_version, l.run_id, m."table", v.version, v.rows, v.operation '
        "FROM catalog.lineage l JOIN catalog.members m USING (dataset, dataset_version) "
        'JOIN catalog.versions v ON v.dataset = m.dataset AND v."table" = m."table" AND v.version = m.version '
        f"WHERE l.dataset = '{dataset}' AND l.dataset_version = {version} ORDER BY m.\"table\""
    )


def write_catalog(library: Path, datasets: int, versions: int, tables: int, fragments: int) -> dict[str, int]:
    """The catalog tables of ``datasets`` × ``versions`` (columnar: no Python row per version)."""
    import lance

    from pinlake.catalog.store import SCHEMAS, Catalog

    catalog = Catalog(library).init()
    names = np.array([f"ds_{d:03d}" for d in range(datasets)], dtype=object)
    t0 = np.datetime64("2026-01-01T00:00:00", "us")
    n = datasets * versions
    ds_of = np.repeat(names, versions)
    number = np.tile(np.arange(1, versions + 1, dtype=np.int64), datasets)
    when = t0 + (np.arange(n, dtype=np.int64) * 60_000_000).astype("timedelta64[us]")
    run = pa.array([f"{i:032x}" for i in range(n)])
    lock = pa.array([f"{(i * 7919) % (1 << 64):064x}" for i in range(n)])
    lake_version = pc.cast(pa.array(number), pa.string())
    tabs = list(TABLES[:tables])
    lineage_json = pc.binary_join_element_wise(
        pa.array(['{"pinlake.lake_version": "'] * n), lake_version, pa.array(['", "pinlake.user": "bench"}'] * n), ""
    )
    empty = pa.nulls(n, pa.string())
    out: dict[str, pa.Table] = {}
    out["dataset_versions"] = pa.table(
        {
            "dataset": pa.array(ds_of, pa.string()),
            "dataset_version": number,
            "created_at": pa.array(when),
            "operation": pa.array(np.where(number == 1, "create", "update"), pa.string()),
            "tables": pa.array([json.dumps(dict.fromkeys(tabs, 0))] * n),  # shape only
            "rows": pa.array([json.dumps(dict.fromkeys(tabs, 1000))] * n),
            "message": empty,
            "run_id": run,
            "flow_run_id": empty,
            "lock_hash": lock,
            "lake_version": lake_version,
            "recipe_hash": empty,
            "code_version": empty,
            "user": pa.array(["bench"] * n),
            "lineage": lineage_json,
        },
        schema=SCHEMAS["dataset_versions"],
    )
    k = len(tabs)
    rows = n * k
    per = lambda col: np.repeat(col, k)  # noqa: E731 - one row per (dataset version, table)
    table_col = pa.array(np.tile(np.array(tabs, dtype=object), n), pa.string())
    tver = np.repeat(number, k)  # table version = dataset version (each version writes every table)
    out["members"] = pa.table(
        {"dataset": pa.array(per(ds_of), pa.string()), "dataset_version": tver, "table": table_col, "version": tver},
        schema=SCHEMAS["members"],
    )
    out["versions"] = pa.table(
        {
            "dataset": pa.array(per(ds_of), pa.string()),
            "table": table_col,
            "version": tver,
            "timestamp": pa.array(per(when)),
            "operation": pa.array(np.where(tver == 1, "create", "update"), pa.string()),
            "rows": np.full(rows, 1000, dtype=np.int64),
            "schema_hash": pa.array(["0" * 16] * rows),
            "message": pa.nulls(rows, pa.string()),
            "run_id": run.take(pa.array(np.repeat(np.arange(n), k))),
            "flow_run_id": pa.nulls(rows, pa.string()),
            "lock_hash": lock.take(pa.array(np.repeat(np.arange(n), k))),
            "lake_version": pa.array(per(np.asarray(lake_version.to_numpy(zero_copy_only=False), dtype=object)), pa.string()),
            "recipe_hash": pa.nulls(rows, pa.string()),
            "code_version": pa.nulls(rows, pa.string()),
            "user": pa.array(["bench"] * rows),
            "lineage": pa.nulls(rows, pa.string()),
            "catalogued_at": pa.array(per(when)),
        },
        schema=SCHEMAS["versions"],
    )
    tagged = number % 10 == 0
    out["tags"] = pa.table(
        {
            "dataset": pa.array(ds_of[tagged], pa.string()),
            "name": pa.array([f"v{v}" for v in number[tagged]]),
            "dataset_version": number[tagged],
            "tables": pa.array(["{}"] * int(tagged.sum())),
            "created_at": pa.array(when[tagged]),
            "user": pa.array(["bench"] * int(tagged.sum())),
        },
        schema=SCHEMAS["tags"],
    )
    out["cleanups"] = pa.table(
        {
            "dataset": pa.array(np.repeat(names, k), pa.string()),
            "table": pa.array(np.tile(np.array(tabs, dtype=object), datasets), pa.string()),
            "cutoff": pa.array(np.repeat(when[:datasets], k)),
            "older_than": pa.array(["30d"] * datasets * k),
            "removed": pa.array([json.dumps(list(range(1, 11)))] * datasets * k),
            "kept": pa.array(["[]"] * datasets * k),
            "bytes_removed": np.zeros(datasets * k, dtype=np.int64),
            "cleaned_at": pa.array(np.repeat(when[:datasets], k)),
            "user": pa.array(["bench"] * datasets * k),
        },
        schema=SCHEMAS["cleanups"],
    )
    for name, table in out.items():
        per_fragment = max(1, -(-table.num_rows // fragments))
        lance.write_dataset(
            table, catalog.uri(name), mode="create", max_rows_per_file=per_fragment, max_rows_per_group=min(per_fragment, 1024)
        )
    return {name: t.num_rows for name, t in out.items()}


def timed_cli(library: Path, query: str) -> tuple[float, float, int]:
    """(whole process s, query s inside it, rows) of ``pinlake sql QUERY --json``."""
    code = (
        "import sys, time, json\nt0 = time.perf_counter()\nfrom pinlake.library.sql import sql\n"
        "t = time.perf_counter(); out = sql(sys.argv[1], library=sys.argv[2]); op = time.perf_counter() - t\n"
        "print(json.dumps({'op': op, 'rows': out.num_rows}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, query, str(library)], capture_output=True, text=True, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    cli = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pinlake", "sql", query, "--library", str(library), "--json"], capture_output=True, check=True)
    cli = time.perf_counter() - cli
    return cli, float(got["op"]), int(got["rows"])


def key_reads(library: Path, dataset: str, version: int) -> dict[str, dict[str, float]]:
    """{table: {"scan": ms, "indexed": ms}} of the keys a catalog append of one version reads."""
    from pinlake.catalog.store import Catalog

    catalog = Catalog(library)
    reads = {
        "versions": lambda: catalog.keys("versions", dataset, None, [version]),
        "members": lambda: catalog.keys("members", dataset, [version]),
        "dataset_versions": lambda: catalog.keys("dataset_versions", dataset, [version]),
    }

    def ms(read: object) -> float:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            read()  # type: ignore[operator]
            times.append(time.perf_counter() - t)
        return round(statistics.median(times) * 1000, 1)

    out = {table: {"scan": ms(read)} for table, read in reads.items()}
    with catalog.locked():
        for table in reads:
            catalog.index(table, min_rows=1)
    for table, read in reads.items():
        out[table]["indexed"] = ms(read)
    return out


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--tables", type=int, default=6)
    parser.add_argument("--fragments", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pinlake-catalog-scale-"))
    try:
        library = root / "library"
        t = time.perf_counter()
        sizes = write_catalog(library, args.datasets, args.versions, args.tables, args.fragments)
        made = time.perf_counter() - t
        mid = f"ds_{args.datasets // 2:03d}"
        queries = {"group-by over catalog.versions": GROUP_BY, "lineage of one version": lineage_query(mid, args.versions // 2)}
        report: dict[str, object] = {"rows": sizes, "generated_s": round(made, 1)}
        for label, q in queries.items():
            runs = [timed_cli(library, q) for _ in range(args.repeat)]
            report[label] = {
                "pinlake sql (whole process) s": round(statistics.median(r[0] for r in runs), 3),
                "query s": round(statistics.median(r[1] for r in runs), 3),
                "rows": runs[0][2],
            }
        report["append's key reads, ms"] = key_reads(library, mid, args.versions // 2)
        print(json.dumps(report, indent=2))
        return report
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
