"""Pascal VOC → pinlake → VOC gives the same annotations (both XMLs parsed, every field compared:
filename, size, source and owner, objects with name, pose, truncated, difficult, bndbox, occluded
and parts) and the same splits. Bad input stops the build with the file and XML element, and writes
nothing; --lenient skips bad objects and counts them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coco_data import detection, write
from voc_data import OBJECTS, SPLITS, annotation_xml, fields, write_voc

import pinlake
from pinlake.datasets.formats import voc as voc_format
from pinlake.datasets.formats.voc import VocBuilder, export_voc
from pinlake.errors import InputFileError
from pinlake.library import Library
from pinlake.library.build import build_annotations


def build(tmp_path: Path, source: Path, name: str = "voc", **kw: Any) -> Any:
    lib = Library(tmp_path / "library").ensure()
    return build_annotations(lib, source, name, format="voc", **kw)


def test_round_trip_gives_the_same_annotations_and_splits(tmp_path):
    root = write_voc(tmp_path / "VOCdevkit" / "VOC2007")
    res = build(tmp_path, tmp_path / "VOCdevkit")  # the devkit folder holding one VOC folder works too
    ds = res.dataset
    assert ds.splits() == {"train": 3, "val": 1}  # dog_train.txt is a class list, not a split
    n = sum(len(v) for v in OBJECTS.values())
    assert ds.num_rows("objects") == n and ds.num_rows("bbox") == n
    assert [(c.id, c.name) for c in ds.info.categories] == [(1, "cat"), (2, "dog"), (3, "person")]
    assert ds.state.lineage["pinlake.source_format"] == "voc"
    # 1-based inclusive corners stored as pixels xywh from the top-left: (11, 21, 60, 80) -> [10, 20, 50, 60]
    objects = {o["id"]: o for o in ds.to_arrow("objects").to_pylist()}
    dog = next(b for b in ds.to_arrow("bbox").to_pylist() if objects[b["entity_ref"]["id"]]["pose"] == "Left")
    assert dog["coords"] == [10.0, 20.0, 50.0, 60.0] and dog["format"] == "xywh" and not dog["is_normalized"]

    out = tmp_path / "out"
    result = pinlake.open("voc@1", library=tmp_path / "library").export("voc", out)
    assert result.counts["images_written"] == 4 and "pinlake.json" in result.files
    for image_id in OBJECTS:
        assert fields(out / "Annotations" / f"{image_id}.xml") == fields(root / "Annotations" / f"{image_id}.xml")
        assert (out / "JPEGImages" / f"{image_id}.jpg").read_bytes() == (root / "JPEGImages" / f"{image_id}.jpg").read_bytes()
    for split, ids in SPLITS.items():
        assert (out / "ImageSets" / "Main" / f"{split}.txt").read_text().split() == ids
    meta = json.loads((out / "pinlake.json").read_text())
    assert meta["pinlake"]["dataset"] == "voc" and meta["pinlake"]["pin"] == "voc@1"
    assert [c["name"] for c in meta["categories"]] == ["cat", "dog", "person"]

    # the export imports again to the same annotations
    again = build(tmp_path, out, name="again").dataset
    assert again.info.categories == ds.info.categories  # read from the export's pinlake.json
    export_voc(again, tmp_path / "out2", media="none")
    assert not (tmp_path / "out2" / "JPEGImages").exists()
    for image_id in OBJECTS:
        assert fields(tmp_path / "out2" / "Annotations" / f"{image_id}.xml") == fields(root / "Annotations" / f"{image_id}.xml")


def test_coco_exports_to_voc_with_one_based_corners(tmp_path):
    doc = detection(tmp_path / "coco" / "images")
    lib = Library(tmp_path / "library").ensure()
    coco = build_annotations(lib, write(tmp_path / "coco" / "a.json", doc), "coco", format="coco", images=tmp_path / "coco" / "images")
    export_voc(coco.dataset, tmp_path / "voc")
    first = fields(tmp_path / "voc" / "Annotations" / "img000.xml")
    assert first["size"] == [160, 120, 3]
    assert {"name": "circle", "bbox": [11.0, 11.0, 60.0, 50.0]} in [{"name": o["name"], "bbox": o["bndbox"]} for o in first["objects"]]
    assert len(list((tmp_path / "voc" / "Annotations").glob("*.xml"))) == 4
    back = build_annotations(lib, tmp_path / "voc", "back", format="voc").dataset
    coords = sorted(r["coords"] for r in back.to_arrow("bbox", columns=["coords"]).to_pylist())
    assert coords == sorted(a["bbox"] for a in doc["annotations"])
    assert back.splits() == {"train": 4}


def _write(root: Path, image_id: str, text: str) -> None:
    (root / "Annotations" / f"{image_id}.xml").write_text(text)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: _write(r, "000002", annotation_xml("000002", OBJECTS["000002"], None)), "000002.xml: <annotation> has no <size>"),
        (
            lambda r: _write(r, "000002", annotation_xml("000002", OBJECTS["000002"], (0, 10))),
            "000002.xml: <size>: needs positive integer <width> and <height>",
        ),
        (
            lambda r: _write(
                r,
                "000001",
                annotation_xml("000001", OBJECTS["000001"], (160, 120))
                .replace("<bndbox><xmin>1</xmin>", "<box><xmin>1</xmin>")
                .replace("</ymax></bndbox></object>\n</annotation>", "</ymax></box></object>\n</annotation>"),
            ),
            "000001.xml: <object> #2 ('person'): no <bndbox>",
        ),
        (
            lambda r: _write(
                r, "000004", annotation_xml("000004", OBJECTS["000004"], (200, 100)).replace("<xmin>100</xmin>", "<xmin>a</xmin>")
            ),
            "000004.xml: <object> #1 ('dog'): <bndbox> needs numbers",
        ),
        (lambda r: (r / "ImageSets" / "Main" / "val.txt").write_text("000003\n000009\n"), "val.txt:2: id '000009' has no annotation file"),
        (lambda r: (r / "JPEGImages" / "000003.jpg").unlink(), "000003.xml: <filename> '000003.jpg': no such image"),
        (lambda r: _write(r, "000003", "<annotation><size>"), "000003.xml:1: invalid XML"),
    ],
)
def test_bad_input_names_the_file_and_element_and_writes_nothing(tmp_path, change, expected):
    root = write_voc(tmp_path / "VOC2007")
    change(root)
    with pytest.raises(InputFileError) as err:
        build(tmp_path, root)
    assert expected in err.value.message
    assert not (tmp_path / "library" / "voc").exists()


def test_lenient_skips_bad_objects_and_counts_them(tmp_path):
    root = write_voc(tmp_path / "VOC2007")
    text = annotation_xml("000004", OBJECTS["000004"], (200, 100)).replace("<xmin>100</xmin>", "<xmin>a</xmin>")
    _write(root, "000004", text)
    with pytest.raises(InputFileError, match="needs numbers") as err:
        build(tmp_path, root)
    assert "lenient" in (err.value.hint or "")
    res = build(tmp_path, root, lenient=True)
    assert len(res.skipped) == 1 and "000004.xml: <object> #1" in res.skipped[0]
    assert res.dataset.state.lineage["pinlake.skipped_annotations"] == "1"
    assert res.dataset.num_rows("objects") == sum(len(v) for v in OBJECTS.values()) - 1
    # a missing <size> is not a bad object: lenient still stops
    _write(root, "000002", annotation_xml("000002", OBJECTS["000002"], None))
    with pytest.raises(InputFileError, match="has no <size>"):
        build(tmp_path, root, name="voc2", lenient=True)


def test_the_cli_builds_and_exports_voc(tmp_path):
    root = write_voc(tmp_path / "VOC2007")
    env = {**os.environ, "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pinlake", *args, "--library", str(tmp_path / "lib")],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    built = cli("build", str(root), "--format", "voc", "--name", "voc")
    assert built.returncode == 0, built.stderr
    exported = cli("export", "voc@1", "--format", "voc", "--out", str(tmp_path / "out"), "--media", "none", "--record-use", "--json")
    assert exported.returncode == 0, exported.stderr
    files = json.loads(exported.stdout)["files"]
    assert "Annotations/000001.xml" in files and "ImageSets/Main/train.txt" in files
    for image_id in OBJECTS:
        assert fields(tmp_path / "out" / "Annotations" / f"{image_id}.xml") == fields(root / "Annotations" / f"{image_id}.xml")
    consumers = pinlake.sql("SELECT run FROM catalog.consumers", library=tmp_path / "lib").to_pylist()
    assert consumers and consumers[0]["run"].startswith("export:voc:")


def test_builder_class_is_public(tmp_path):
    root = write_voc(tmp_path / "VOC2007")
    (root / "ImageSets" / "Main" / "train.txt").unlink()
    (root / "ImageSets" / "Main" / "val.txt").unlink()
    ds = pinlake.VocBuilder(root, tmp_path / "lib" / "voc", split="all").build(mode="create")
    assert ds.splits() == {"all": 4}  # no split list: every annotation in the given split
    assert isinstance(VocBuilder, type)


def test_images_with_one_stem_get_their_own_annotation_files(tmp_path):
    doc = detection(tmp_path / "coco" / "images")
    (tmp_path / "coco" / "images" / "img001.png").rename(tmp_path / "coco" / "images" / "img000.png")
    doc["images"][1]["file_name"] = "img000.png"  # img000.jpg and img000.png: one stem
    lib = Library(tmp_path / "library").ensure()
    coco = build_annotations(lib, write(tmp_path / "coco" / "a.json", doc), "coco", format="coco", images=tmp_path / "coco" / "images")
    export_voc(coco.dataset, tmp_path / "voc", media="none")
    assert len(list((tmp_path / "voc" / "Annotations").glob("*.xml"))) == 4
    assert len((tmp_path / "voc" / "ImageSets" / "Main" / "train.txt").read_text().split()) == 4


def test_annotation_text_is_what_elementtree_writes(tmp_path):
    nodes = [
        ("folder", "a & b <c>", None),
        ("filename", "é.jpg", None),
        ("size", None, [("width", "10", None), ("height", "", None), ("depth", " ", None)]),
        ("source", None, [("database", "x", None), ("empty", None, []), ("deep", None, [("z", "\ud800", None)])]),
    ]
    objects = [
        ("cat > dog", "Left", True, False, ["1", "2.5", "3", "4"], [("occluded", "0", None), ("part", None, [("name", "head", None)])]),
        ("", "Unspecified", False, True, ["0", "0", "0", "0"], []),
        ("n", "", False, False, ["1", "1", "1", "1"], []),
    ]

    def reference(nodes: list[Any], objects: list[Any]) -> bytes:
        root = ET.Element("annotation")
        for node in [*nodes, *(voc_format.object_node(*o) for o in objects)]:
            voc_format.to_element(node, root)
        ET.indent(root)
        ET.ElementTree(root).write(tmp_path / "ref.xml", encoding="utf-8", xml_declaration=False)
        return (tmp_path / "ref.xml").read_bytes()

    assert voc_format.annotation_xml(nodes, objects) == reference(nodes, objects)
    namespaced = [*nodes, ("extra", None, [("{http://example.org/ns}tag", "v", None)])]
    assert voc_format.annotation_xml(namespaced, objects) == reference(namespaced, objects)
    values = [0.0, -0.0, 1.0, 2.5, 3.4999999999, 1e-10, 123456.123456789, -7.25, 1e20]
    assert voc_format.corners(np.array(values)) == [voc_format.corner(v) for v in values]


def test_an_export_in_partitions_writes_what_one_partition_writes(tmp_path, monkeypatch):
    """Large versions are exported a hash partition of items (with their entities and boxes) at a
    time: the same annotation files, image sets, images and counts, whatever the partition count."""
    write_voc(tmp_path / "VOCdevkit" / "VOC2007")
    ds = build(tmp_path, tmp_path / "VOCdevkit").dataset
    outs = {}
    for part_rows in (10**6, 2, 1):
        monkeypatch.setattr(voc_format, "PART_ROWS", part_rows)
        out = tmp_path / f"out-{part_rows}"
        result = export_voc(ds, out)
        files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != "pinlake.json"}
        outs[part_rows] = (files, result.files, result.counts)
    assert outs[1] == outs[2] == outs[10**6]
    files, listed, counts = outs[1]
    assert sum(1 for name in files if name.startswith("Annotations/")) == len(OBJECTS) and counts["images_written"] == len(OBJECTS)
    for split, ids in SPLITS.items():
        assert files[f"ImageSets/Main/{split}.txt"].decode().split() == ids
