"""`pinlake refresh` with no Prefect server configured: the engine's steps run in the CLI process,
without importing Prefect or starting a temporary server, and leave the library exactly as the
`refresh` flow on a real server does (same versions, stats, preview, tags and catalog rows)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lake_changes import upload_extra_image

pytestmark = pytest.mark.e2e

#: imported by a process that ran a flow or the whole engine; a no-op must import none of them
HEAVY = {"prefect", "lance", "pyarrow", "pandas", "duckdb"}


def no_server_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with no Prefect server configured: no PREFECT_API_URL and a
    PREFECT_HOME that does not exist yet (a temporary server would create its database there)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home-unused")
    return env


def run_cli(args: list[str], env: dict[str, str], importtime: bool = False) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`python [-X importtime] -m pinlake ARGS`; returns the process and the top-level modules it imported."""
    flags = ["-X", "importtime"] if importtime else []
    proc = subprocess.run([sys.executable, *flags, "-m", "pinlake", *args], capture_output=True, text=True, env=env, timeout=300)
    errors = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("import time:"))
    assert proc.returncode == 0, f"pinlake {' '.join(args)} → {proc.returncode}\n{proc.stdout}\n{errors[-3000:]}"
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return proc, imported


def add_lake_file(library: Path, assets: Path, tmp_path: Path) -> None:
    upload_extra_image(library, assets, tmp_path)


def test_noop_local_refresh_imports_no_prefect_and_starts_no_server(project, tmp_path):
    library, registry, assets = project()
    env = no_server_env(tmp_path)
    args = ["refresh", "health_by_tag", "--registry", str(registry), "--library", str(library), "--json"]
    first, imported = run_cli(args, env, importtime=True)
    assert json.loads(first.stdout)[0]["version"] == 1
    assert "prefect" not in imported and "flows" not in imported  # the build ran here, without Prefect
    noop, imported = run_cli(args, env, importtime=True)
    result = json.loads(noop.stdout)[0]
    assert result == {"dataset": "health_by_tag", "unchanged": True, "version": 1, "lock_hash": json.loads(first.stdout)[0]["lock_hash"]}
    assert not imported & HEAVY, imported & HEAVY  # decided from the stamp: no Prefect, Lance or pyarrow
    # a refresh of every entry is a no-op the same way
    _, imported = run_cli(["refresh", "--all", "--registry", str(registry), "--library", str(library)], env, importtime=True)
    assert not imported & HEAVY
    # a changed lake: a new version, still without Prefect
    add_lake_file(library, assets, tmp_path)
    changed, imported = run_cli(args, env, importtime=True)
    assert json.loads(changed.stdout)[0]["version"] == 2 and "prefect" not in imported
    # no temporary Prefect server ran: it would have made its database in PREFECT_HOME
    assert not Path(env["PREFECT_HOME"]).exists()


def _content(library: Path, name: str) -> dict:
    """What a refresh leaves in a library, without the run ids and timestamps that differ between runs."""
    from pinlake.catalog.store import Catalog
    from pinlake.datasets.versions import VersionLog
    from pinlake.library.versions import tags_of

    log = VersionLog(library / name).entries()
    ds = library / name

    catalog = Catalog(library)

    def rows(table: str, columns: list[str]) -> list[tuple]:
        data = catalog.read(table, filter=f"dataset = '{name}'", columns=columns).to_pylist()
        return sorted(tuple(r[c] for c in columns) for r in data)

    def stats(v: int) -> dict:
        data = json.loads((ds / "_meta" / str(v) / "stats.json").read_text())
        return {k: v for k, v in data.items() if not k.endswith("_at")}

    lineage = ["lock_hash", "lake_version", "recipe_hash"]
    return {
        "versions": [(e.dataset_version, e.lock_hash, e.rows, e.lineage.get("pinlake.lake_version")) for e in log],
        "stats": {e.dataset_version: stats(e.dataset_version) for e in log},
        "previews": {e.dataset_version: (ds / "_meta" / str(e.dataset_version) / "preview.png").read_bytes() for e in log},
        "tags": sorted(tags_of(ds)),
        "catalog.versions": rows("versions", ["table", "version", "operation", "rows", "schema_hash", *lineage]),
        "catalog.dataset_versions": rows("dataset_versions", ["dataset_version", "operation", "tables", "rows", *lineage]),
        "catalog.members": rows("members", ["dataset_version", "table", "version"]),
        "catalog.tags": rows("tags", ["name", "dataset_version", "tables"]),
    }


def test_local_refresh_leaves_what_the_server_flow_leaves(prefect_server, project, tmp_path):
    """One project copied before any refresh, refreshed twice (a build, then an incremental version
    after the same lake change) by the `refresh` flow on a real server and by the local path: the same
    results and the same library content; only the flow run leaves a run on the server."""
    import shutil

    on_server, registry, assets = project()
    here = tmp_path / "library-here"
    shutil.copytree(on_server, here)
    server_env = dict(os.environ)  # PREFECT_API_URL of the test server (set by the fixture)
    local_env = no_server_env(tmp_path)

    def both() -> tuple[dict, dict]:
        common = ["refresh", "health_by_tag", "--registry", str(registry), "--json"]
        flow, imported = run_cli([*common, "--library", str(on_server)], server_env, importtime=True)
        assert "prefect" in imported  # a real flow run
        local, imported = run_cli([*common, "--library", str(here)], local_env, importtime=True)
        assert "prefect" not in imported
        return json.loads(flow.stdout)[0], json.loads(local.stdout)[0]

    flow, local = both()
    assert flow == local and local["version"] == 1 and local["unchanged"] is False
    add_lake_file(on_server, assets, tmp_path)  # the same lake change on both sides (an upload's ids are its own)
    shutil.rmtree(here / "_lake")
    shutil.copytree(on_server / "_lake", here / "_lake")
    flow, local = both()
    assert flow == local and local["version"] == 2 and local["previous_version"] == 1
    content = _content(here, "health_by_tag")
    assert content == _content(on_server, "health_by_tag") and all(content.values())
    from pinlake.datasets.versions import VersionLog

    assert VersionLog(on_server / "health_by_tag").latest().lineage["pinlake.flow_run_id"]
    assert not VersionLog(here / "health_by_tag").latest().lineage.get("pinlake.flow_run_id")  # no flow run made it
    assert not Path(local_env["PREFECT_HOME"]).exists()
