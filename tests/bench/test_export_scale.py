"""Smoke run of bench.export_scale (10k and 100k images is the real run: bench/RESULTS.md): a COCO
import and its COCO, YOLO and VOC exports, each a process through the launcher, at two small N; the
exports hold every image and annotation of the input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import export_scale

pytestmark = pytest.mark.slow  # eight CLI processes


def test_export_scale_measures_every_step(tmp_path: Path) -> None:
    results = {n: export_scale.run(n, tmp_path, ["coco", "yolo", "voc"]) for n in (20, 40)}
    for rows in results.values():
        assert [step for step, _, _ in rows] == ["import (coco)", "export coco", "export yolo", "export voc"]
        assert all(secs > 0 and 50 < rss < 4000 for _, secs, rss in rows)  # a real process's own peak, in MB
    table = export_scale.table(results)
    assert "| export voc |" in table and "RSS 40 / 20" in table
    # the case is kept and exports its version whole
    ann = json.loads((tmp_path / "n40" / "coco" / "annotations" / "instances_train.json").read_text())
    import pinlake

    out = pinlake.open("bench", library=tmp_path / "n40" / "library").export("coco", tmp_path / "check", media="none")
    exported = json.loads((out.out / out.files[0]).read_text())
    assert len(exported["images"]) == len(ann["images"]) == 40
    assert len(exported["annotations"]) == len(ann["annotations"])
