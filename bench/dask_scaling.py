"""Build throughput of a lock: local (one process) vs Dask with 1 and 2 worker processes (and threads).

``python -m bench.dask_scaling --n 2000 10000 --reps 3 [--embed] [--work DIR]``

Per N: the synthetic data of :mod:`bench.data` (v1) is ingested once into a library, locked once with
``bench/recipe_bench.py``, then built repeatedly (``compute_stats=False``: the build itself, i.e.
read lock → rows → fragments → commit → version entry) with each runner, runs interleaved. Each Dask
cluster is started once per N (its start-up time is reported apart) and its workers import pinlake
before the first run (a long-lived cluster). Prints one JSON line per run and a median table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from bench import data

RECIPE = Path(__file__).with_name("recipe_bench.py")
CLUSTERS = {"dask-1w": (1, 1), "dask-2w": (2, 1), "dask-1w-2t": (1, 2)}


def _warm() -> bool:
    """Import what a shard needs (run once on every worker before the first measured build)."""
    import importlib

    for name in ("pinlake.datasets.builders.lockfile", "pinlake.datasets.shards", "pinlake.lake"):
        importlib.import_module(name)
    return True


def setup(work: Path, n: int) -> tuple[object, Path, dict]:
    import pinlake
    from pinlake.recipes.lock import lock_recipe

    root = data.generate(work / f"data-{n}", n)
    lib = pinlake.connect(work / f"lib-{n}")
    lake = lib.get_datalake()
    info: dict = {}
    if not lake.count():
        files = data.files_of(root / "v1")
        t0 = time.perf_counter()
        lake.upload_data([p for p, _, _ in files], metadata=[m for _, _, m in files], object_names=[o for _, o, _ in files], source="bench")
        info["ingest_s"] = round(time.perf_counter() - t0, 3)
    lock = lock_recipe(RECIPE, lake, locks_dir=lib.locks_path)
    return lib, lock.path, info


def run(n: int, reps: int, embed: bool, work: Path, runners: list[str]) -> dict:
    from distributed import Client, LocalCluster

    from pinlake.datasets.lock_build import build_from_lock

    lib, lock, info = setup(work, n)
    clusters: dict[str, tuple[object, object]] = {}
    for name in runners:
        if name in CLUSTERS:
            workers, threads = CLUSTERS[name]
            t0 = time.perf_counter()
            cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
                                   dashboard_address=None, silence_logs=40)
            client = Client(cluster, set_as_default=False)
            client.run(_warm)
            info[f"{name}_start_s"] = round(time.perf_counter() - t0, 3)
            clusters[name] = (cluster, client)
    samples: dict[str, list[float]] = {r: [] for r in runners}
    parts: dict[str, list[dict]] = {r: [] for r in runners}
    try:
        for rep in range(reps):
            for name in runners:
                ds_name = f"b_{name.replace('-', '_')}_{rep}"
                shutil.rmtree(lib.dataset_path(ds_name), ignore_errors=True)
                kw = {} if name == "local" else {"runner": "dask", "dask_client": clusters[name][1]}
                t0 = time.perf_counter()
                res = build_from_lock(lib, lock, ds_name, embed=embed, compute_stats=False, **kw)
                dt = time.perf_counter() - t0
                assert res.dataset.state.rows["item"] == n
                samples[name].append(dt)
                t = res.timings
                shard_s = t.get("shard_seconds") or []
                if shard_s:
                    parts[name].append({"shard_sum_s": round(sum(shard_s), 3), "shard_max_s": max(shard_s),
                                        "shard_cpu_sum_s": round(sum(t["shard_cpu_seconds"]), 3), "commit_s": t["commit_seconds"]})
                print(json.dumps({"n": n, "runner": name, "rep": rep, "embed": embed, "s": round(dt, 3),
                                  "items_per_s": round(n / dt, 1), "shards": res.shards, **(parts[name][-1] if shard_s else {})}), flush=True)
                shutil.rmtree(lib.dataset_path(ds_name), ignore_errors=True)
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    med = {r: statistics.median(v) for r, v in samples.items()}
    return {"n": n, "embed": embed, "reps": reps, "median_s": {r: round(v, 3) for r, v in med.items()},
            "items_per_s": {r: round(n / v, 1) for r, v in med.items()}, "all_s": {r: [round(x, 3) for x in v] for r, v in samples.items()},
            "parts": {r: {k: statistics.median(p[k] for p in v) for k in v[0]} for r, v in parts.items() if v}, **info}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--embed", action="store_true")
    ap.add_argument("--runners", nargs="+", default=["local", *CLUSTERS])
    ap.add_argument("--work", type=Path, default=Path("/tmp/pinlake-dask-bench"))
    a = ap.parse_args()
    for n in a.n:
        print("SUMMARY " + json.dumps(run(n, a.reps, a.embed, a.work, a.runners)), flush=True)


if __name__ == "__main__":
    main()
