"""Smoke run of bench.formats_bench without its peers (Datumaro, Pixano and FiftyOne are the real
run's, in their own virtual environments: bench/RESULTS.md): the COCO import and both exports are
timed, each run reported, and the exports' outputs are gone at the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two CLI imports and four exports

REPO = Path(__file__).resolve().parents[2]


def test_formats_bench_times_the_import_and_the_exports(tmp_path: Path) -> None:
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.formats_bench", "--n", "12", "--reps", "2", "--no-peers", "--work", str(work)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(proc.stdout)
    assert report["n_images"] == 12 and report["n_annotations"] > 12
    assert len(report["pinlake_import_runs"]) == 2 and report["pinlake_import_s"] > 0
    for fmt in ("coco", "yolo"):
        runs = report[f"pinlake_export_{fmt}_runs"]
        assert len(runs) == 2 and all(t > 0 for t in runs)
        assert report[f"pinlake_export_{fmt}_s"] > 0
    assert not list(work.glob("export-*")), "the exports are deleted after the last one"
    assert "fiftyone_from_dir_s" not in report and "datumaro_convert_s" not in report
