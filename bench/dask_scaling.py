"""Build (or ingest) throughput: local (one process) vs Dask with 1 and 2 worker processes (and threads).

``python -m bench.dask_scaling --n 2000 10000 --reps 3 [--embed | --ingest] [--work DIR]``

``--ingest``: the N files of v1 are uploaded into a fresh lake per run (state cache off, so every
file is read and hashed): threads in this process (local) vs the two-phase Dask ingest.

Per N: the synthetic data of :mod:`bench.data` (v1) is ingested once into a library, locked once with
``bench/recipe_bench.py``, then built repeatedly (``compute_stats=False``: the build itself, i.e.
read lock → rows → fragments → commit → version entry) with each runner, runs interleaved. Each Dask
cluster is started once per N (its start-up time is reported apart) and its workers import pinlake
before the first run (a long-lived cluster). Prints one JSON line per run and a median table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

from bench import data

RECIPE = Path(__file__).with_name("recipe_bench.py")
CLUSTERS = {"dask-1w": (1, 1), "dask-2w": (2, 1), "dask-1w-2t": (1, 2)}


def _warm() -> bool:
    """Import what a shard needs (run once on every worker before the first measured build)."""
    import importlib

    for name in ("pinlake.datasets.build.from_lock", "pinlake.datasets.build.dask_shards", "pinlake.lake"):
        importlib.import_module(name)
    return True


def setup(work: Path, n: int) -> tuple[object, Path, dict]:
    import pinlake
    from pinlake.recipes.lockfile import lock_recipe

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


@contextlib.contextmanager
def started_clusters(runners: list[str], info: dict) -> Iterator[dict[str, object]]:
    """{runner: warmed-up client} for the Dask runners named (start-up time into ``info``); all closed after."""
    from distributed import Client, LocalCluster

    clusters: dict[str, tuple[object, object]] = {}
    try:
        for name in runners:
            if name in CLUSTERS:
                workers, threads = CLUSTERS[name]
                t0 = time.perf_counter()
                import dask

                # no profiler in the workers: sys._current_frames() can deadlock CPython < 3.11.9 (cpython#106883)
                with dask.config.set({"distributed.worker.profile.enabled": False}):
                    cluster = LocalCluster(
                        n_workers=workers,
                        threads_per_worker=threads,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                        silence_logs=40,
                    )
                client = Client(cluster, set_as_default=False)
                clusters[name] = (cluster, client)
                client.run(_warm)
                info[f"{name}_start_s"] = round(time.perf_counter() - t0, 3)
        yield {name: client for name, (_, client) in clusters.items()}
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()


def summary(
    n: int, reps: int, samples: dict[str, list[float]], parts: dict[str, list[dict]], info: dict, rate: str, **extra: object
) -> dict:
    """Medians, rates and per-part medians of one N's runs."""
    med = {r: statistics.median(v) for r, v in samples.items()}
    return {
        "n": n,
        **extra,
        "reps": reps,
        "median_s": {r: round(v, 3) for r, v in med.items()},
        rate: {r: round(n / v, 1) for r, v in med.items()},
        "all_s": {r: [round(x, 3) for x in v] for r, v in samples.items()},
        "parts": {r: {k: statistics.median(p[k] for p in v) for k in v[0]} for r, v in parts.items() if v},
        **info,
    }


