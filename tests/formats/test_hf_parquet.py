"""pinlake → Hugging Face datasets (read back by datasets.load_from_disk) and → Parquet (read back by
pyarrow): every row, the image bytes, the boxes and the provenance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from coco_data import detection, write

import pinlake
from pinlake.datasets.formats.common import place_media
from pinlake.errors import PinlakeError, ValidationError
from pinlake.library import Library
from pinlake.library.build import build_annotations


@pytest.fixture
def shapes(tmp_path: Path) -> tuple[Path, dict]:
    doc = detection(tmp_path / "in" / "images")
    ann = write(tmp_path / "in" / "annotations.json", doc)
    build_annotations(Library(tmp_path / "library").ensure(), ann, "shapes", format="coco", images=tmp_path / "in" / "images")
    return tmp_path, doc


def test_hf_export_loads_with_every_row_and_the_same_bytes(shapes):
    root, doc = shapes
    result = pinlake.open("shapes@1", library=root / "library").export("hf", root / "hf")
    assert result.counts == {"rows.train": 4} and "dataset_dict.json" in result.files
    loaded = datasets.load_from_disk(str(root / "hf"))
    train = loaded["train"].cast_column("image", datasets.Image(decode=False))
    assert train.num_rows == 4 and train.features["objects"]["category"].feature.names == ["circle", "square"]
    by_file = {r["file_name"]: r for r in train}
    for img in doc["images"]:
        row = by_file[img["file_name"]]
        assert row["image"]["bytes"] == (root / "in" / "images" / img["file_name"]).read_bytes()
        assert (row["width"], row["height"], row["coco_id"]) == (img["width"], img["height"], img["id"])
        want = sorted(a["bbox"] for a in doc["annotations"] if a["image_id"] == img["id"])
        got = sorted(row["objects"]["bbox"])
        assert [c for b in got for c in b] == pytest.approx([c for b in want for c in b])
    assert json.loads(train.info.description)["pinlake"]["pin"] == "shapes@1"
    # the image decodes as a PIL image by default
    assert datasets.load_from_disk(str(root / "hf"))["train"][0]["image"].size[0] > 0


def test_hf_export_without_media_gives_datasets_the_file_paths(shapes):
    root, _ = shapes
    pinlake.open("shapes", library=root / "library").export("hf", root / "hf", media="none")
    train = datasets.load_from_disk(str(root / "hf"))["train"].cast_column("image", datasets.Image(decode=False))
    for r in train:  # datasets reads the files itself when it saves (a saved dataset holds the bytes and the file name)
        path = root / "in" / "images" / r["file_name"]
        assert r["image"]["path"] == r["file_name"] and r["image"]["bytes"] == path.read_bytes()


def test_hf_export_says_what_to_install_when_datasets_is_missing(shapes, monkeypatch):
    root, _ = shapes
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if it were not installed: `import datasets` raises ImportError
    with pytest.raises(PinlakeError, match="needs the Hugging Face `datasets` package") as err:
        pinlake.open("shapes", library=root / "library").export("hf", root / "hf")
    assert "pinlake[hf]" in (err.value.hint or "")


def test_parquet_export_has_every_table_row_and_the_provenance(shapes):
    root, _ = shapes
    pinned = pinlake.open("shapes", library=root / "library")
    result = pinned.export("parquet", root / "pq", media="copy")
    for table in pinned.tables:
        written = pq.read_table(root / "pq" / f"{table}.parquet")
        assert written.num_rows == pinned.to_arrow(table).num_rows
        assert json.loads(written.schema.metadata[b"pinlake"])["version"] == 1
    assert result.counts["images_written"] == 4 and (root / "pq" / "media" / "images" / "img001.png").is_file()
    assert json.loads((root / "pq" / "pinlake.json").read_text())["dataset"] == "shapes"


def test_unknown_format_and_unsafe_names_are_refused(shapes, tmp_path):
    root, _ = shapes
    with pytest.raises(ValidationError, match="unknown export format 'tfrecord'"):
        pinlake.open("shapes", library=root / "library").export("tfrecord", root / "x")
    ds = pinlake.open("shapes", library=root / "library").dataset
    view = ds.to_arrow("image", columns=["id", "url", "sha256"]).to_pylist()[0]
    with pytest.raises(ValidationError, match="leaves the export directory"):
        place_media(ds, [view], tmp_path / "dest", ["../escape.jpg"], "copy")
    assert not (tmp_path / "escape.jpg").exists()


def test_hf_export_of_two_splits(shapes):
    root, doc = shapes
    val = {**doc, "images": doc["images"][2:], "annotations": [a for a in doc["annotations"] if a["image_id"] in (102, 103)]}
    ann = write(root / "in" / "val.json", val)
    build_annotations(Library(root / "library"), ann, "shapes", format="coco", images=root / "in" / "images", split="val", mode="add")
    pinlake.open("shapes@2", library=root / "library").export("hf", root / "hf2", media="none")
    loaded = datasets.load_from_disk(str(root / "hf2"))
    assert sorted(loaded) == ["train", "val"] and loaded["train"].num_rows == 4 and loaded["val"].num_rows == 2
