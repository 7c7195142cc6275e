"""COCO → pinlake → COCO, checked by pycocotools: the export loads in COCO(), equals the input after
normalising ids and order, and COCOeval of the export (every detection scored 1.0) against the
input as ground truth gives AP = 1.0 for bbox, segm and keypoints. Bad input stops the build with
the file, annotation and field, and writes nothing."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coco_data import PERSON_KEYPOINTS, SKELETON, detection, keypoints, write
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import pinlake
from pinlake.datasets.formats.coco import CocoBuilder
from pinlake.errors import InputFileError
from pinlake.library import Library
from pinlake.library.build import build_annotations

# pycocotools' mask.decode (used here to compare masks) warns under NumPy 2; the warning is its own
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def build(tmp_path: Path, doc: dict[str, Any], name: str = "shapes", **kw: Any) -> Any:
    ann = write(tmp_path / "in" / "annotations.json", doc)
    lib = Library(tmp_path / "library").ensure()
    return build_annotations(lib, ann, name, format="coco", images=tmp_path / "in" / "images", **kw)


def quiet_eval(gt: COCO, dt: COCO, iou_type: str) -> float:
    e = COCOeval(gt, dt, iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        e.evaluate()
        e.accumulate()
        e.summarize()
    return float(e.stats[0])


def load(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def mask_of(seg: Any, h: int, w: int) -> np.ndarray:
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg["counts"], list):
        rle = mask_utils.frPyObjects(seg, h, w)
    else:
        rle = {"size": seg["size"], "counts": seg["counts"].encode() if isinstance(seg["counts"], str) else seg["counts"]}
    return mask_utils.decode(rle)


def scored(coco: COCO) -> list[dict[str, Any]]:
    out = []
    for a in coco.dataset["annotations"]:
        if a.get("iscrowd"):
            continue
        d = {k: v for k, v in a.items() if k not in ("id",)}
        d["score"] = 1.0
        out.append(d)
    return out


def test_detection_round_trip_is_exact_and_evaluates_to_ap_1(tmp_path):
    doc = detection(tmp_path / "in" / "images")
    res = build(tmp_path, doc)
    ds = res.dataset
    assert ds.num_items == 4 and ds.num_rows("objects") == 5 and ds.num_rows("mask") == 5 and ds.num_rows("bbox") == 5
    assert [c.name for c in ds.info.categories] == ["circle", "square"] and ds.info.categories[1].id == 3
    lineage = ds.state.lineage
    assert lineage["pinlake.source_format"] == "coco" and len(json.loads(lineage["pinlake.source_sha256"])["train"]) == 64

    out = tmp_path / "out"
    result = pinlake.open("shapes@1", library=tmp_path / "library").export("coco", out)
    exported = out / "annotations" / "train.json"
    assert result.files == ["annotations/train.json"] and result.counts["images_written"] == 4
    data = json.loads(exported.read_text())
    assert data["info"]["pinlake"]["dataset"] == "shapes" and data["info"]["pinlake"]["version"] == 1
    assert data["info"]["pinlake"]["pin"] == "shapes@1"
    for img in data["images"]:
        assert (out / "images" / "train" / img["file_name"]).read_bytes() == (tmp_path / "in" / "images" / img["file_name"]).read_bytes()

    gt, dt = load(tmp_path / "in" / "annotations.json"), load(exported)
    assert sorted(gt.getImgIds()) == sorted(dt.getImgIds()) and sorted(gt.getAnnIds()) == sorted(dt.getAnnIds())
    assert {c["id"]: c["name"] for c in dt.dataset["categories"]} == {1: "circle", 3: "square"}
    for aid in gt.getAnnIds():
        a, b = gt.anns[aid], dt.anns[aid]
        img = gt.imgs[a["image_id"]]
        assert (b["image_id"], b["category_id"], b["iscrowd"]) == (a["image_id"], a["category_id"], a["iscrowd"])
        assert b["bbox"] == pytest.approx(a["bbox"]) and b["area"] == pytest.approx(a["area"])
        if isinstance(a["segmentation"], list):
            assert b["segmentation"] == a["segmentation"]  # the polygons as given
        assert np.array_equal(
            mask_of(a["segmentation"], img["height"], img["width"]), mask_of(b["segmentation"], img["height"], img["width"])
        )
    assert dt.anns[1]["attributes"] == {"occluded": False} and dt.imgs[100]["date_captured"] == "2026-01-01"

    preds = gt.loadRes(scored(dt))
    assert quiet_eval(gt, preds, "bbox") == pytest.approx(1.0)
    assert quiet_eval(gt, preds, "segm") == pytest.approx(1.0)


def test_person_keypoints_round_trip_evaluates_to_ap_1(tmp_path):
    doc = keypoints(tmp_path / "in" / "images")
    ds = build(tmp_path, doc, name="people").dataset
    (cat,) = ds.info.categories
    assert cat.keypoints == PERSON_KEYPOINTS and cat.skeleton == SKELETON
    kp = ds.to_arrow("keypoints").to_pylist()
    assert kp[0]["template_id"] == "coco:1" and kp[0]["states"][3] == "hidden" and kp[0]["states"][9] == "invisible"

    out = tmp_path / "out"
    pinlake.open("people", library=tmp_path / "library").export("coco", out, media="none")
    assert not (out / "images").exists()
    gt, dt = load(tmp_path / "in" / "annotations.json"), load(out / "annotations" / "train.json")
    for aid in gt.getAnnIds():
        assert dt.anns[aid]["keypoints"] == pytest.approx(gt.anns[aid]["keypoints"])
        assert dt.anns[aid]["num_keypoints"] == gt.anns[aid]["num_keypoints"]
    assert dt.dataset["categories"][0]["skeleton"] == SKELETON
    assert quiet_eval(gt, gt.loadRes(scored(dt)), "keypoints") == pytest.approx(1.0)


def test_two_split_files_and_the_cli(tmp_path):
    doc = detection(tmp_path / "in" / "images")
    train = {**doc, "images": doc["images"][:2], "annotations": [a for a in doc["annotations"] if a["image_id"] in (100, 101)]}
    val = {**doc, "images": doc["images"][2:], "annotations": [a for a in doc["annotations"] if a["image_id"] in (102, 103)]}
    write(tmp_path / "in" / "train.json", train)
    write(tmp_path / "in" / "val.json", val)
    env = {**os.environ, "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pinlake", *args, "--library", str(tmp_path / "lib")],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    images = str(tmp_path / "in" / "images")
    first = cli("build", str(tmp_path / "in" / "train.json"), "--format", "coco", "--images", images, "--name", "shapes")
    assert first.returncode == 0, first.stderr
    second = cli(
        "build",
        str(tmp_path / "in" / "val.json"),
        "--format",
        "coco",
        "--images",
        images,
        "--split",
        "val",
        "--name",
        "shapes",
        "--mode",
        "add",
    )
    assert second.returncode == 0, second.stderr
    ds = pinlake.open("shapes", library=tmp_path / "lib")
    assert ds.dataset.splits() == {"train": 2, "val": 2}
    exported = cli("export", "shapes@2", "--format", "coco", "--out", str(tmp_path / "out"), "--media", "link", "--record-use", "--json")
    assert exported.returncode == 0, exported.stderr
    assert sorted(json.loads(exported.stdout)["files"]) == ["annotations/train.json", "annotations/val.json"]
    linked = tmp_path / "out" / "images" / "val" / "img002.jpg"
    assert linked.stat().st_ino == (tmp_path / "in" / "images" / "img002.jpg").stat().st_ino  # a hard link, same file system
    assert len(load(tmp_path / "out" / "annotations" / "val.json").getAnnIds()) == 2
    consumers = pinlake.sql("SELECT dataset, dataset_version, run FROM catalog.consumers", library=tmp_path / "lib").to_pylist()
    assert consumers and consumers[0]["dataset_version"] == 2 and consumers[0]["run"].startswith("export:coco:")
    again = cli("export", "shapes@2", "--format", "coco", "--out", str(tmp_path / "out"))
    assert again.returncode == 1 and "not empty" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["annotations"][0].update(image_id=999), "annotation id 1: image_id 999 is not an image of the file"),
        (lambda d: d["annotations"][1].update(category_id=7), "annotation id 2: category_id 7 is not in categories (ids: 1, 3)"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3]]), "annotation id 1: field 'segmentation': polygons must be"),
        (lambda d: d["annotations"][0].update(segmentation={"counts": [1, 2]}), "annotation id 1: field 'segmentation'"),
        (lambda d: d["annotations"][0].update(keypoints=[1, 2, 2]), "annotation id 1: field 'keypoints': 3 numbers, expected 3 × 0"),
        (lambda d: d["images"][0].update(file_name="gone.jpg"), "images[0] (id 100): image file 'gone.jpg' is not in"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "annotation id 1: field 'bbox'"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, -3, 4]), "annotation id 1: field 'bbox': width and height must be >= 0"),
        (lambda d: d["annotations"][1].update(bbox=[1, None, 3, 4]), "annotation id 2: field 'bbox'"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, None, 5, 6]]), "annotation id 1: field 'segmentation'"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4, 5, 6], []]), "annotation id 1: field 'segmentation'"),
        (lambda d: d["annotations"][0].update(segmentation={"size": [2], "counts": "x"}), "an RLE 'size' must be"),
        (lambda d: d["annotations"][0].update(area="big"), "annotation id 1: field 'area': must be a finite number"),
        (lambda d: d["annotations"][0].update(iscrowd=5), "annotation id 1: field 'iscrowd': must be 0 or 1"),
        (lambda d: d["annotations"][1].update(id=1), "annotation id 1: the id is used twice"),
        (lambda d: d["annotations"][0].update(category_id="1"), "annotation id 1: category_id '1' is not in categories"),
        (lambda d: d["annotations"][0].update(id=[1]), "annotations[0]: 'id' must be an integer"),
    ],
)
def test_bad_input_names_the_annotation_and_writes_nothing(tmp_path, change, expected):
    doc = detection(tmp_path / "in" / "images")
    change(doc)
    with pytest.raises(InputFileError) as err:
        build(tmp_path, doc)
    assert expected in err.value.message and "annotations.json" in err.value.message
    assert not (tmp_path / "library" / "shapes").exists()


def test_keypoints_of_the_wrong_length_and_lenient_skips(tmp_path):
    doc = keypoints(tmp_path / "in" / "images")
    doc["annotations"][0]["keypoints"] = doc["annotations"][0]["keypoints"][:-3]
    with pytest.raises(InputFileError, match=r"48 numbers, expected 3 × 17 keypoint names of category 'person' = 51"):
        build(tmp_path, doc, name="people")
    res = build(tmp_path, doc, name="people", lenient=True)
    assert len(res.skipped) == 1 and res.dataset.state.lineage["pinlake.skipped_annotations"] == "1"
    assert res.dataset.num_rows("objects") == len(doc["annotations"]) - 1


def test_builder_class_is_public_and_builds_like_the_folder_builder(tmp_path):
    doc = detection(tmp_path / "images")
    ann = write(tmp_path / "a.json", doc)
    ds = pinlake.CocoBuilder(ann, tmp_path / "images", tmp_path / "lib" / "shapes", embed=True).build(mode="create")
    assert ds.num_items == 4 and ds.to_arrow("image", columns=["content"]).column("content").null_count == 0
    out = tmp_path / "out"
    from pinlake.datasets.formats.coco import export_coco

    export_coco(ds, out)  # embedded bytes written out
    assert (out / "images" / "train" / "img001.png").read_bytes() == (tmp_path / "images" / "img001.png").read_bytes()
    assert isinstance(CocoBuilder, type)


def test_columnar_import_equals_the_row_path(tmp_path):
    """The default item class is imported column-wise; another item class goes through the models:
    both give the same rows (timestamps aside), and so does the column-wise import an image a chunk."""
    from pinlake.datasets.formats.coco import CocoItem

    class MyItem(CocoItem):  # any other class takes the row path
        pass

    doc = detection(tmp_path / "images")
    ann = write(tmp_path / "a.json", doc)
    fast = CocoBuilder(ann, tmp_path / "images", tmp_path / "lib" / "shapes").build(mode="create")
    slow = CocoBuilder(ann, tmp_path / "images", tmp_path / "lib2" / "shapes", dataset_item=MyItem).build(mode="create")
    sizes: list[int] = []

    class Chunks(CocoBuilder):  # the column-wise path, its chunk sizes recorded
        def generate_tables(self, chunk_size: int) -> Any:
            for n, tables in super().generate_tables(chunk_size) or ():
                sizes.append(n)
                yield n, tables

    chunked = Chunks(ann, tmp_path / "images", tmp_path / "lib3" / "shapes").build(mode="create", flush_every_n_samples=1)
    assert fast.num_items >= 2 and fast.to_arrow("mask").num_rows > 0
    assert sizes == [1] * fast.num_items  # an image a chunk
    for table in fast.tables:
        a, b, c = (d.to_arrow(table) for d in (fast, slow, chunked))
        keep = [col for col in a.column_names if col not in ("created_at", "updated_at")]
        expected = a.select(keep).sort_by("id").to_pylist()
        assert expected == b.select(keep).sort_by("id").to_pylist(), table
        assert expected == c.select(keep).sort_by("id").to_pylist(), table


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [("/etc/hostname", "is an absolute path"), ("../outside.jpg", "file_name '../outside.jpg'"), ("link.jpg", "a link that leaves it")],
)
def test_an_import_never_reads_outside_the_images_folder(tmp_path, file_name, expected):
    doc = detection(tmp_path / "in" / "images")
    (tmp_path / "in" / "outside.jpg").write_bytes((tmp_path / "in" / "images" / "img000.jpg").read_bytes())
    (tmp_path / "in" / "images" / "link.jpg").symlink_to(tmp_path / "in" / "outside.jpg")
    doc["images"][0]["file_name"] = file_name
    with pytest.raises(InputFileError, match=expected):
        build(tmp_path, doc, embed=True)
    assert not (tmp_path / "library" / "shapes").exists()


def test_split_names_and_annotations_without_id(tmp_path):
    doc = detection(tmp_path / "in" / "images")
    with pytest.raises(InputFileError, match="not a plain name"):
        build(tmp_path, doc, split="../escape")
    for a in doc["annotations"]:
        del a["id"]  # result-style files: annotations known by their position
    doc["annotations"].append({**doc["annotations"][0]})  # a second id-less annotation on the same image
    ds = build(tmp_path, doc).dataset
    assert ds.num_rows("objects") == len(doc["annotations"])
    out = tmp_path / "out"
    pinlake.open("shapes", library=tmp_path / "library").export("coco", out, media="none")
    assert len(load(out / "annotations" / "train.json").getAnnIds()) == len(doc["annotations"])


def test_edited_polygons_cannot_inject_json_into_the_export(tmp_path):
    from pinlake.library import Library

    doc = detection(tmp_path / "in" / "images")
    build(tmp_path, doc)
    ds = Library(tmp_path / "library").get_dataset("shapes")
    row = ds.get_data("objects", limit=1)[0]
    ds.update_data("objects", [{**row.model_dump(), "polygons": '[[1,2,3,4,5,6]],"image_id":424242'}])
    with pytest.raises(ValueError):  # not JSON: the export stops instead of writing a corrupt file
        pinlake.open("shapes", library=tmp_path / "library").export("coco", tmp_path / "out", media="none")
    ds.update_data("objects", [{**row.model_dump(), "polygons": "[[1, 2, 3, 4, 5, 6]]"}])
    pinlake.open("shapes", library=tmp_path / "library").export("coco", tmp_path / "out2", media="none")
    anns = load(tmp_path / "out2" / "annotations" / "train.json").dataset["annotations"]
    assert all(a["image_id"] != 424242 for a in anns) and any(a["segmentation"] == [[1, 2, 3, 4, 5, 6]] for a in anns)


def test_well_formed_never_passes_what_the_row_check_refuses(tmp_path):
    """The columnar check (well_formed) sends any doubt to the row-by-row check: over random edits of
    a good file, a file it passes is one the row check keeps whole."""
    import copy
    import random

    from pinlake.datasets.formats.coco import geometry_problem, well_formed
    from pinlake.datasets.info import Category

    doc = keypoints(tmp_path / "images")
    cats = {c["id"]: Category.model_validate(c) for c in doc["categories"]}
    position = {img["id"]: i for i, img in enumerate(doc["images"])}
    values = [None, [], [1, 2], [0, 0, -1, 2], "1", 1.5, True, 10**30, [[1, 2, 3, 4, 5, 6]], {"size": [4, 4], "counts": "x"}, [[1, "a"]]]
    fields = ["id", "image_id", "category_id", "bbox", "segmentation", "keypoints", "area", "iscrowd"]
    rng = random.Random(7)
    passed = refused = 0
    for _ in range(400):
        anns = copy.deepcopy(doc["annotations"])
        for _ in range(rng.randint(1, 2)):
            rng.choice(anns)[rng.choice(fields)] = rng.choice(values)
        ok = well_formed(anns, position, cats)
        ids = [a.get("id") for a in anns]
        row_ok = all(
            isinstance(a.get("id"), int)
            and isinstance(a.get("image_id"), int)
            and a["image_id"] in position
            and isinstance(a.get("category_id"), int)
            and a["category_id"] in cats
            and not geometry_problem(a, cats[a["category_id"]])
            for a in anns
        ) and len(set(map(str, ids))) == len(ids)
        assert not ok or row_ok, anns
        passed += ok
        refused += not row_ok
    assert passed and refused  # both kinds of file were drawn


def test_files_inside_agrees_with_inside(tmp_path):
    """The many-names form of the read-time rule gives what ``inside`` gives, links included."""
    from pinlake.util.mediapath import files_inside, inside

    root = tmp_path / "root"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "a.jpg").write_bytes(b"a")
    (root / "sub" / "b.jpg").write_bytes(b"b")
    (root / "sub" / "deep" / "c.jpg").write_bytes(b"c")
    (tmp_path / "out.jpg").write_bytes(b"o")
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "d.jpg").write_bytes(b"d")
    (root / "in_link.jpg").symlink_to(root / "sub" / "b.jpg")
    (root / "out_link.jpg").symlink_to(tmp_path / "out.jpg")
    (root / "linked_sub").symlink_to(root / "sub")
    (root / "linked_out").symlink_to(tmp_path / "outdir")
    (root / "loop").symlink_to(root / "loop")
    names = [
        "a.jpg", "/a.jpg", "sub/b.jpg", "sub/deep/c.jpg", "sub", "missing.jpg", "sub/missing.jpg", "in_link.jpg",
        "out_link.jpg", "linked_sub/b.jpg", "linked_out/d.jpg", "loop", "loop/x.jpg", "../out.jpg", "sub/../a.jpg",
        "./a.jpg", "", "sub//b.jpg", "a.jpg/x", "no/such/dir.jpg",
    ]  # fmt: skip
    assert files_inside(root, names) == [inside(root, n) is not None for n in names]
    assert files_inside(root, names).count(True) == 7  # a, /a, sub/b, sub/deep/c, in_link, linked_sub/b, sub//b
    assert files_inside(tmp_path / "nowhere", ["a.jpg"]) == [False]


@pytest.mark.parametrize("coco_ids", [True, False])
def test_an_export_in_partitions_writes_what_one_partition_writes(tmp_path, monkeypatch, coco_ids):
    """Large versions are exported a hash partition of entities (and items) at a time: the same
    images and annotations as in one pass, ids unique, whatever the partition count."""
    from pinlake.datasets.formats import coco as coco_format

    doc = keypoints(tmp_path / "in" / "images")
    if not coco_ids:
        for a in doc["annotations"]:
            del a["id"]  # no COCO ids: the export numbers the annotations 1..n
    res = build(tmp_path, doc, name="people")
    outs = {}
    for part_rows in (10**6, 2, 1):
        monkeypatch.setattr(coco_format, "PART_ROWS", part_rows)
        out = tmp_path / f"out-{part_rows}"
        coco_format.export_coco(res.dataset, out, media="none")
        data = json.loads((out / "annotations" / "train.json").read_text())
        ids = [a["id"] for a in data["annotations"]]
        assert len(set(ids)) == len(ids) and min(ids) > 0
        outs[part_rows] = data

    def normal(data: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        anns = sorted(json.dumps({k: v for k, v in a.items() if k != "id"}, sort_keys=True) for a in data["annotations"])
        return sorted(data["images"], key=lambda i: i["id"]), anns

    assert normal(outs[2]) == normal(outs[1]) == normal(outs[10**6])
    assert len(outs[1]["annotations"]) == len(doc["annotations"]) > 2
    if coco_ids:
        assert sorted(a["id"] for a in outs[1]["annotations"]) == sorted(a["id"] for a in doc["annotations"])
    else:
        assert sorted(a["id"] for a in outs[1]["annotations"]) == list(range(1, len(doc["annotations"]) + 1))
