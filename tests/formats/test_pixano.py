"""pinlake → Pixano's import layout (JSONL v2, as bench/peer_scripts/pixano_convert.py writes it for
`pixano data import` in the benchmark): the spec, one record per item with its entities' boxes and
keypoints, the images beside the records, the provenance."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from coco_data import detection, keypoints, write

import pinlake
from pinlake.library import Library
from pinlake.library.build import build_annotations

REPO = Path(__file__).resolve().parents[2]


def _converter_record_keys() -> set[str]:
    """The record keys the benchmark's converter writes for Pixano (the grammar Pixano 0.8 imports)."""
    spec = importlib.util.spec_from_file_location("pixano_convert", REPO / "bench" / "peer_scripts" / "pixano_convert.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    meta = {"image": "a.jpg", "image_type": "mri", "objects": {"category": ["x"], "bbox": [[0, 0, 1, 1]], "keypoints": [[0, 0]]}}
    record = module.record("train", meta)
    assert module.HEADER["$pixano"] == "jsonl/2"
    return (
        set(record) | {f"entity.{k}" for k in record["entities"][0]} | {f"kind.{a['kind']}" for a in record["entities"][0]["annotations"]}
    )


@pytest.mark.parametrize("make", [detection, keypoints])
def test_pixano_export_has_every_record_box_and_keypoint(tmp_path, make):
    doc = make(tmp_path / "in" / "images")
    ann = write(tmp_path / "in" / "a.json", doc)
    build_annotations(Library(tmp_path / "lib").ensure(), ann, "shapes", format="coco", images=tmp_path / "in" / "images")
    result = pinlake.open("shapes", library=tmp_path / "lib").export("pixano", tmp_path / "out")
    spec = yaml.safe_load((tmp_path / "out" / "dataset.yaml").read_text())
    assert spec["pixano"] == 2 and spec["schema"]["views"] == {"image": "image"}
    assert spec["schema"]["entity"]["attrs"]["category"] == "str" and spec["schema"]["record"]["attrs"]["coco_id"] == "int"
    lines = (tmp_path / "out" / "train" / "metadata.jsonl").read_text().splitlines()
    header, records = json.loads(lines[0]), [json.loads(x) for x in lines[1:]]
    assert header["$pixano"] == "jsonl/2" and header["defaults"]["bbox"] == {"format": "xywh", "is_normalized": False}
    assert len(records) == len(doc["images"]) == result.counts["records.train"]
    keys = _converter_record_keys()
    by_file = {img["file_name"]: img for img in doc["images"]}
    for rec in records:
        assert {"split", "attrs", "views", "entities"} <= keys and set(rec) == {"split", "attrs", "views", "entities"}
        img = by_file[rec["views"]["image"]]
        assert (tmp_path / "out" / "train" / rec["views"]["image"]).read_bytes() == (
            tmp_path / "in" / "images" / img["file_name"]
        ).read_bytes()
        want = sorted(a["bbox"] for a in doc["annotations"] if a["image_id"] == img["id"])
        got = sorted(a["coords"] for e in rec["entities"] for a in e["annotations"] if a["kind"] == "bbox")
        assert got == want
        for e in rec["entities"]:
            assert {f"entity.{k}" for k in e} <= keys and {f"kind.{a['kind']}" for a in e["annotations"]} <= keys
    if make is keypoints:
        kps = [a for r in records for e in r["entities"] for a in e["annotations"] if a["kind"] == "keypoints"]
        assert len(kps) == len(doc["annotations"]) and all(len(k["coords"]) == 34 and len(k["states"]) == 17 for k in kps)
    else:
        assert result.counts["skipped_masks"] == len(doc["annotations"])
    assert json.loads((tmp_path / "out" / "pinlake.json").read_text())["format"] == "pixano"
