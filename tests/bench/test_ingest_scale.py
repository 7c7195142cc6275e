"""Smoke run of bench.ingest_scale at N = 2,000 (1M is the real run: bench/NOTES.md) so it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import index_bench, ingest_scale
from pinlake.datasets.finalize import json_bytes
from pinlake.datasets.stats import compute_stats
from pinlake.library.connection import Library

pytestmark = pytest.mark.slow  # CLI subprocesses

REPO = Path(__file__).resolve().parents[2]


def test_ingest_scale_smoke(tmp_path: Path) -> None:
    rows = ingest_scale.run(2000, tmp_path / "work", dvc_timeout=120, data_dir=tmp_path / "data", install=False)
    steps = {step: (secs, mb, done) for step, secs, mb, done in rows}
    assert steps["pinlake ingest"][2] and steps["pinlake ingest"][1] > 10
    assert steps["pinlake ingest, nothing changed"][2] and "pinlake ingest, 20 changed" in steps
    assert all(steps[f"pinlake {s}"][2] for s in ("lock, list_data recipe", "lock, select recipe", "build of that lock"))
    work = tmp_path / "work" / "n2000" / "pinlake"
    # the columnar recipe and its list twin lock the same lines (the same hash)
    locks = [json.loads((work / d / "lock.json").read_text()) for d in ("lock-scale_list_recipe", "lock-scale_recipe")]
    assert locks[0]["hash"] == locks[1]["hash"] and locks[0]["splits"] == {"test": 400, "train": 1600}
    # the refresh: 20 more changes, locked again and built incrementally, the stats merged
    assert all(
        steps[s][2]
        for s in (
            "refresh: ingest after 20 more changed",
            "refresh: lock, select recipe, from the previous lock",
            "refresh: build of that lock (incremental)",
        )
    )
    ds = Library(work / "library").get_dataset("scale")
    assert [v.operation for v in ds.versions()] == ["build:create", "build:lock-incremental"]
    assert ds.stats == json.loads(json_bytes(compute_stats(ds))) and ds.stats["items_per_split"] == {"train": 1600, "test": 400}
    # what the runs left: 2,000 resources, the same 20 changed twice, one lake version per changing run
    lib = tmp_path / "work" / "n2000" / "pinlake" / "library"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinlake",
            "sql",
            "SELECT count(*) AS n, max(version) AS v FROM lake.data WHERE is_latest",
            "--json",
            "--library",
            str(lib),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": 2000, "v": 3}]
    assert "| 2,000 | pinlake ingest |" in ingest_scale.table({2000: rows})
    # the lake's lookups with and without its indexes (made here: 2,000 rows is under INDEX_ROWS)
    measured = index_bench.measure(lib, reps=1, create=True)
    assert [label for label, *_ in measured] == [
        "latest rows of 1 name",
        "latest rows of 1,000 names",
        "rows of 1,000 ids",
        "objects of 1,000 digests",
    ]
    assert [rows for *_, rows in measured] == [1, 1000, 1000, 1000]