def run(n: int, reps: int, embed: bool, work: Path, runners: list[str]) -> dict:
    from pinlake.library.build import build_from_lock

    lib, lock, info = setup(work, n)
    samples: dict[str, list[float]] = {r: [] for r in runners}
    parts: dict[str, list[dict]] = {r: [] for r in runners}
    with started_clusters(runners, info) as clusters:
        for rep in range(reps):
            for name in runners:
                ds_name = f"b_{name.replace('-', '_')}_{rep}"
                shutil.rmtree(lib.dataset_path(ds_name), ignore_errors=True)
                kw = {} if name == "local" else {"runner": "dask", "dask_client": clusters[name]}
                t0 = time.perf_counter()
                res = build_from_lock(lib, lock, ds_name, embed=embed, compute_stats=False, **kw)
                dt = time.perf_counter() - t0
                assert res.dataset.state.rows["item"] == n
                samples[name].append(dt)
                t = res.timings
                shard_s = t.get("shard_seconds") or []
                if shard_s:
                    parts[name].append(
                        {
                            "shard_sum_s": round(sum(shard_s), 3),
                            "shard_max_s": max(shard_s),
                            "shard_cpu_sum_s": round(sum(t["shard_cpu_seconds"]), 3),
                            "commit_s": t["commit_seconds"],
                        }
                    )
                print(
                    json.dumps(
                        {
                            "n": n,
                            "runner": name,
                            "rep": rep,
                            "embed": embed,
                            "s": round(dt, 3),
                            "items_per_s": round(n / dt, 1),
                            "shards": res.shards,
                            **(parts[name][-1] if shard_s else {}),
                        }
                    ),
                    flush=True,
                )
                shutil.rmtree(lib.dataset_path(ds_name), ignore_errors=True)
    return summary(n, reps, samples, parts, info, "items_per_s", embed=embed)


def run_ingest(n: int, reps: int, work: Path, runners: list[str]) -> dict:
    from pinlake.lake import Lake
    from pinlake.lake.dask_ingest import ingest_on_dask
    from pinlake.lake.upload import local_items

    root = data.generate(work / f"data-{n}", n)
    files = data.files_of(root / "v1")
    paths, names, metas = [p for p, _, _ in files], [o for _, o, _ in files], [m for _, _, m in files]
    info: dict = {}
    samples: dict[str, list[float]] = {r: [] for r in runners}
    parts: dict[str, list[dict]] = {r: [] for r in runners}
    with started_clusters(runners, info) as clusters:
        for rep in range(reps):
            for name in runners:
                target = work / f"ingest-{n}-{name}-{rep}"
                shutil.rmtree(target, ignore_errors=True)
                lake = Lake(target)
                t0 = time.perf_counter()
                if name == "local":
                    lake.upload_data(paths, metadata=metas, object_names=names, source="bench", use_state=False)
                else:
                    items = local_items(paths, metas, names)
                    _, rep_ = ingest_on_dask(
                        lake.store,
                        items,
                        tags=[],
                        source="bench",
                        error_manager=None,
                        fill_metadata=False,
                        operation="lake.upload",
                        client=clusters[name],
                        use_state=False,
                    )
                    parts[name].append(
                        {
                            "hash_s": rep_.hash_seconds,
                            "write_s": rep_.write_seconds,
                            "commit_s": rep_.commit_seconds,
                            "hash_tasks": rep_.hash_tasks,
                            "write_tasks": rep_.write_tasks,
                        }
                    )
                dt = time.perf_counter() - t0
                assert lake.count() == n
                samples[name].append(dt)
                print(
                    json.dumps(
                        {
                            "n": n,
                            "runner": name,
                            "rep": rep,
                            "ingest": True,
                            "s": round(dt, 3),
                            "files_per_s": round(n / dt, 1),
                            **(parts[name][-1] if parts[name] else {}),
                        }
                    ),
                    flush=True,
                )
                shutil.rmtree(target, ignore_errors=True)
    return summary(n, reps, samples, parts, info, "files_per_s", ingest=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--embed", action="store_true")
    ap.add_argument("--ingest", action="store_true", help="measure lake ingest instead of the build")
    ap.add_argument("--runners", nargs="+", default=["local", *CLUSTERS])
    ap.add_argument("--work", type=Path, default=Path("/tmp/pinlake-dask-bench"))
    a = ap.parse_args()
    for n in a.n:
        result = run_ingest(n, a.reps, a.work, a.runners) if a.ingest else run(n, a.reps, a.embed, a.work, a.runners)
        print("SUMMARY " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
