"""The columnar folder build writes exactly the tables of the per-row build (schema, rows, ids, sizes,
bytes), and hands what it does not cover to the per-row path (same rows, same errors)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from table_checks import assert_same_tables

from pinlake.datasets.build.columnar import columnar_plan
from pinlake.datasets.build.folder import ImageFolderBuilder
from pinlake.datasets.build.folder_columnar import chunk_tables, parse_split
from pinlake.datasets.info import DatasetInfo
from pinlake.demo.data import HealthDatasetItem
from pinlake.errors import InputFileError
from pinlake.features.base import utcnow


def _build(src: Path, target: Path, *, columnar: bool, embed: bool, when, flush: int = 4):
    b = ImageFolderBuilder(src, target, HealthDatasetItem, DatasetInfo(id="f", name="F"), url_prefix="/m", embed=embed)
    b.columnar = columnar
    b.build_time = when  # the same timestamps on both sides
    return b, b.build(flush_every_n_samples=flush, compute_stats=False)


def _assert_same(src: Path, tmp_path: Path, embed: bool, flush: int = 4) -> dict[str, pa.Table]:
    when = utcnow()
    _, rows = _build(src, tmp_path / f"rows{embed}" / "f", columnar=False, embed=embed, when=when, flush=flush)
    _, cols = _build(src, tmp_path / f"cols{embed}" / "f", columnar=True, embed=embed, when=when, flush=flush)
    return assert_same_tables(rows, cols)


@pytest.mark.parametrize("embed", [False, True])
def test_columnar_equals_rows_on_demo_folder(health_folder, tmp_path, embed):
    b = ImageFolderBuilder(health_folder, tmp_path / "x" / "f", HealthDatasetItem, DatasetInfo(id="f"), embed=embed)
    plan = columnar_plan(b)
    assert plan is not None and all(parse_split(b, plan, s) is not None for s in b.split_dirs())  # no silent fallback
    tables = _assert_same(health_folder, tmp_path, embed)
    assert (tables["image"].column("content").null_count == 0) is embed
    assert {"JPEG", "PNG", "TIFF"} <= set(tables["image"].column("format").to_pylist())  # TIFF: by Pillow


def test_columnar_equals_rows_on_bench_folder(tmp_path):
    from bench.data import generate

    src = generate(tmp_path / "bench", 40, seed=3, workers=1) / "v1"
    b = ImageFolderBuilder(src, tmp_path / "x" / "f", HealthDatasetItem, DatasetInfo(id="f"), embed=True)
    plan = columnar_plan(b)
    for split in b.split_dirs():  # every chunk is columnar (no silent fallback)
        lines, parsed = parse_split(b, plan, split)
        assert chunk_tables(b, plan, split, parsed, lines) is not None
    _assert_same(src, tmp_path, embed=True, flush=16)


def test_folder_lines_outside_the_plan_take_the_row_path(health_folder, tmp_path):
    """Entities as a list of objects, a blank line, extra keys: same tables through the row path."""
    meta = health_folder / "train" / "metadata.jsonl"
    lines = [json.loads(x) for x in meta.read_text().splitlines()]
    first = lines[0]
    objs = first["objects"]
    first["objects"] = [
        {"category": c, "bbox": bb, "keypoints": kp} for c, bb, kp in zip(objs["category"], objs["bbox"], objs["keypoints"])
    ]
    meta.write_text(json.dumps(first) + "\n\n" + "".join(json.dumps(x) + "\n" for x in lines[1:]))
    b = ImageFolderBuilder(health_folder, tmp_path / "x" / "f", HealthDatasetItem, DatasetInfo(id="f"))
    assert parse_split(b, columnar_plan(b), health_folder / "train") is None
    assert parse_split(b, columnar_plan(b), health_folder / "test") is not None
    _assert_same(health_folder, tmp_path, embed=False)


@pytest.mark.parametrize(
    "change, message",
    [
        ("missing", "is not an image file"),
        ("twice", "is described twice"),
        ("undescribed", "no metadata line"),
        ("bad_box", "bbox"),
        ("corrupt", "not a readable image"),
    ],
)
def test_folder_errors_are_those_of_the_row_path(health_folder, tmp_path, change, message):
    split = health_folder / "train"
    meta = split / "metadata.jsonl"
    lines = [json.loads(x) for x in meta.read_text().splitlines()]
    if change == "missing":
        lines[0]["image"] = "nope.jpg"
    elif change == "twice":
        lines[1]["image"] = lines[0]["image"]
    elif change == "undescribed":
        shutil.copy(split / lines[0]["image"], split / "extra.jpg")
    elif change == "bad_box":
        lines[0]["objects"]["bbox"][0] = [1, 2, -3, 4]
    elif change == "corrupt":
        (split / lines[0]["image"]).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    meta.write_text("".join(json.dumps(x) + "\n" for x in lines))
    for columnar in (True, False):
        b = ImageFolderBuilder(health_folder, tmp_path / f"{columnar}" / "f", HealthDatasetItem, DatasetInfo(id="f"))
        b.columnar = columnar
        with pytest.raises(InputFileError) as exc:
            b.build(compute_stats=False)
        assert message in str(exc.value), (columnar, str(exc.value))
