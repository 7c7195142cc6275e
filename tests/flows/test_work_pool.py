"""The local work-pool route of infra/README.md, run for real against the session's Prefect server:

    pinlake deploy → prefect work-pool create … --type process → prefect deploy --all --prefect-file …
    → prefect deployment run … → prefect worker start --pool … --run-once

The worker runs the refresh flow in a subprocess of its own; the test checks the flow run's final state
and that the dataset got version 1 with the flow run id in its lineage.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} → {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def test_deploy_to_process_work_pool_and_run_on_a_worker(prefect_server, project, tmp_path):
    library, registry, _ = project()
    pool = f"pinlake-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PINLAKE_REPO": str(REPO), "PREFECT_API_URL": prefect_server}
    prefect_file = tmp_path / "prefect.yaml"

    run(
        [
            sys.executable,
            "-m",
            "pinlake",
            "deploy",
            "--registry",
            str(registry),
            "--library",
            str(library),
            "--out",
            str(prefect_file),
            "--work-pool",
            pool,
        ],
        env,
    )
    assert f"name: {pool}" in prefect_file.read_text()
    run([*PREFECT, "work-pool", "create", pool, "--type", "process"], env)
    out = run([*PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file)], env)
    assert "refresh/refresh-health_by_tag" in out

    from prefect.client.orchestration import get_client

    try:
        out = run([*PREFECT, "deployment", "run", "refresh/refresh-health_by_tag"], env)
        run_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
        run([*PREFECT, "worker", "start", "--pool", pool, "--run-once"], env, timeout=240)

        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(uuid.UUID(run_id))
        assert flow_run.state_name == "Completed", flow_run.state
        assert flow_run.parameters["library"] == str(library.resolve())

        from pinlake.datasets.versions import VersionLog

        entries = VersionLog(library / "health_by_tag").entries()
        assert [e.dataset_version for e in entries] == [1]
        assert entries[0].lineage["pinlake.flow_run_id"] == run_id
    finally:
        # the deployments carry the lake-updated trigger: remove them so other tests' events do not queue runs here
        with get_client(sync_client=True) as client:
            for dep in client.read_deployments():
                if dep.work_pool_name == pool:
                    client.delete_deployment(dep.id)
            client.delete_work_pool(pool)
