"""Refresh flows on a library in a bucket: two processes refreshing one dataset at once through a real
Prefect server share no disk lock, only the dataset's global concurrency limit and the version log's
conditional commit; exactly one builds, the other finds the lock unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_two_refreshes_of_an_s3_dataset_are_serialised(prefect_server, project, bucket, s3_env):
    library = f"s3://{bucket}/lib"
    _, registry, _ = project(library=library)
    args = [sys.executable, "-m", "pinlake", "refresh", "health_by_tag", "--registry", str(registry),
            "--library", library, "--server", "--json"]
    env = {**os.environ, **s3_env}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out)[0])
    assert sorted(r["unchanged"] for r in results) == [False, True]

    from pinlake.library import Library

    ds = Library(library).get_dataset("health_by_tag")
    from pinlake.datasets.versions import VersionLog

    entries = VersionLog(ds.path).entries()
    assert [e.dataset_version for e in entries] == [1]
    assert entries[0].lineage["pinlake.flow_run_id"]
    assert (ds.path / "stats.json").exists() and (ds.path / "preview.png").exists()
    assert ds.num_items == 12
