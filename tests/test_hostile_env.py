"""The suite passes whatever the user's shell holds: a few representative tests (Prefect with and
without a server, the refresh engine, the API token, the field limit, an S3 library) run in a
pytest subprocess with PREFECT_HOME set to an existing directory, PREFECT_API_URL pointing at a
loopback port where nothing listens, PINLAKE_LIBRARY at a path that does not exist, and every other
PINLAKE_* / AWS_* setting a user may have. The user's Prefect home is left as it was."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.runtime import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]

#: the order that once failed: a test that imports the flows with no server, then a server test
TESTS = [
    "tests/distributed/test_dask_build.py::test_refresh_flow_build_task_on_dask",
    "tests/flows/test_prefect_server.py::test_refresh_completes_with_artifacts_then_noop",
    "tests/flows/test_refresh_engine.py",
    "tests/api/test_writes.py",
    "tests/lake/test_lake_bad_input.py",
    "tests/s3/test_s3_library.py::test_s3_library_is_not_a_local_path",
]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.long
def test_suite_passes_with_a_hostile_environment(tmp_path, prefect_template_dir):
    user_home = tmp_path / "user-prefect-home"  # another project's Prefect home, with its own profile
    user_home.mkdir()
    dead = f"http://127.0.0.1:{free_port()}/api"
    (user_home / "profiles.toml").write_text(f'active = "other"\n\n[profiles.other]\nPREFECT_API_URL = "{dead}"\n')
    before = tree(user_home)
    missing = tmp_path / "no-such-dir"
    hostile = {
        "PREFECT_HOME": str(user_home),
        "PREFECT_API_URL": dead,
        "PREFECT_PROFILE": "other",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        "PINLAKE_LIBRARY": str(missing / "library"),
        "PINLAKE_REGISTRY": str(missing / "datasets.yaml"),
        "PINLAKE_STATE_DIR": str(missing / "state"),
        "PINLAKE_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "PINLAKE_S3_TIMEOUT": "0.5",
        "PINLAKE_S3_ALLOW_HTTP": "false",
        "PINLAKE_S3_LEASE_TTL": "1",
        "PINLAKE_API_TOKEN": "someone-elses-token",
        "PINLAKE_API_MAX_BODY_BYTES": "10",
        "PINLAKE_API_MAX_SQL_BYTES": "10",
        "PINLAKE_DASK_ADDRESS": f"tcp://127.0.0.1:{free_port()}",
        "PINLAKE_MAX_FIELD_BYTES": "16",
        "PINLAKE_FLOW_RUN_ID": "not-a-run",
        "PINLAKE_FLOW_RETRY_DELAYS": "soon",
        "AWS_PROFILE": "no-such-profile",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    }
    env = {**os.environ, **hostile}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "basetemp"),
            "--prefect-template",  # the run's migrated Prefect database (the nested servers start from it)
            str(prefect_template_dir),
            *TESTS,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"failed|error|skipped", summary), tail
    assert tree(user_home) == before, "the suite wrote into the user's PREFECT_HOME"
    assert not missing.exists(), "the suite used the user's PINLAKE_LIBRARY or other paths"
