"""Smoke run of bench.ingest_scale at N = 2,000 (1M is the real run: bench/NOTES.md) so it cannot rot."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import index_bench, ingest_scale
from pinlake.datasets.finalize import json_bytes
from pinlake.datasets.stats import compute_stats
from pinlake.library.connection import Library
from pinlake.library.maintain import maintain_library

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
            "refresh: diff of the new version against the previous",
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
    # (1,000 rows picked of 2,040: a name or a digest picked twice is asked once; every one is found)
    asked = [(re.sub(r"[\d,]+", "K", label), int(re.search(r"[\d,]+", label)[0].replace(",", ""))) for label, *_ in measured]
    assert [what for what, _ in asked] == ["latest rows of K name", "latest rows of K names", "rows of K ids", "objects of K digests"]
    assert [rows for *_, rows in measured] == [k for _, k in asked] and asked[0][1] == 1 and asked[2][1] == 1000
    # the dataset's reads by id, once `pinlake maintain` indexed its tables (2,000 items is under INDEX_ROWS)
    with pytest.raises(SystemExit, match="no index"):
        index_bench.measure_dataset(lib, "scale", reps=1)
    assert sorted(maintain_library(lib).indexes["scale"]) == ["image", "item"]
    by_id = index_bench.measure_dataset(lib, "scale", reps=1)
    assert [(label, rows) for label, _, _, rows in by_id] == [
        ("scale.item by 1 id", 1),
        ("scale.item by 1,000 id", 1000),
        ("scale.image by 1 item_ref.id", 1),
        ("scale.image by 1,000 item_ref.id", 1000),
    ]
