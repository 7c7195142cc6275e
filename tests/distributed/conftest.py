"""Fixtures of the distributed-build tests: one demo lake with a lock (the Dask cluster fixture is in
tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lake_project(tmp_path_factory):
    """(library, lock dir): the demo lake (40 images, entities and annotations) and its lock."""
    from pinlake.demo.data import generate_health_images
    from pinlake.demo.lake import ingest_demo
    from pinlake.library import Library
    from pinlake.recipes.lockfile import lock_recipe

    root = tmp_path_factory.mktemp("dask-project")
    generate_health_images(root / "assets", n_train=30, n_test=10)
    lib = Library(root / "library").ensure()
    ingest_demo(lib.get_datalake(), root / "assets")
    lock = lock_recipe(REPO / "recipes" / "health_by_tag.py", lib.get_datalake(), locks_dir=lib.locks_path)
    return lib, lock.path


@pytest.fixture(scope="module")
def local_build(lake_project):
    """The reference: today's single-process build of the lock (embedded bytes)."""
    from pinlake.library.build import build_from_lock

    lib, lock = lake_project
    return build_from_lock(lib, lock, "reference", embed=True, compute_stats=False).dataset
