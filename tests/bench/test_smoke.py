"""Smoke run of the benchmark harness (N=200, pinlake only, one repetition) so it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the benchmark harness in a subprocess

REPO = Path(__file__).resolve().parents[2]


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--n",
            "200",
            "--only",
            "pinlake",
            "--reps",
            "1",
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAILED" not in proc.stdout, proc.stdout
    raw = json.loads((out / "n200.json").read_text())
    for step in ("ingest", "build", "build_embed", "folder", "refresh", "checkout", "take"):
        samples = raw["samples"][f"pinlake.{step}"]
        assert samples and not samples[0].get("failed"), step
        assert samples[0]["wall_s"] > 0 and samples[0]["rss_mb"] > 10
    assert raw["samples"]["pinlake.refresh"][0]["updated"] == 20  # n//10 images redrawn at N=200
    assert raw["samples"]["pinlake.take"][0]["rows"] == 100
    text = (out / "RESULTS.md").read_text()
    assert "| ingest N files into the lake |" in text and "Partial run" in text
