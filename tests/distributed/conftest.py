"""Fixtures of the distributed-build tests: one real Dask cluster per module (a scheduler and two
worker processes on 127.0.0.1, with nannies that restart a worker that dies), and one demo lake
with a lock."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dask_cluster():
    """LocalCluster(2 worker processes); a task whose worker dies twice fails (allowed-failures=1)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                               dashboard_address=None, silence_logs=50)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def lake_project(tmp_path_factory):
    """(library, lock dir): the demo lake (40 images, entities and annotations) and its lock."""
    from pinlake.demo import generate_health_images
    from pinlake.demo_lake import ingest_demo
    from pinlake.library import Library
    from pinlake.recipes.lock import lock_recipe

    root = tmp_path_factory.mktemp("dask-project")
    generate_health_images(root / "assets", n_train=30, n_test=10)
    lib = Library(root / "library").ensure()
    ingest_demo(lib.get_datalake(), root / "assets")
    lock = lock_recipe(REPO / "recipes" / "health_by_tag.py", lib.get_datalake(), locks_dir=lib.locks_path)
    return lib, lock.path


@pytest.fixture(scope="module")
def local_build(lake_project):
    """The reference: today's single-process build of the lock (embedded bytes)."""
    from pinlake.datasets.lock_build import build_from_lock

    lib, lock = lake_project
    return build_from_lock(lib, lock, "reference", embed=True, compute_stats=False).dataset
