"""Incremental stats: a version's stats merged from the previous version's and the changed rows
equal the stats computed whole, and the merge steps aside when it cannot be exact."""

from __future__ import annotations

import json
import random

import lance
import pyarrow as pa
import pytest

from pinlake.datasets import DatasetInfo, DatasetItem, stats_delta
from pinlake.datasets.build import DatasetBuilder
from pinlake.datasets.finalize import json_bytes
from pinlake.datasets.stats import compute_features_values, compute_stats
from pinlake.datasets.stats_delta import incremental_stats
from pinlake.features import BBox, Embedding, EntityWithCategory, Image
from pinlake.storage.lance_delta import NotIncremental, table_delta


class MaybeCategory(EntityWithCategory):
    category: str | None = None  # type: ignore[assignment]  # a user schema whose category may be missing
    label: str = ""


def whole(ds) -> tuple[bytes, bytes]:
    """The bytes of stats.json and features_values.json computed over the whole of ``ds``."""
    return json_bytes(compute_stats(ds)), json_bytes(compute_features_values(ds))


def written(ds) -> tuple[bytes, bytes]:
    """The bytes of the version's stats.json and features_values.json, as its commit wrote them."""
    return ds.version_file("stats.json").read_bytes(), ds.version_file("features_values.json").read_bytes()


def merged(previous, ds) -> tuple[bytes, bytes]:
    got = incremental_stats(previous, ds)
    assert got is not None
    return json_bytes(got[0]), json_bytes(got[1])


def random_write(ds, rng: random.Random) -> str:
    """One random write of the kinds a build, a refresh or an annotator makes."""
    op = rng.choice(["add_box", "move_box", "delete_box", "category", "delete_item", "keypoint", "image_type", "two"])
    boxes = ds.get_data("bbox")
    if op == "add_box" or (op in ("move_box", "delete_box") and not boxes):
        obj = rng.choice(ds.get_data("objects"))
        ref = {"id": obj.item_ref.id}
        image = ds.get_data("image", where=f"item_ref.id = '{obj.item_ref.id}'")[0]
        w = rng.choice([5.0, 40.0, rng.uniform(1, 400)])  # inside and outside the histogram's edges
        ds.add_data(
            "bbox",
            [
                BBox(
                    item_ref=ref,
                    view_ref={"name": "image", "id": image.id},
                    entity_ref={"name": "objects", "id": obj.id},
                    coords=[1, 2, w, w / 2],
                )
            ],
        )
    elif op == "move_box":
        box = rng.choice(boxes)
        ds.update_data(
            "bbox",
            [box.model_copy(update={"coords": [box.coords[0], box.coords[1], box.coords[2] * rng.choice([0.5, 1.0, 3.0]), box.coords[3]]})],
        )
    elif op == "delete_box":
        ds.delete_data("bbox", [rng.choice(boxes).id])
    elif op == "category":
        obj = rng.choice(ds.get_data("objects"))
        ds.update_data("objects", [obj.model_copy(update={"category": rng.choice(["lesion", "cell", "nodule", obj.category])})])
    elif op == "delete_item":
        items = ds.get_data("item")
        if len(items) > 2:
            ds.delete_dataset_items([rng.choice(items).id])
    elif op == "keypoint":
        kps = ds.get_data("keypoints")
        if kps:
            kp = rng.choice(kps)
            ds.update_data("keypoints", [kp.model_copy(update={"coords": [*kp.coords, 3.0, 4.0], "states": [*kp.states, "visible"]})])
    elif op == "image_type":
        item = rng.choice(ds.get_data("item"))
        ds.update_data("item", [item.model_copy(update={"image_type": rng.choice(["mri", "xray", "scan"])})])
    else:  # two tables in one version
        obj = rng.choice(ds.get_data("objects"))
        ds.update_data("objects", [obj.model_copy(update={"category": "pair"})])
        if boxes:
            ds.delete_data("bbox", [rng.choice(boxes).id])
    return op


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_stats_equal_whole_stats_after_random_writes(health_ds, monkeypatch, seed):
    monkeypatch.setattr(stats_delta, "MAX_CHANGED_FRACTION", 1.0)  # 9 items: every change is a large fraction
    ds, rng = health_ds, random.Random(seed)
    count = 0
    for _ in range(12):
        previous = ds.checkout(ds.version)
        with ds.batch("random write", derived=True):
            op = random_write(ds, rng)
        if ds.version == previous.version:
            continue
        expected = whole(ds)
        assert written(ds) == expected, op  # what the commit wrote, byte for byte
        assert merged(previous, ds) == expected, op
        count += 1
    assert count >= 8


def test_a_box_outside_the_edges_recomputes_its_histogram(health_ds, monkeypatch):
    monkeypatch.setattr(stats_delta, "MAX_CHANGED_FRACTION", 1.0)
    ds = health_ds
    before = ds.stats["bbox"]["bbox"]["area"]
    box = ds.get_data("bbox")[0]
    previous = ds.checkout(ds.version)
    ds.update_data("bbox", [box.model_copy(update={"coords": [0, 0, 1000, 1000]})])
    stats, _ = incremental_stats(previous, ds)
    assert stats["bbox"]["bbox"]["area"]["max"] == 1e6 > before["max"]
    assert merged(previous, ds) == whole(ds)


