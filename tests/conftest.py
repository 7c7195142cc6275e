"""Fixtures shared by every test folder: a demo lake + registry (``project``), one real Prefect server
per session (``prefect_server``, started on first use), one real Dask cluster per module
(``dask_cluster``: a scheduler and two worker processes on 127.0.0.1) and ``concurrent_refreshes``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flows.runtime import QUIET

REPO = Path(__file__).resolve().parents[1]


def make_project(root: Path, n_train: int = 8, n_test: int = 4, recipe: str | None = None, library=None) -> tuple[Path, Path, Path]:
    """A library (default ``root/library``) with the demo lake ingested, plus a registry with one entry (health_by_tag)."""
    from pinlake.demo import generate_health_images
    from pinlake.demo_lake import ingest_demo
    from pinlake.library import Library

    assets = root / "assets" / "health_images"
    generate_health_images(assets, n_train=n_train, n_test=n_test)
    library = root / "library" if library is None else library
    ingest_demo(Library(library).ensure().get_datalake(), assets)
    reg_dir = root / "recipes"
    reg_dir.mkdir(parents=True)
    shutil.copy(REPO / "recipes" / "health_by_tag.py", reg_dir / "health_by_tag.py")
    if recipe is not None:
        (reg_dir / "health_by_tag.py").write_text(recipe)
    (reg_dir / "datasets.yaml").write_text(
        "- name: health_by_tag\n  version: 1\n  description: test\n  script_location: ./health_by_tag.py\n"
        "  schedule: \"0 3 * * *\"\n  dataset_item: pinlake.demo:HealthDatasetItem\n"
    )
    return library, reg_dir / "datasets.yaml", assets


@pytest.fixture
def project(tmp_path):
    """make_project bound to this test's tmp_path: project(**kw) -> (library, registry, assets)."""
    return lambda **kw: make_project(tmp_path, **kw)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real `prefect server start` on a free loopback port; yields its API url; stopped by pid."""
    from flows.runtime import start_server, stop_server

    home = tmp_path_factory.mktemp("prefect-home")
    # expired concurrency leases are revoked every 2 s instead of 15 (test_dead_refresh_frees_the_dataset)
    proc, url = start_server(home, env_extra={"PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2"})
    old = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_HOME", *QUIET)}
    os.environ.update(QUIET)
    os.environ["PREFECT_API_URL"] = url
    os.environ["PREFECT_HOME"] = str(home)
    try:
        yield url
    finally:
        try:
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=5)
            EventsWorker.drain_all(timeout=5)
        except Exception:  # noqa: BLE001 - draining is best effort at teardown; the server stops anyway
            pass
        stop_server(proc)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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


@pytest.fixture
def concurrent_refreshes():
    """run(dataset, registry, library, env) -> the JSON results of two `pinlake refresh --server`
    processes started at once (as two machines would), both required to succeed."""
    import json
    import subprocess
    import sys

    def run(dataset: str, registry, library, env: dict[str, str]) -> list[dict]:
        args = [sys.executable, "-m", "pinlake", "refresh", dataset, "--registry", str(registry),
                "--library", str(library), "--server", "--json"]
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            results.append(json.loads(out)[0])
        return results

    return run
