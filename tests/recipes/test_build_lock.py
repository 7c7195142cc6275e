from __future__ import annotations

from pathlib import Path

import pytest

import pinlake
from pinlake.datasets.build.from_lock import LockfileBuilder, item_id_for
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.info import DatasetInfo
from pinlake.demo.data import HealthDatasetItem
from pinlake.lake.lake import Lake
from pinlake.library.build import build_from_lock
from pinlake.recipes.errors import LockfileError
from pinlake.recipes.lockfile import lock_recipe, read_lock
from pinlake.util.strings import StringList

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TS = ("created_at", "updated_at")


def _tables(ds: Dataset) -> dict[str, list[dict]]:
    out = {}
    for t in ds.tables:
        rows = ds.to_arrow(t).to_pylist()
        out[t] = sorted(({k: v for k, v in r.items() if k not in TS} for r in rows), key=lambda r: r["id"])
    return out


def test_build_from_lock_views_entities_lineage(library):
    lake = library.get_datalake()
    lock = lock_recipe(RECIPES / "health_by_tag.py", lake, locks_dir=library.locks_path)
    res = build_from_lock(library, lock.path, "health", compute_stats=False)
    ds = res.dataset
    assert ds.num_items == sum(lock.counts.values()) and set(ds.splits()) == {"train", "test"}
    item = ds.get_dataset_items(item_id_for("health/train/mri-train-000.jpg"))
    data = lake.find_data(object_name="health/train/mri-train-000.jpg")
    assert item.image_type == "mri" and item.image.url == f"lake://{data.sha256}" and item.image.width == data.width
    assert len(item.objects) == len(data.metadata["objects"]["category"]) == len(item.bbox) == len(item.keypoints)
    assert ds.read_media(item.image) == data.get_bytes()
    for key in ("lock_hash", "lake_version", "recipe_hash"):
        assert ds.state.lineage[f"pinlake.{key}"]
    assert ds.state.lock_hash == lock.hash
    import lance

    props = lance.dataset(str(ds.path / "db" / "item.lance")).versions()[-1].get("transaction_properties") or {}
    if props:
        assert props.get("pinlake.lock_hash") == lock.hash


def test_rebuild_is_identical_and_embed(library, tmp_path):
    lake = library.get_datalake()
    lock = lock_recipe(RECIPES / "basel_trial.py", lake, out=tmp_path / "lock")
    info = lambda: DatasetInfo(id="b", name="B")  # noqa: E731
    a = LockfileBuilder(lock.path, tmp_path / "a" / "b", HealthDatasetItem, info(), lake).build(compute_stats=False)
    b = LockfileBuilder(lock.path, tmp_path / "b" / "b", HealthDatasetItem, info(), lake).build(compute_stats=False)
    assert _tables(a) == _tables(b)
    e = LockfileBuilder(lock.path, tmp_path / "e" / "b", HealthDatasetItem, info(), lake, embed=True).build(compute_stats=False)
    v = e.get_data("image", limit=1)[0]
    data = lake.list_data(q=f"sha256 = '{v.sha256}'", all_versions=True)[0]
    assert v.content and bytes(v.content) == data.get_bytes() == e.read_media(v)


