"""The coordinator's commit as the number of fragments grows (the serial part of a distributed build).

``python -m bench.commit_scale --fragments 10 100 1000 4000``

Writes K uncommitted fragments (``lance.fragment.write_fragments``, 100 rows each, as shards do),
ships their metadata through JSON (as shard results do), then times one ``LanceOperation.Overwrite``
commit of all K, the manifest size, ``count_rows`` and the first scan of the committed version.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import lance
import pyarrow as pa
from lance.fragment import FragmentMetadata, write_fragments


def run(k: int, work: Path) -> dict:
    uri = str(work / f"t{k}.lance")
    shutil.rmtree(uri, ignore_errors=True)
    schema = pa.schema([("id", pa.string()), ("x", pa.float64())])
    frags = []
    t0 = time.perf_counter()
    for i in range(k):
        tab = pa.table({"id": [f"{i}-{j}" for j in range(100)], "x": [float(j) for j in range(100)]}, schema=schema)
        frags.extend(write_fragments(tab, uri, schema=schema))
    write_s = time.perf_counter() - t0
    shipped = [json.dumps(f.to_json()) for f in frags]
    t0 = time.perf_counter()
    back = [FragmentMetadata.from_json(j) for j in shipped]
    tx = lance.Transaction(read_version=0, operation=lance.LanceOperation.Overwrite(schema, back), transaction_properties={"k": str(k)})
    lance.LanceDataset.commit(uri, tx)
    commit_s = time.perf_counter() - t0
    manifest = max((work / f"t{k}.lance" / "_versions").glob("*.manifest"), key=os.path.getsize)
    t0 = time.perf_counter()
    rows = lance.dataset(uri).count_rows()
    count_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lance.dataset(uri).to_table(columns=["x"])
    scan_s = time.perf_counter() - t0
    return {
        "fragments": k,
        "rows": rows,
        "write_s": round(write_s, 3),
        "json_bytes": sum(map(len, shipped)),
        "commit_s": round(commit_s, 4),
        "manifest_bytes": manifest.stat().st_size,
        "count_rows_s": round(count_s, 4),
        "scan_s": round(scan_s, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fragments", type=int, nargs="+", default=[10, 100, 1000, 4000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/pinlake-commit-bench"))
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    for k in a.fragments:
        print(json.dumps(run(k, a.work)), flush=True)


if __name__ == "__main__":
    main()
