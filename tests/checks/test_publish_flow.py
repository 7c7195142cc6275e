"""Write–audit–publish through a real Prefect server: a gated refresh publishes only a version that
passes its checks, quarantines one that does not (the run Failed, the channel unmoved), and a forced
publish is recorded with its reason. That a publish starts the downstream `train` deployment is
tested with the deployments' whole chain in tests/flows/test_prefect_server.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

#: train gets every health/ image, test every trial/ image: the trial images are the same bytes as
#: health/ images under other object names, so the same content lands in both splits
LEAKY_RECIPE = """import pinlake


@pinlake.recipe()
def health_by_tag(client):
    result = {"train": [], "test": []}
    for data in client.list_data(q="object_name LIKE 'health/%'"):
        result["train"].append(data)
    for data in client.list_data(q="object_name LIKE 'trial/%'"):
        result["test"].append(data)
    return result
"""

GATE = """  channel: prod
  checks:
    min_items: {train: 2, test: 1}
    no_empty_split: true
    no_split_leakage: true
    boxes_inside_images: true
    max_category_drift: 0.0001
    warn: [max_category_drift]
"""


def cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pinlake", *args], capture_output=True, text=True, env=dict(os.environ), timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"pinlake {' '.join(args)} → {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def gated_project(project, recipe: str = LEAKY_RECIPE) -> tuple[Path, Path, Path]:
    library, registry, assets = project(recipe=recipe)
    registry.write_text(registry.read_text() + GATE)
    return library, registry, assets


def refresh(library: Path, registry: Path, check: bool = True) -> subprocess.CompletedProcess:
    return cli("refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--server", "--json", check=check)


def runs_of(flow_name: str, library: Path) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])), sort=FlowRunSort.START_TIME_DESC)
    return [r for r in runs if str(r.parameters.get("library")) in {str(library), str(library.resolve())}]


def artifacts_of(run_id) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    return {a.key: a.data for a in arts}


def status_of(library: Path) -> dict[int, tuple[str, list[str]]]:
    rows = json.loads(cli("versions", "health_by_tag", "--library", str(library), "--json").stdout)
    return {r["dataset_version"]: (r["status"], r["failed_checks"]) for r in rows}


def test_leak_is_quarantined_then_the_fix_publishes_drift_only_warns_and_a_forced_publish_is_recorded(prefect_server, project, tmp_path):
    import pinlake
    from pinlake.errors import NotFoundError

    library, registry, _ = gated_project(project)
    first = refresh(library, registry, check=False)
    assert first.returncode == 1, first.stdout + first.stderr
    (r1,) = json.loads(first.stdout)
    assert r1["status"] == "quarantined" and r1["failed"] == ["no_split_leakage"] and "prod" in r1["message"]
    run = runs_of("refresh", library)[0]
    assert run.state_name == "Failed" and "no_split_leakage" in run.state.message
    arts = artifacts_of(run.id)
    assert "Quarantined" in str(arts["health-by-tag-verdict"]) and "no_split_leakage" in str(arts["health-by-tag-checks"])
    assert status_of(library) == {1: ("quarantined", ["no_split_leakage"])}
    with pytest.raises(NotFoundError, match="no version published on its channel 'prod'"):
        pinlake.open("health_by_tag", library=library)
    with pytest.raises(NotFoundError):
        pinlake.open("health_by_tag@prod", library=library)
    assert pinlake.open("health_by_tag@latest", library=library).version == 1  # readable for inspection

    # the recipe fixed: the next refresh publishes and @prod moves
    shutil.copy(REPO / "recipes" / "health_by_tag.py", registry.parent / "health_by_tag.py")
    (r2,) = json.loads(refresh(library, registry).stdout)
    assert r2["status"] == "published" and r2["version"] == 2
    assert runs_of("refresh", library)[0].state_name == "Completed"
    assert pinlake.open("health_by_tag@prod", library=library).version == 2
    assert pinlake.open("health_by_tag", library=library).version == 2

    # more images shift the category shares: max_category_drift (under warn:) reports, the publish goes on
    from pinlake.demo.data import generate_health_images
    from pinlake.demo.lake import ingest_demo
    from pinlake.library import Library

    more = tmp_path / "more" / "health_images"
    generate_health_images(more, n_train=20, n_test=4)
    ingest_demo(Library(library).get_datalake(), more)
    (r3,) = json.loads(refresh(library, registry).stdout)
    assert r3["status"] == "published" and r3["version"] == 3
    checks = pinlake.sql(
        "SELECT name, status, value FROM catalog.checks WHERE dataset_version = 3 AND name = 'max_category_drift'", library=library
    ).to_pylist()
    assert checks and checks[0]["status"] == "warn" and float(checks[0]["value"]) > 0.0001
    assert pinlake.open("health_by_tag", library=library).version == 3
    assert {v: s for v, (s, _) in status_of(library).items()} == {1: "quarantined", 2: "published", 3: "published"}
    # a refresh with nothing new is a no-op that keeps the verdict
    (r4,) = json.loads(refresh(library, registry).stdout)
    assert r4["unchanged"] and r4["version"] == 3 and r4["status"] == "published"

    # by hand: the quarantined version is refused, a forced publish needs a reason and is recorded with it
    base = ["--registry", str(registry), "--library", str(library)]
    refused = cli("publish", "health_by_tag@1", "--channel", "prod", *base, check=False)
    assert refused.returncode == 1 and "quarantined" in refused.stdout and "no_split_leakage" in refused.stdout
    no_reason = cli("publish", "health_by_tag@1", "--channel", "prod", "--force", *base, check=False)
    assert no_reason.returncode == 1 and "needs a reason" in no_reason.stderr and "Traceback" not in no_reason.stderr
    forced = json.loads(cli("publish", "health_by_tag@1", "--force", "--reason", "rollback for the audit", *base, "--json").stdout)
    assert forced["status"] == "published" and forced["forced"] is True and forced["failed"] == ["no_split_leakage"]
    assert forced["previous"] == 3 and pinlake.open("health_by_tag@prod", library=library).version == 1
    rows = pinlake.sql(
        "SELECT dataset_version, forced, reason, \"user\" FROM catalog.publications WHERE event = 'published' ORDER BY decided_at",
        library=library,
    ).to_pylist()
    assert [(r["dataset_version"], r["forced"], r["reason"]) for r in rows] == [
        (2, False, ""),
        (3, False, ""),
        (1, True, "rollback for the audit"),
    ]
    assert all(r["user"] for r in rows)