def test_incremental_rebuild(library, demo_images, write_recipe):
    lake = library.get_datalake()
    recipe = write_recipe(
        "@pinlake.recipe()\ndef r(client):\n"
        "    ds = [d for d in client.list_data(q=\"object_name LIKE 'health/%'\") if 'microscope' not in d.object_name]\n"
        "    return {'train': [d for d in ds if '/train/' in d.object_name], 'test': [d for d in ds if '/test/' in d.object_name]}\n"
    )
    l1 = lock_recipe(recipe, lake, locks_dir=library.locks_path)
    r1 = build_from_lock(library, l1.path, "inc", compute_stats=False)
    # a full build's names come as Arrow strings that read as the sorted list of the lock's names
    lock = read_lock(l1.path, lake)
    assert isinstance(r1.added, StringList) and "not read yet" in repr(r1.added)  # counted without reading the lock
    assert r1.added == lock.object_names() == sorted(n for _, _, n in _names(lock))
    assert len(r1.added) == r1.dataset.num_items and list(r1.added) == r1.added[:]
    again = build_from_lock(library, l1.path, "inc", compute_stats=False)
    assert again.unchanged and again.version == r1.version
    # lake changes: a new version of one resource (new metadata), one resource removed by the recipe, one added
    changed = "health/train/mri-train-000.jpg"
    old = lake.find_data(object_name=changed)
    meta = old.metadata | {"image_type": "xray"}
    p = demo_images / "train" / "mri-train-000.jpg"
    lake.upload_data(p, object_names=[changed], metadata=meta)
    lake.upload_data(p, object_names=["health/train/extra.jpg"], metadata={"image_type": "mri"})
    recipe.write_text(
        recipe.read_text().replace(
            "'microscope' not in d.object_name", "'microscope' not in d.object_name and 'xray-test' not in d.object_name"
        )
    )
    before = _tables(Dataset(library.dataset_path("inc")))
    l2 = lock_recipe(recipe, lake, locks_dir=library.locks_path)
    r2 = build_from_lock(library, l2.path, "inc", compute_stats=False)
    assert r2.mode == "incremental" and r2.version == r1.version + 1
    assert r2.added == ["health/train/extra.jpg"] and r2.updated == [changed]
    assert r2.deleted and all("xray-test" in n for n in r2.deleted)
    ds = r2.dataset
    assert ds.state.lock_hash == l2.hash and ds.get_dataset_items(item_id_for(changed)).image_type == "xray"
    after = _tables(ds)
    untouched = [r for r in before["item"] if r["id"] not in {item_id_for(n) for n in r2.deleted + r2.updated}]
    assert all(r in after["item"] for r in untouched)
    # the incremental result equals a full build of the new lock
    full = build_from_lock(library, l2.path, "full", compute_stats=False).dataset
    assert {t: rows for t, rows in after.items() if t != "source"} == {t: rows for t, rows in _tables(full).items() if t != "source"}
    # and the old version is still readable
    assert ds.checkout(r1.version).num_items == r1.dataset.num_items


def test_lock_naming_missing_resources(library, tmp_path):
    lake = library.get_datalake()
    lock = lock_recipe(RECIPES / "basel_trial.py", lake, out=tmp_path / "lock")
    other = pinlake.connect(tmp_path / "other")
    p = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (4, 4)).save(p)
    other.get_datalake().upload_data(p)
    with pytest.raises(LockfileError, match=r"names \d+ resource\(s\) no longer in the lake.*trial/basel/"):
        build_from_lock(other, lock.path, "b", compute_stats=False)


def test_hand_edited_lock_refused_in_build(library, tmp_path):
    lake = library.get_datalake()
    lock = lock_recipe(RECIPES / "basel_trial.py", lake, out=tmp_path / "lock")
    f = lock.path / "resources.train.jsonl"
    f.write_text(f.read_text().replace('"size":', '"size": ', 1))
    with pytest.raises(LockfileError, match="resources.train.jsonl:1"):
        build_from_lock(library, lock.path, "b", compute_stats=False)


def _names(lock):
    """(split, line number, object name) of each line of ``lock``, parsed one line at a time."""
    import json

    return [(split, no, json.loads(line)["object_name"]) for split, no, line in lock.lines()]


@pytest.mark.parametrize("lake_of_build", ["copy", "same"])
def test_incremental_build_checks_the_changed_resources_in_its_lake(library, demo_images, tmp_path, lake_of_build):
    """An incremental build looks the changed lines' ids up in the lake (the others are the previous
    lock's, checked by its build); built against another lake (an older copy), it checks the whole
    lock. Either way a changed resource the lake lacks is refused, naming it, and nothing is written."""
    import shutil

    lake = library.get_datalake()
    recipe = RECIPES / "health_by_tag.py"
    l1 = lock_recipe(recipe, lake, locks_dir=library.locks_path)
    build_from_lock(library, l1.path, "inc", compute_stats=False)
    older = tmp_path / "older-lake"
    shutil.copytree(lake.root, older)
    lake.upload_data(
        demo_images / "train" / "mri-train-000.jpg", object_names=["health/train/late.jpg"], tags=["mri"], metadata={"image_type": "mri"}
    )
    l2 = lock_recipe(recipe, lake, locks_dir=library.locks_path, previous=read_lock(l1.path))
    if lake_of_build == "copy":  # the lake as it was before the upload: the new resource is not in it
        with pytest.raises(LockfileError, match=r"names 1 resource\(s\) no longer in the lake.*health/train/late.jpg"):
            build_from_lock(library, l2.path, "inc", compute_stats=False, lake=Lake(older))
        assert Dataset(library.dataset_path("inc")).version == 1
    else:
        r2 = build_from_lock(library, l2.path, "inc", compute_stats=False)
        assert r2.mode == "incremental" and r2.added == ["health/train/late.jpg"]
