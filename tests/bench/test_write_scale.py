"""Smoke run of bench.write_scale (10,000 writes is the real run: bench/NOTES.md): the loop of one-row
updates runs in a library and reports both ratios, and the side-by-side one against a new library."""

from __future__ import annotations

import pytest

from bench import write_scale

pytestmark = pytest.mark.slow  # a COCO import and 110 library writes


def test_write_scale_reports_the_ratios() -> None:
    report = write_scale.main(["--writes", "110", "--every", "50", "--rounds", "2"])
    assert set(report["median_ms"]) == {"writes 10-19", "writes 50-59", "writes 100-109"}  # type: ignore[arg-type]
    for key in ("writes 101-110", "writes 10-109", "ratio_last_to_10th", "ratio_last_100_to_first_100"):
        assert float(report[key]) > 0, key  # type: ignore[arg-type]
    side = report["side by side"]
    assert set(side) == {"young dataset ms", "dataset at 110 writes ms", "ratio"} and all(v > 0 for v in side.values())  # type: ignore[union-attr]
