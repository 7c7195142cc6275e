import lance
import pytest

from pinlake.datasets import Dataset, DatasetInfo, DatasetItem
from pinlake.datasets.build import DatasetBuilder
from pinlake.datasets.tables import table_uri
from pinlake.demo.data import EntityWithCategory
from pinlake.errors import NotFoundError, ReferenceError_, ValidationError
from pinlake.features import BBox, Embedding, Image


def test_get_data_paging_and_filters(health_ds):
    imgs = health_ds.get_data("image", limit=2, skip=0)
    assert len(imgs) == 2 and all(isinstance(i, Image) for i in imgs)
    more = health_ds.get_data("image", limit=2, skip=2)
    assert {i.id for i in imgs}.isdisjoint({i.id for i in more})
    one = health_ds.get_data("image", ids=imgs[0].id)
    assert [i.id for i in one] == [imgs[0].id]
    train = health_ds.get_data("item", where="split = 'train'")
    assert len(train) == 6
    with pytest.raises(NotFoundError, match="unknown table 'images'"):
        health_ds.get_data("images")


def test_add_update_delete_make_versions(health_ds):
    ds = health_ds
    item = ds.get_dataset_items(limit=1)[0]
    n_bbox = ds.num_rows("bbox")
    # add
    new = BBox(
        item_ref={"id": item.id},
        view_ref={"name": "image", "id": item.image.id},
        entity_ref={"name": "objects", "id": item.objects[0].id},
        coords=[1, 1, 5, 5],
    )
    (new_id,) = ds.add_data("bbox", [new])
    assert ds.version == 2 and ds.num_rows("bbox") == n_bbox + 1
    # update
    box = ds.get_data("bbox", ids=new_id)[0]
    ds.update_data("bbox", [box.model_copy(update={"coords": [2, 2, 6, 6]})])
    assert ds.version == 3 and ds.get_data("bbox", ids=new_id)[0].coords == [2, 2, 6, 6]
    assert ds.get_data("bbox", ids=new_id)[0].created_at == box.created_at  # an update keeps created_at
    # delete
    assert ds.delete_data("bbox", [new_id, "nope"]) == [new_id]
    assert ds.version == 4 and ds.num_rows("bbox") == n_bbox
    # history: old versions still read the old rows
    assert ds.checkout(2).get_data("bbox", ids=new_id)[0].coords == [1, 1, 5, 5]
    assert ds.checkout(3).get_data("bbox", ids=new_id)[0].coords == [2, 2, 6, 6]
    assert ds.checkout(1).get_data("bbox", ids=new_id) == []
    assert [v.operation for v in ds.versions()] == ["build:create", "add_data bbox", "update_data bbox", "delete_data bbox"]
    # every write is a new Lance version, never a rewrite
    assert lance.dataset(table_uri(ds.path, "bbox")).version == 4


def test_dangling_annotation_refused_nothing_written(health_ds):
    ds = health_ds
    item = ds.get_dataset_items(limit=1)[0]
    bad = BBox(item_ref={"id": item.id}, entity_ref={"name": "objects", "id": "ghost"}, coords=[0, 0, 1, 1])
    with pytest.raises(ReferenceError_, match="'objects' has no row with id 'ghost'"):
        ds.add_data("bbox", [bad])
    assert ds.version == 1 and Dataset(ds.path).version == 1
    assert lance.dataset(table_uri(ds.path, "bbox")).version == 1


def test_update_missing_and_duplicate_add(health_ds):
    ds = health_ds
    with pytest.raises(NotFoundError):
        ds.update_data("bbox", [BBox(id="zzz", coords=[0, 0, 1, 1])])
    box = ds.get_data("bbox", limit=1)[0]
    with pytest.raises(ValidationError, match="ids already exist"):
        ds.add_data("bbox", [box])
    with pytest.raises(ValidationError, match="field 'coords'"):
        ds.add_data("bbox", [{"coords": [1, 2]}])
    assert ds.version == 1


