"""Refresh flows on a library in a bucket: two processes refreshing one dataset at once through a real
Prefect server share no disk lock, only the dataset's global concurrency limit and the version log's
conditional commit; exactly one builds, the other finds the lock unchanged."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.e2e


def test_two_refreshes_of_an_s3_dataset_are_serialised(prefect_server, project, bucket, s3_env, concurrent_refreshes):
    library = f"s3://{bucket}/lib"
    _, registry, _ = project(library=library)
    results = concurrent_refreshes("health_by_tag", registry, library, {**os.environ, **s3_env})
    assert sorted(r["unchanged"] for r in results) == [False, True]

    from pinlake.library import Library

    ds = Library(library).get_dataset("health_by_tag")
    from pinlake.datasets.versions import VersionLog

    entries = VersionLog(ds.path).entries()
    assert [e.dataset_version for e in entries] == [1]
    assert entries[0].lineage["pinlake.flow_run_id"]
    assert (ds.path / "stats.json").exists() and (ds.path / "preview.png").exists()
    assert ds.num_items == 12
