"""End to end on one real Prefect server (started by the session fixture on a free loopback port)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lake_changes import upload_extra_image

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pinlake", *args], capture_output=True, text=True, env=dict(os.environ), timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"pinlake {' '.join(args)} → {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def py(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=timeout)


def flow_runs(flow_name: str, library: Path | None = None):
    """Runs of ``flow_name``, newest first; with ``library``, only those of that library (the session's
    server also holds other tests' runs, deployments' scheduled runs among them)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])), sort=FlowRunSort.START_TIME_DESC)
    wanted = {str(library), str(library.resolve())} if library is not None else None
    return [r for r in runs if wanted is None or str(r.parameters.get("library")) in wanted]


def versions(library: Path, name: str) -> list[int]:
    from pinlake.datasets.versions import VersionLog

    return [v.dataset_version for v in VersionLog(library / name).entries()]


def test_refresh_completes_with_artifacts_then_noop(prefect_server, project):
    library, registry, _ = project()
    args = ["refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server", "--json"]
    first = json.loads(cli(*args).stdout)[0]
    assert first["unchanged"] is False and first["version"] == 1
    runs = [r for r in flow_runs("refresh") if r.parameters.get("library") == str(library.resolve())]
    assert runs and runs[0].state_name == "Completed"
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[runs[0].id])))
    kinds = {a.key: a.type for a in arts}
    assert kinds.get("health-by-tag-summary") == "markdown"
    assert kinds.get("health-by-tag-stats") == "table"
    assert kinds.get("health-by-tag-preview") == "image"
    summary = next(a for a in arts if a.key == "health-by-tag-summary")
    assert first["lock_hash"] in summary.data and "| item | 12 |" in summary.data
    # the version records the flow run that made it
    from pinlake.datasets.versions import VersionLog

    assert VersionLog(library / "health_by_tag").latest().lineage["pinlake.flow_run_id"] == str(runs[0].id)
    second = json.loads(cli(*args).stdout)[0]
    assert second["unchanged"] is True and versions(library, "health_by_tag") == [1]
    # from now on the no-op is decided by the stamp the flow left, without Prefect, Lance or pyarrow in
    # the process, and still recorded on the server: a Completed `refresh` run with its summary artifact
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pinlake", *args], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    third = json.loads(proc.stdout)[0]
    assert third["unchanged"] is True and third["version"] == 1 and third["lock_hash"] == first["lock_hash"]
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"prefect", "lance", "pyarrow", "pandas", "duckdb"}
    runs = [r for r in flow_runs("refresh") if str(r.id) == third["flow_run_id"]]
    assert runs and runs[0].state_name == "Completed" and "unchanged" in runs[0].tags
    assert runs[0].parameters == {"dataset": "health_by_tag", "library": str(library.resolve()), "registry": str(registry.resolve())}
    assert runs[0].start_time is not None and runs[0].end_time is not None
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[runs[0].id])))
    assert [a.key for a in arts] == ["health-by-tag-summary"] and "Unchanged" in arts[0].data
    assert versions(library, "health_by_tag") == [1]


def test_crash_before_commit_keeps_previous_version_and_rerun_completes(prefect_server, project, tmp_path):
    library, registry, assets = project()
    cli("refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server")
    from pinlake.library import Library

    extra = tmp_path / "new.jpg"
    extra.write_bytes(next((assets / "train").glob("*.jpg")).read_bytes() + b"\0")
    Library(library).get_datalake().upload_data(
        [str(extra)],
        tags=["mri"],
        object_names=["health/train/new.jpg"],
        metadata={"image_type": "mri", "objects": {"category": ["heart"], "bbox": [[1, 1, 5, 5]], "keypoints": [[2, 2]]}},
    )
    crash = py(
        "import pinlake.datasets.tables as t\n"
        "def boom(self, *a, **k):\n    raise RuntimeError('simulated crash after the fragment write, before the commit')\n"
        "t.TableWriter.commit = boom\n"
        "from flows.refresh import refresh\n"
        f"refresh('health_by_tag', {str(library)!r}, {str(registry)!r})\n"
    )
    assert crash.returncode != 0 and "simulated crash" in (crash.stderr + crash.stdout)
    assert versions(library, "health_by_tag") == [1]
    from pinlake.datasets.dataset import Dataset

    assert Dataset(library / "health_by_tag").num_items == 12
    assert flow_runs("refresh", library)[0].state_name == "Failed"
    again = json.loads(
        cli("refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server", "--json").stdout
    )[0]
    assert again["version"] == 2 and versions(library, "health_by_tag") == [1, 2]
    assert Dataset(library / "health_by_tag").num_items == 13