def test_dataset_items_crud_and_cascade(health_ds):
    ds = health_ds
    cls = ds.dataset_item
    item = ds.get_dataset_items(limit=1)[0]
    n = {t: ds.num_rows(t) for t in ds.tables}
    # update: change metadata, drop one box
    changed = item.model_copy(update={"image_type": "changed", "bbox": item.bbox[1:]})
    ds.update_dataset_items([changed])
    again = ds.get_dataset_items(item.id)
    assert again.image_type == "changed" and len(again.bbox) == len(item.bbox) - 1
    # add a whole new item
    new_item = cls(
        id="new1",
        split="train",
        image_type="mri",
        image=Image(url="x.png", width=4, height=4, format="PNG"),
        objects=[EntityWithCategory(id="newent", category="heart")],
        bbox=[BBox(entity_ref={"name": "objects", "id": "newent"}, coords=[0, 0, 1, 1])],
        keypoints=[],
    )
    ds.add_dataset_items([new_item])
    got = ds.get_dataset_items("new1")
    assert got.image.url == "x.png" and got.bbox[0].entity_ref.id == "newent" and got.objects[0].item_ref.id == "new1"
    # cascade delete
    assert ds.delete_dataset_items([item.id, "new1"]) == sorted([item.id, "new1"])
    assert ds.num_items == n["item"] - 1
    for t in ("image", "objects", "bbox", "keypoints"):
        assert ds.get_data(t, item_ids=[item.id, "new1"]) == []
    assert ds.checkout(1).get_dataset_items(item.id).image_type == item.image_type


def test_reader_pinned_never_sees_later_writes(health_ds):
    pinned = Dataset(health_ds.path, version=1)
    health_ds.delete_dataset_items([health_ds.get_dataset_items(limit=1)[0].id])
    assert pinned.num_items == 9 and pinned.to_arrow("item").num_rows == 9
    with pytest.raises(ValidationError, match="read-only"):
        pinned.delete_data("bbox", ["x"])


def test_crashed_write_leftovers_are_hidden_and_rolled_back(health_ds):
    ds = health_ds
    # a table version no log entry names (as a crash between table commit and log append leaves)
    box = ds.get_data("bbox", limit=1)[0]
    lance.dataset(table_uri(ds.path, "bbox")).delete(f"id = '{box.id}'")
    assert Dataset(ds.path).get_data("bbox", ids=box.id)  # readers still see the logged version
    ds.add_data("objects", [EntityWithCategory(item_ref={"id": box.item_ref.id}, category="x")])
    assert ds.get_data("bbox", ids=box.id)  # the orphan delete was rolled back, not adopted


def test_batch_is_one_version(health_ds):
    ds = health_ds
    boxes = ds.get_data("bbox", limit=2)
    with ds.batch("relabel"):
        ds.update_data("bbox", [boxes[0].model_copy(update={"confidence": 0.5})])
        ds.delete_data("bbox", [boxes[1].id])
    assert ds.version == 2 and ds.versions()[-1].operation == "relabel"


class EmbItem(DatasetItem):
    image: Image
    emb: Embedding.with_dim(4, "ImageEmbedding")


class EmbBuilder(DatasetBuilder):
    def generate_data(self):
        for i in range(20):
            item = self.item_schema(id=f"i{i}", split="train")
            view = Image(id=f"v{i}", item_ref={"id": item.id}, url=f"{i}.png")
            vec = [float(i), 0.0, 0.0, 0.0]
            yield {
                "item": item,
                "image": view,
                "emb": self.schema.schemas["emb"](
                    id=f"e{i}", item_ref={"id": item.id}, view_ref={"name": "image", "id": view.id}, vector=vec
                ),
            }


def test_semantic_search_vector_and_text(tmp_path):
    ds = EmbBuilder(tmp_path / "lib" / "emb", EmbItem, DatasetInfo(id="emb")).build()
    items, distances, ids = ds.semantic_search([5.2, 0, 0, 0], "emb", limit=3)
    assert ids[0] == "i5" and items[0].id == "i5" and distances == sorted(distances) and len(ids) == 3
    with pytest.raises(ValidationError, match="needs an embedding function"):
        ds.semantic_search("five", "emb")
    _, _, ids = ds.semantic_search("nine", "emb", limit=1, embedding_fn=lambda text: [9.0, 0, 0, 0])
    assert ids == ["i9"]
    with pytest.raises(ValidationError, match="not an embedding table"):
        ds.semantic_search([1, 2, 3, 4], "image")
