"""Smoke run of bench.boxes_scale at N = 2,000 (100k and 1M are the real runs: bench/NOTES.md) so it cannot rot."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.compute as pc
import pytest

from bench import boxes_scale
from pinlake.library.connection import Library

pytestmark = pytest.mark.slow  # CLI subprocesses


def test_boxes_scale_smoke(tmp_path: Path) -> None:
    rows = boxes_scale.run(2000, tmp_path / "work", data_dir=tmp_path / "data")
    assert [(step, done) for step, _, mb, done in rows if mb > 10] == [
        ("lock, select recipe (images with boxes)", True),
        ("build of that lock (an entity and a box per object)", True),
    ]
    ds = Library(tmp_path / "work" / "n2000" / "library").get_dataset("boxes")
    assert ds.num_items == 2000 and ds.stats["items_per_split"] == {"train": 1600, "test": 400}
    expected = sum(len(boxes_scale.boxes_of(i)["objects"]["bbox"]) for i in range(2000))
    assert ds.open_lance("objects").count_rows() == ds.open_lance("bbox").count_rows() == expected == 3999
    # the boxes of one image (found by its bytes) are the ones its metadata carried
    raw = (tmp_path / "data" / "tiny2000" / "v1" / "0001" / "img-0001234.png").read_bytes()
    image = ds.open_lance("image").to_table(columns=["item_ref"], filter=f"sha256 = '{hashlib.sha256(raw).hexdigest()}'")
    assert image.num_rows == 1
    item_id = image["item_ref"][0]["id"].as_py()
    boxes = ds.open_lance("bbox").to_table(columns=["item_ref", "coords"])
    mine = boxes.filter(pc.equal(pc.struct_field(boxes["item_ref"], "id"), item_id))
    assert sorted(mine["coords"].to_pylist()) == sorted(boxes_scale.boxes_of(1234)["objects"]["bbox"])
    # made once: a second run reuses the lake (no new lake version)
    lake = Library(tmp_path / "work" / "n2000" / "library").get_datalake()
    before = lake.version
    boxes_scale.make_lake(2000, tmp_path / "work", tmp_path / "data")
    assert Library(tmp_path / "work" / "n2000" / "library").get_datalake().version == before