def test_many_changes_or_a_new_table_are_computed_whole(health_ds):
    ds = health_ds
    previous = ds.checkout(ds.version)
    items = ds.get_data("item")
    ds.delete_dataset_items([i.id for i in items[:3]])  # a third of the items: above MAX_CHANGED_FRACTION
    assert incremental_stats(previous, ds) is None
    assert incremental_stats(ds.checkout(1), ds.checkout(1)) is not None  # nothing changed: the same stats
    no_stats = ds.checkout(ds.version)  # a CRUD write's version has no stats: nothing to merge from
    assert no_stats.stats is None and incremental_stats(no_stats, ds) is None


def test_rewritten_fragments_are_not_diffed(tmp_path):
    uri = str(tmp_path / "t.lance")
    for i in range(4):
        lance.write_dataset(pa.table({"id": [f"r{i}{j}" for j in range(10)], "width": [i] * 10}), uri, mode="append" if i else "create")
    before = lance.dataset(uri)
    lance.dataset(uri).delete("id = 'r00'")
    after = lance.dataset(uri)
    delta = table_delta(before, after, ["width"], 100)
    assert delta.removed.num_rows == 1 and delta.added.num_rows == 0
    # a whole fragment deleted (Lance drops it), one row of another, two rows appended
    lance.dataset(uri).delete("id LIKE 'r2%' OR id = 'r31'")
    lance.write_dataset(pa.table({"id": ["n0", "n1"], "width": [7, 8]}), uri, mode="append")
    delta = table_delta(after, lance.dataset(uri), ["width"], 100)
    assert sorted(delta.removed.column("width").to_pylist()) == [2] * 10 + [3]
    assert delta.added.column("width").to_pylist() == [7, 8]
    after = lance.dataset(uri)
    with pytest.raises(NotIncremental, match="too many"):
        table_delta(before, after, ["width"], 0)
    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=1000)  # one fragment: every row has a new address
    with pytest.raises(NotIncremental, match="rewritten"):
        table_delta(after, lance.dataset(uri), ["width"], 1000)


def test_damaged_or_older_previous_stats_are_computed_whole(health_ds, monkeypatch):
    monkeypatch.setattr(stats_delta, "MAX_CHANGED_FRACTION", 1.0)
    ds = health_ds
    box = ds.get_data("bbox")[0]
    for damage in (b"{not json", json.dumps({"num_items": 9}).encode()):  # unreadable; a shape without the keys merged
        ds.version_file("stats.json").write_bytes(damage)
        with ds.batch("move a box", derived=True):
            ds.update_data("bbox", [box.model_copy(update={"coords": [1, 1, 2, 2]})])
        assert written(ds) == whole(ds)


class NotedItem(DatasetItem):
    """An item with two string fields, an entity whose category may be missing, and an embedding."""

    a: str = ""
    b: str = ""
    image: Image
    objects: list[MaybeCategory] = []
    marks: list[EntityWithCategory] = []
    emb: Embedding.with_dim(2, "NotedEmbedding")


class NotedBuilder(DatasetBuilder):
    def generate_data(self):
        for i in range(101):  # a: 101 distinct values, one over features_values' limit
            item = self.item_schema(id=f"i{i}", split="train", a=f"a{i}" if i else "only", b="same")
            view = Image(id=f"v{i}", item_ref={"id": item.id}, url=f"{i}.png", width=10 + i, height=10)
            cat = None if i % 3 == 0 else "Z" if i % 2 else "a"
            obj = MaybeCategory(id=f"o{i}", item_ref={"id": item.id}, category=cat, label=f"l{i}" if i else "only")
            mark = EntityWithCategory(id=f"m{i}", item_ref={"id": item.id}, category="m")
            emb = self.schema.schemas["emb"](id=f"e{i}", item_ref={"id": item.id}, view_ref={"name": "image", "id": view.id}, vector=[i, 0])
            yield {"item": item, "image": view, "objects": [obj], "marks": [mark], "emb": emb}


def test_tables_without_stats_columns_and_the_order_of_fields(tmp_path, monkeypatch):
    """An embedding table changes (it has nothing to merge but its row count); a field becomes
    listable after a delete; NULL categories count as "None" in DuckDB's order; the files are the
    bytes the whole computation writes."""
    monkeypatch.setattr(stats_delta, "MAX_CHANGED_FRACTION", 1.0)
    ds = NotedBuilder(tmp_path / "lib" / "noted", NotedItem, DatasetInfo(id="noted")).build()
    assert "a" not in ds.features_values["item"] and "b" in ds.features_values["item"]
    assert list(ds.features_values["entities"]) == ["marks"]  # objects' labels: 101 values
    steps = [
        lambda: ds.update_data("emb", [ds.get_data("emb", ids="e3")[0].model_copy(update={"vector": [9.0, 9.0]})]),
        lambda: ds.delete_dataset_items(["i0"]),  # a and objects' labels: 100 values, listed (before b, before marks)
        lambda: ds.update_data("objects", [ds.get_data("objects", ids="o4")[0].model_copy(update={"category": None})]),
    ]
    for step in steps:
        previous = ds.checkout(ds.version)
        with ds.batch("step", derived=True):
            step()
        assert written(ds) == whole(ds) == merged(previous, ds)
    assert list(ds.features_values["item"]) == ["a", "b"] and list(ds.features_values["entities"]) == ["objects", "marks"]