def test_failing_recipe_fails_the_run_and_builds_nothing(prefect_server, project):
    library, registry, _ = project(
        n_train=2,
        n_test=1,
        recipe=("import pinlake\n\n@pinlake.recipe()\ndef health_by_tag(client):\n    raise ValueError('the trial database is offline')\n"),
    )
    proc = cli("refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server", check=False)
    assert proc.returncode == 1 and "the trial database is offline" in proc.stderr and "Traceback" not in proc.stderr.splitlines()[0]
    assert not (library / "health_by_tag").exists()
    assert flow_runs("refresh", library)[0].state_name == "Failed"
    unknown = cli("refresh", "nope", "--registry", str(registry), "--library", str(library), "--server", check=False)
    assert unknown.returncode == 1 and "nope" in unknown.stderr


def test_lake_updated_event_triggers_the_refresh_whose_publish_triggers_train(prefect_server, project, tmp_path):
    """The deployments' chain: an ingest's `pinlake.lake.updated` starts `refresh-health_by_tag`; its
    candidate passes the entry's checks and is published on prod, whose `pinlake.dataset.published`
    starts `train-health_by_tag`, which opens health_by_tag@prod and records itself as a consumer."""
    library, registry, assets = project()
    registry.write_text(registry.read_text() + "  channel: prod\n  checks:\n    min_items: 2\n    no_split_leakage: true\n")
    cli("refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server")
    server = subprocess.Popen(
        [sys.executable, "-m", "flows.serve", "--library", str(library), "--registry", str(registry)],
        # the runner looks for the triggered runs every second (Prefect's default: every 10 s)
        env={**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": "1"},
        stdout=open(tmp_path / "serve.log", "wb"),  # noqa: SIM115 - open while it serves
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + 60
        while True:
            with get_client(sync_client=True) as client:
                try:
                    client.read_deployment_by_name("refresh/refresh-health_by_tag")
                    client.read_deployment_by_name("train/train-health_by_tag")
                    break
                except Exception:  # noqa: BLE001 - not registered yet
                    if time.monotonic() > deadline:
                        raise
            time.sleep(1)
        time.sleep(3)  # the trigger's automation is registered with the deployment
        from pinlake.library import Library

        extra = tmp_path / "new.jpg"
        extra.write_bytes(next((assets / "test").glob("*.jpg")).read_bytes() + b"\1")
        lake = Library(library).get_datalake()
        lake.upload_data(
            [str(extra)],
            tags=["xray"],
            object_names=["health/test/new.jpg"],
            metadata={"image_type": "xray", "objects": {"category": [], "bbox": [], "keypoints": []}},
        )
        emitted = py(
            "from prefect.events import emit_event\n"
            f"emit_event(event='pinlake.lake.updated', resource={{'prefect.resource.id': 'pinlake.lake.test'}}, "
            f"payload={{'lake_version': {lake.version}, 'tags': ['xray'], 'library': {str(library.resolve())!r}}})\n"
        )
        assert emitted.returncode == 0, emitted.stderr
        deadline = time.monotonic() + 150
        while versions(library, "health_by_tag") != [1, 2]:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(2)
        # let the triggered run finish (stats, preview, tag…) before stopping the server that runs it:
        # killed inside its concurrency slot, it would hold the slot of later refreshes of this dataset
        while any(
            r.state.is_running() or r.state.is_pending()
            for r in flow_runs("refresh")
            if r.parameters.get("library") == str(library.resolve())
        ):
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(1)
        # version 2 passed its checks: the published event started the train deployment on it
        while not (done := [r for r in flow_runs("train", library) if r.state_name == "Completed"]):
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(1)
        assert done[0].parameters["dataset"] == "health_by_tag" and done[0].parameters["channel"] == "prod"
        import pinlake

        consumers = pinlake.sql("SELECT dataset_version, run FROM catalog.consumers", library=library).to_pylist()
        assert consumers == [{"dataset_version": 2, "run": f"prefect-flow-run:{done[0].id}"}]
    finally:
        from flows.runtime import stop_server

        stop_server(server)


def test_ingest_flow_collects_errors_and_runs_lists_it(prefect_server, tmp_path):
    from PIL import Image as PILImage

    folder = tmp_path / "drop"
    folder.mkdir()
    for i in range(3):
        PILImage.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / f"img{i}.png")
    library = tmp_path / "library"
    out = json.loads(
        cli("ingest", str(folder), str(tmp_path / "missing.png"), "--tag", "drop", "--library", str(library), "--server", "--json").stdout
    )
    assert out["data"] == 3 and len(out["errors"]) == 1 and "missing.png" in out["errors"][0]["path"]
    assert out["lake_version"] != out["previous_lake_version"]
    runs = json.loads(cli("runs", "--flow", "ingest", "--json").stdout)
    assert runs and runs[0]["state"] == "Completed" and runs[0]["flow"] == "ingest"


def test_two_concurrent_refreshes_are_serialised(prefect_server, project, concurrent_refreshes):
    """Two processes (as two machines would) refresh one dataset at once: the global concurrency limit
    queues the second, which then finds the lock unchanged; nothing is built twice or lost."""
    library, registry, _ = project()
    results = concurrent_refreshes("health_by_tag", registry, library, dict(os.environ))
    assert sorted(r["unchanged"] for r in results) == [False, True]
    assert versions(library, "health_by_tag") == [1]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("pinlake-refresh-health_by_tag")
    assert limit.limit == 1
    runs = [r for r in flow_runs("refresh") if r.parameters.get("library") == str(library.resolve())]
    assert len(runs) == 2 and {r.state_name for r in runs} == {"Completed"}


def test_dead_refresh_frees_the_dataset_when_its_lease_runs_out(prefect_server, dead_refresh_holder):
    """A refresh holding a dataset's slot was killed (SIGKILL: a lost machine; see the fixture): the
    slot stays taken until the dead holder's lease (60 s) runs out, then frees (never stuck), and
    the next refresh of that dataset gets it (waiting for it if it comes before)."""
    from flows.refresh import one_refresh_at_a_time

    dead = dead_refresh_holder
    assert dead.error is None, dead.error
    assert dead.slots_after_kill == 1  # not freed when its holder died
    with one_refresh_at_a_time(dead.library, dead.dataset):
        pass
    assert dead.watched.wait(timeout=60) and dead.error is None, dead.error
    assert dead.released_at is not None, "the server never showed the slot free"
    freed = dead.released_at - dead.killed_at
    assert 40 < freed < 120, f"the slot was freed {freed:.0f} s after its holder died (its lease: 60 s)"


def test_registry_retention_is_applied_after_each_built_version(prefect_server, project, tmp_path):
    """`retention: 0s` in the registry: the refresh that builds version 2 removes version 1 (only
    its automatic lock tag protected it), records the cleanup, and version 2 stays readable."""
    import pinlake

    library, registry, assets = project()
    registry.write_text(registry.read_text() + "  retention: 0s\n")
    args = ["refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server", "--json"]
    first = json.loads(cli(*args).stdout)[0]
    assert first["version"] == 1 and first["retention"]["removed"] == {}  # nothing older than the latest yet
    upload_extra_image(library, assets, tmp_path)
    second = json.loads(cli(*args).stdout)[0]
    assert second["version"] == 2 and second["retention"]["removed"]
    assert f"lock-{first['lock_hash'][:8]}" in second["retention"]["untagged"]
    listed = {
        v["dataset_version"]: v["available"]
        for v in json.loads(cli("versions", "health_by_tag", "--json", "--library", str(library)).stdout)
    }
    assert listed == {1: False, 2: True}
    with pytest.raises(Exception, match="cleaned up"):
        pinlake.open("health_by_tag@1", library=library).to_arrow("item")
    assert len(pinlake.open(f"health_by_tag@lock-{second['lock_hash'][:8]}", library=library)) == 13
    rows = json.loads(
        cli("sql", "SELECT count(*) AS n FROM catalog.cleanups WHERE dataset = 'health_by_tag'", "--json", "--library", str(library)).stdout
    )
    assert rows[0]["n"] > 0
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["health-by-tag-retention"])))
    assert arts and "older than 0s" in arts[0].data and "| item |" in arts[0].data


def test_library_deleted_and_built_again_gets_its_stats_and_preview(prefect_server, project, tmp_path):
    """The stats and preview results are cached per dataset version; a library deleted and refreshed
    again reuses the version numbers, not the runs, so its new version gets its own stats and preview."""
    import shutil

    library, registry, _ = project()
    args = ["refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server", "--json"]
    assert json.loads(cli(*args).stdout)[0]["version"] == 1
    for part in ("library", "recipes", "assets"):
        shutil.rmtree(tmp_path / part)
    library, registry, _ = project()
    again = json.loads(cli(*args).stdout)[0]
    assert again["version"] == 1 and again["unchanged"] is False
    assert (library / "health_by_tag" / "preview.png").is_file() and (library / "health_by_tag" / "stats.json").is_file()
