"""The columnar lock build writes exactly the tables of the per-row build (schema, rows, ids, bytes),
and hands lines it does not cover to the per-row path (same rows, same errors)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from table_checks import assert_same_tables

from pinlake.datasets.build.columnar import columnar_plan
from pinlake.datasets.build.from_lock import LockfileBuilder
from pinlake.datasets.info import DatasetInfo
from pinlake.demo.data import HealthDatasetItem
from pinlake.errors import InputFileError
from pinlake.recipes.lockfile import lock_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
BENCH_RECIPE = Path(__file__).resolve().parents[2] / "bench" / "recipe_bench.py"


def _build(lock, lake, target: Path, *, columnar: bool, embed: bool = False, flush: int = 4):
    b = LockfileBuilder(lock.path, target, HealthDatasetItem, DatasetInfo(id="c", name="C"), lake, embed=embed)
    b.columnar = columnar
    b.build_time = _build.time  # the same timestamps on both sides
    return b, b.build(flush_every_n_samples=flush, compute_stats=False)


def _sorted_tables(ds) -> dict[str, pa.Table]:
    return {t: ds.to_arrow(t).sort_by("id") for t in ds.tables}


def _assert_same(lock, lake, tmp_path: Path, embed: bool) -> dict[str, pa.Table]:
    from pinlake.features.base import utcnow

    _build.time = utcnow()
    rb, rows = _build(lock, lake, tmp_path / f"rows{embed}" / "c", columnar=False, embed=embed)
    cb, cols = _build(lock, lake, tmp_path / f"cols{embed}" / "c", columnar=True, embed=embed)
    assert columnar_plan(cb) is not None and rb._plan() is None
    return assert_same_tables(rows, cols)


@pytest.mark.parametrize("embed", [False, True])
def test_columnar_equals_rows_on_demo_lake(library, tmp_path, embed):
    lake = library.get_datalake()
    lock = lock_recipe(RECIPES / "health_by_tag.py", lake, out=tmp_path / "lock")
    b = LockfileBuilder(lock.path, tmp_path / "x" / "c", HealthDatasetItem, DatasetInfo(id="c", name="C"), lake, embed=embed)
    lines = list(b.lock_lines())
    # the plan covers every demo line (no silent fallback to the row path)
    assert columnar_plan(b).tables([line for _, _, line in lines], [s for s, _, _ in lines], b._content_column) is not None
    tables = _assert_same(lock, lake, tmp_path, embed)
    if embed:
        assert tables["image"].column("content").null_count == 0


def test_columnar_equals_rows_on_bench_lock(tmp_path):
    import pinlake
    from bench.data import files_of, generate

    folder = generate(tmp_path / "data", 40)
    lib = pinlake.connect(tmp_path / "lib")
    lake = lib.get_datalake()
    files = files_of(Path(folder) / "v1")
    lake.upload_data([p for p, _, _ in files], metadata=[m for _, _, m in files], object_names=[n for _, n, _ in files], source="bench")
    lock = lock_recipe(BENCH_RECIPE, lake, out=tmp_path / "lock")
    tables = _assert_same(lock, lake, tmp_path, embed=True)
    assert tables["item"].num_rows == 40 and tables["objects"].num_rows >= 40


def _lake_with(library, metadata: list[dict], tmp_path: Path, demo_images: Path):
    lake = library.get_datalake()
    src = next((demo_images / "train").glob("*.jpg"))
    for i, meta in enumerate(metadata):
        lake.upload_data(src, object_names=[f"odd/{i:02d}.jpg"], metadata=meta)
    recipe = tmp_path / "odd.py"
    recipe.write_text(
        "import pinlake\n\n@pinlake.recipe()\ndef odd(client):\n"
        "    return {'train': list(client.list_data(q=\"object_name LIKE 'odd/%'\"))}\n"
    )
    return lake, lock_recipe(recipe, lake, out=tmp_path / "lock")


def test_lines_outside_the_plan_take_the_row_path(library, tmp_path, demo_images):
    good = {"image_type": "mri", "objects": {"category": ["heart"], "bbox": [[1, 2, 3, 4]], "keypoints": [[1, 2, 3, 4, 5, 6]]}}
    metadata = [
        good,
        {"image_type": "xray", "objects": [{"category": "bone", "bbox": [0.1, 0.1, 0.2, 0.2], "normalized": True}]},  # list of objects
        {"image_type": "mri", "extra": {"nested": 1}, "objects": {"category": ["a", "b"], "bbox": [[1, 1, 1, 1], None]}},
        {"image_type": "mri", "extra": 3, "normalized": True, "objects": {"category": ["c"], "bbox": [[0.5, 0.5, 0.1, 0.1]]}},
        {"image_type": "mri"},
        {"image_type": "mri", "objects": {}},
    ]
    lake, lock = _lake_with(library, metadata, tmp_path, demo_images)
    _assert_same_any(lock, lake, tmp_path)


def _assert_same_any(lock, lake, tmp_path):
    from pinlake.features.base import utcnow

    _build.time = utcnow()
    _, rows = _build(lock, lake, tmp_path / "r" / "c", columnar=False, flush=2)
    _, cols = _build(lock, lake, tmp_path / "k" / "c", columnar=True, flush=2)
    a, b = _sorted_tables(rows), _sorted_tables(cols)
    assert set(a) == set(b)
    for t in a:
        assert a[t].equals(b[t]), t


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"image_type": "mri", "objects": {"category": ["a", "b"], "bbox": [[1, 2, 3, 4]]}}, "different lengths"),
        ({"image_type": "mri", "objects": {"category": ["a"], "bbox": [[1, 2, -3, 4]]}}, "width and height"),
        ({"image_type": "mri", "objects": {"category": ["a"], "colour": ["red"]}}, "colour"),
        ({"objects": {"category": ["a"]}}, "image_type"),
    ],
)
def test_invalid_lines_raise_the_row_path_error(library, tmp_path, demo_images, bad, message):
    good = {"image_type": "mri", "objects": {"category": ["heart"], "bbox": [[1, 2, 3, 4]]}}
    lake, lock = _lake_with(library, [good, bad], tmp_path, demo_images)
    errors = []
    for columnar in (False, True):
        b = LockfileBuilder(lock.path, tmp_path / f"e{columnar}" / "c", HealthDatasetItem, DatasetInfo(id="c", name="C"), lake)
        b.columnar = columnar
        with pytest.raises(InputFileError) as exc:
            b.build(compute_stats=False)
        errors.append(exc.value.message)
    assert errors[0] == errors[1] and message in errors[0] and "resources.train.jsonl:2" in errors[0]


def test_preview_redrawn_only_when_its_items_change(library, tmp_path):
    import os

    from pinlake.datasets.preview import render_preview
    from pinlake.library.build import build_from_lock

    lake = library.get_datalake()
    lock = lock_recipe(RECIPES / "health_by_tag.py", lake, locks_dir=library.locks_path)
    ds = build_from_lock(library, lock.path, "prev").dataset
    path = ds.preview_path
    assert path == library.path / "prev" / "_meta" / "1" / "preview.png"  # the version's own preview
    key = path.with_name(f".{path.name}.key")
    os.utime(path, ns=(1, 1))
    render_preview(ds)
    assert path.stat().st_mtime_ns == 1  # same sampled views, boxes and points: not drawn again
    first = ds.to_arrow("image", columns=["id", "item_ref"]).sort_by("id").column("item_ref")[0]["id"].as_py()
    before = key.read_text()
    ds.delete_dataset_items([first])  # a CRUD version: no preview until one is drawn
    assert ds.version == 2 and not ds.preview_path.is_file()
    render_preview(ds)
    new_key = ds.preview_path.with_name(key.name)
    assert ds.preview_path.is_file() and new_key.read_text() != before
    assert path.stat().st_mtime_ns == 1  # version 1's preview is untouched
