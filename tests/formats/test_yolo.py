"""YOLO (Ultralytics layout) → pinlake → YOLO gives the same label files (floats to 6 places, box and
polygon lines); COCO → pinlake → YOLO → pinlake keeps the boxes to within a pixel. Bad input stops
the build with the file and line, and writes nothing; --lenient skips bad lines and counts them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from coco_data import detection, write
from yolo_data import LABELS, NAMES, label_files, six_places, write_dataset

import pinlake
from pinlake.datasets.formats import yolo as yolo_format
from pinlake.datasets.formats.yolo import YoloBuilder, box_lines, export_yolo, merge_polygons, polygon_lines
from pinlake.errors import InputFileError
from pinlake.library import Library
from pinlake.library.build import build_annotations


def build(tmp_path: Path, source: Path, name: str = "shapes", **kw: Any) -> Any:
    lib = Library(tmp_path / "library").ensure()
    return build_annotations(lib, source, name, format="yolo", **kw)


def expected_labels(root: Path) -> dict[str, list[str]]:
    return {k: sorted(six_places(line) for line in v) for k, v in label_files(root).items()}


def test_round_trip_gives_the_same_label_files(tmp_path):
    data_yaml = write_dataset(tmp_path / "in")
    res = build(tmp_path, data_yaml)
    ds = res.dataset
    assert ds.splits() == {"train": 3, "val": 1}
    lines = sum(len(v or []) for files in LABELS.values() for v in files.values())
    assert ds.num_rows("objects") == lines and ds.num_rows("bbox") == lines and ds.num_rows("mask") == 2
    assert [(c.id, c.name) for c in ds.info.categories] == list(enumerate(NAMES))
    assert ds.state.lineage["pinlake.source_format"] == "yolo"
    # boxes are stored in pixels, xywh from the top-left corner; polygons in pixels as COCO's
    objects = {o["id"]: o for o in ds.to_arrow("objects").to_pylist()}
    boxes = ds.to_arrow("bbox").to_pylist()
    a_box = next(b for b in boxes if objects[b["entity_ref"]["id"]]["category_id"] == 0 and b["coords"][0] > 50)
    assert a_box["coords"] == pytest.approx([60.0, 36.0, 40.0, 48.0]) and not a_box["is_normalized"]  # a.jpg is 160 x 120
    tri = next(o for o in objects.values() if o["polygons"] and o["category"] == "triangle" and len(json.loads(o["polygons"])[0]) == 6)
    assert json.loads(tri["polygons"]) == [pytest.approx([12.8, 12.8, 115.2, 12.8, 64.0, 102.4])]  # b.png is 128 x 128

    out = tmp_path / "out"
    result = pinlake.open("shapes@1", library=tmp_path / "library").export("yolo", out)
    assert result.files[0] == "data.yaml" and result.counts["images_written"] == 4
    assert label_files(out) == expected_labels(tmp_path / "in")
    assert (out / "labels" / "train" / "c.txt").read_text() == ""  # no objects: an empty label file
    doc = yaml.safe_load((out / "data.yaml").read_text())
    assert doc["names"] == NAMES and doc["nc"] == 3 and doc["train"] == "images/train" and doc["val"] == "images/val"
    assert doc["pinlake"]["dataset"] == "shapes" and doc["pinlake"]["version"] == 1 and doc["pinlake"]["pin"] == "shapes@1"
    for split, files in LABELS.items():
        for name in files:
            assert (out / "images" / split / name).read_bytes() == (tmp_path / "in" / "images" / split / name).read_bytes()

    # and again: the export imports to the same labels (its data.yaml is found through the folder)
    again = build(tmp_path, out, name="again").dataset
    export_yolo(again, tmp_path / "out2", media="none")
    assert not (tmp_path / "out2" / "images").exists()
    for key, lines in expected_labels(tmp_path / "in").items():
        split, stem = key.split("/")
        assert sorted((tmp_path / "out2" / "labels" / split / f"{stem}.txt").read_text().splitlines()) == lines


def test_names_as_a_mapping_and_splits_as_lists(tmp_path):
    data_yaml = write_dataset(tmp_path / "in", names=dict(enumerate(NAMES)), lists=True)
    ds = build(tmp_path, data_yaml).dataset
    assert ds.splits() == {"train": 3, "val": 1} and [c.name for c in ds.info.categories] == NAMES
    export_yolo(ds, tmp_path / "out")
    assert label_files(tmp_path / "out") == expected_labels(tmp_path / "in")


def test_more_decimals_come_back_to_six_places(tmp_path):
    labels = {"train": {"a.jpg": ["0 0.3594420600858369 0.5 0.114 0.17381974248927037", "1 0.1 0.2 0.3 0.2 0.25 0.9"]}}
    ds = build(tmp_path, write_dataset(tmp_path / "in", labels=labels)).dataset
    export_yolo(ds, tmp_path / "out", media="none")
    assert sorted((tmp_path / "out" / "labels" / "train" / "a.txt").read_text().splitlines()) == sorted(
        six_places(line) for line in labels["train"]["a.jpg"]
    )


def _bad_line(root: Path, line: str) -> None:
    (root / "labels" / "train" / "a.txt").write_text(f"0 0.5 0.5 0.25 0.4\n{line}\n")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: _bad_line(r, "1 0.5 0.5 0.2"), "labels/train/a.txt:2: 4 values: a box line has 5"),
        (lambda r: _bad_line(r, "1 0.5 0.5 0.2 0.2 0.3"), "labels/train/a.txt:2: 6 values"),
        (lambda r: _bad_line(r, "7 0.5 0.5 0.2 0.2"), "labels/train/a.txt:2: class 7 is not in names (classes 0-2)"),
        (lambda r: _bad_line(r, "x 0.5 0.5 0.2 0.2"), "labels/train/a.txt:2: class 'x' is not an integer"),
        (lambda r: _bad_line(r, "1 0.5 1.2 0.2 0.2"), "labels/train/a.txt:2: coordinate 2 (1.2) is outside [0, 1]"),
        (lambda r: _bad_line(r, "2 0.1 0.1 0.9 -0.1 0.5 0.8"), "labels/train/a.txt:2: coordinate 4 (-0.1) is outside [0, 1]"),
    ],
)
def test_bad_lines_name_the_file_and_line_and_write_nothing(tmp_path, change, expected):
    data_yaml = write_dataset(tmp_path / "in")
    change(tmp_path / "in")
    with pytest.raises(InputFileError) as err:
        build(tmp_path, data_yaml)
    assert expected in err.value.message and "--lenient" in (err.value.hint or "")
    assert not (tmp_path / "library" / "shapes").exists()


def test_a_missing_listed_image_and_a_label_without_image(tmp_path):
    data_yaml = write_dataset(tmp_path / "in", lists=True)
    (tmp_path / "in" / "images" / "train" / "b.png").unlink()
    with pytest.raises(InputFileError) as err:
        build(tmp_path, data_yaml)
    assert "train.txt:2: image './images/train/b.png' is missing" in err.value.message
    assert not (tmp_path / "library" / "shapes").exists()

    data_yaml = write_dataset(tmp_path / "in2")
    (tmp_path / "in2" / "labels" / "val" / "zz.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(InputFileError) as err:
        build(tmp_path, data_yaml, lenient=True)  # not a bad line: lenient does not skip it
    assert "labels/val/zz.txt: a label file without an image" in err.value.message
    assert not (tmp_path / "library" / "shapes").exists()

    (tmp_path / "in2" / "labels" / "val" / "zz.txt").unlink()
    doc = yaml.safe_load(data_yaml.read_text())
    doc.pop("names")
    data_yaml.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputFileError, match="no 'names'"):
        build(tmp_path, data_yaml)


def test_lenient_skips_bad_lines_and_counts_them(tmp_path):
    data_yaml = write_dataset(tmp_path / "in")
    _bad_line(tmp_path / "in", "7 0.5 0.5 0.2 0.2")
    (tmp_path / "in" / "labels" / "val" / "d.txt").write_text("1 0.7 0.3 0.2 0.4\n1 0.7 0.3 0.2 1.5\n1 0.7\n")
    res = build(tmp_path, data_yaml, lenient=True)
    assert len(res.skipped) == 3 and all(":" in m for m in res.skipped)
    assert res.dataset.state.lineage["pinlake.skipped_annotations"] == "3"
    assert res.dataset.num_rows("objects") == 1 + 2 + 1


def test_coco_to_yolo_to_pinlake_keeps_the_boxes_within_a_pixel(tmp_path):
    doc = detection(tmp_path / "coco" / "images")
    lib = Library(tmp_path / "library").ensure()
    coco = build_annotations(lib, write(tmp_path / "coco" / "a.json", doc), "coco", format="coco", images=tmp_path / "coco" / "images")
    result = export_yolo(coco.dataset, tmp_path / "yolo")
    assert result.counts["merged_polygons"] == 1  # the two-polygon square is one line
    back = build_annotations(lib, tmp_path / "yolo" / "data.yaml", "back", format="yolo").dataset
    assert [c.name for c in back.info.categories] == ["circle", "square"]

    def boxes(ds: Any) -> list[tuple[str, str, list[float]]]:
        items = {r["id"]: r["file_name"] for r in ds.to_arrow("item", columns=["id", "file_name"]).to_pylist()}
        cats = {r["id"]: r["category"] for r in ds.to_arrow("objects", columns=["id", "category"]).to_pylist()}
        rows = ds.to_arrow("bbox", columns=["item_ref", "entity_ref", "coords"]).to_pylist()
        return sorted((items[r["item_ref"]["id"]], cats[r["entity_ref"]["id"]], r["coords"]) for r in rows)

    before, after = boxes(coco.dataset), boxes(back)
    assert len(before) == len(after) == len(doc["annotations"])
    for (f1, c1, b1), (f2, c2, b2) in zip(before, after):
        assert (f1, c1) == (f2, c2) and b2 == pytest.approx(b1, abs=1.0)
    polys = [json.loads(p) for p in back.to_arrow("objects", columns=["polygons"]).column("polygons").to_pylist() if p]
    assert len(polys) == 3  # the polygons came back as polygons (the RLE-only masks as boxes)


def test_the_cli_builds_and_exports_yolo(tmp_path):
    data_yaml = write_dataset(tmp_path / "in")
    env = {**os.environ, "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pinlake", *args, "--library", str(tmp_path / "lib")],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    built = cli("build", str(data_yaml.parent), "--format", "yolo", "--name", "shapes")
    assert built.returncode == 0, built.stderr
    assert "Built shapes version 1 from yolo" in built.stdout
    exported = cli("export", "shapes@1", "--format", "yolo", "--out", str(tmp_path / "out"), "--media", "link", "--json")
    assert exported.returncode == 0, exported.stderr
    assert "data.yaml" in json.loads(exported.stdout)["files"]
    assert label_files(tmp_path / "out") == expected_labels(tmp_path / "in")
    bad = cli("build", str(tmp_path / "nowhere"), "--format", "yolo", "--name", "x")
    assert bad.returncode == 1 and "no such YOLO dataset" in bad.stderr and "Traceback" not in bad.stderr


def test_builder_class_is_public(tmp_path):
    data_yaml = write_dataset(tmp_path / "in")
    ds = pinlake.YoloBuilder(data_yaml, tmp_path / "lib" / "shapes", embed=True).build(mode="create")
    assert ds.num_items == 4 and ds.to_arrow("image", columns=["content"]).column("content").null_count == 0
    assert isinstance(YoloBuilder, type)


def per_value_box_line(cls: int, x: float, y: float, bw: float, bh: float, w: int, h: int) -> tuple[str, bool]:
    """A box line as one box at a time computes it (clipped, normalised, each value clamped to [0, 1], 6 places)."""

    def fmt(v: float) -> str:
        return f"{min(max(v, 0.0), 1.0):.6f}"

    x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + bw, float(w)), min(y + bh, float(h))
    clipped = max(x1 - x, y1 - y, x + bw - x2, y + bh - y2) > 1e-6 * max(w, h)
    x, y, bw, bh = x1, y1, max(x2 - x1, 0.0), max(y2 - y1, 0.0)
    return f"{cls} {fmt((x + bw / 2) / w)} {fmt((y + bh / 2) / h)} {fmt(bw / w)} {fmt(bh / h)}", clipped


def test_column_wise_lines_equal_the_per_value_text():
    rng = np.random.default_rng(7)
    n = 400
    w = rng.integers(1, 2000, n)
    h = rng.integers(1, 2000, n)
    boxes = rng.normal(0, 1, (n, 4)) * np.stack([w, h, w, h], axis=1)
    boxes[:5] = [[-0.0, -0.0, 0.0, 0.0], [0.0, 0.0, 1e-300, 5.0], [-1e-9, 3.0, 7.0, 1e-7], [1.5, 2.5, 3.5, 4.5], [0.0, 0.0, 2000.0, 2000.0]]
    classes = rng.integers(0, 80, n).tolist()
    lines, clipped = box_lines(classes, boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], w, h)
    expected = [per_value_box_line(c, *b, int(ww), int(hh)) for c, b, ww, hh in zip(classes, boxes.tolist(), w, h)]
    assert lines == [e[0] for e in expected]
    assert clipped.tolist() == [e[1] for e in expected]

    polygons = [
        [[10, 20.5, 30, 40, 50.25, 60]],
        [[-5.0, 0, 700.0, 3, 4, 5, 6]],  # an odd count: the last value is no point
        [[1, 2, 3, 4, 5, 6], [100, 100, 110, 100, 110, 110]],  # merged into one ring
        [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]],
    ]
    pw, ph = np.array([640, 640, 200, 3]), np.array([480, 480, 150, 7])
    texts, merged = polygon_lines([1, 2, 3, 4], [json.dumps(p) for p in polygons], pw, ph)
    for text, poly, ww, hh, cls in zip(texts, polygons, pw.tolist(), ph.tolist(), [1, 2, 3, 4]):
        ring = merge_polygons(poly)
        assert text == f"{cls} " + " ".join(f"{min(max(v / (ww if j % 2 == 0 else hh), 0.0), 1.0):.6f}" for j, v in enumerate(ring))
    assert merged == [False, False, True, False]


def exported_files(out: Path) -> dict[str, bytes]:
    """Every file an export wrote, by path (data.yaml without its path and time)."""
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    doc = yaml.safe_load(files.pop("data.yaml"))
    del doc["path"], doc["pinlake"]["exported_at"]
    files["data.yaml"] = json.dumps(doc, sort_keys=True).encode()
    return files


def test_an_export_in_partitions_writes_what_one_partition_writes(tmp_path, monkeypatch):
    """Large versions are exported a hash partition of items (with their entities and boxes) at a
    time: the same label files, images and counts, the files listed in item order, whatever the
    partition count."""
    ds = build(tmp_path, write_dataset(tmp_path / "in")).dataset
    outs = {}
    for part_rows in (10**6, 2, 1):
        monkeypatch.setattr(yolo_format, "PART_ROWS", part_rows)
        out = tmp_path / f"out-{part_rows}"
        result = yolo_format.export_yolo(ds, out)
        outs[part_rows] = (exported_files(out), result.files, result.counts)
    assert outs[1] == outs[2] == outs[10**6]
    files, listed, counts = outs[1]
    assert sum(1 for name in files if name.startswith("labels/")) == 4 and counts["images_written"] == 4
    assert listed[1:] == [name for name in listed[1:] if name.startswith("labels/")] and len(listed) == 5
