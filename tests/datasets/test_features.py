import datetime as dt

import pyarrow as pa
import pydantic
import pytest

from pinlake.errors import ValidationError
from pinlake.features import (
    BBox,
    Classification,
    CompressedRLE,
    Embedding,
    Entity,
    Image,
    Item,
    KeyPoints,
    Source,
    SourceKind,
    arrow_schema,
    rows_to_table,
    table_to_rows,
)
from pinlake.features.arrow import REF_TYPE


class EntityWithCategory(Entity):
    category: str


def test_groups():
    assert Item.group == "item" and Image.group == "views" and Entity.group == "entities"
    assert BBox.group == "annotations" and Embedding.group == "embeddings" and Source.group == "source"


def test_arrow_types_in_one_place():
    s = arrow_schema(BBox)
    assert s.field("coords").type == pa.list_(pa.float64())
    assert s.field("format").type == pa.string()
    assert s.field("is_normalized").type == pa.bool_()
    assert s.field("entity_ref").type == REF_TYPE
    assert s.field("created_at").type == pa.timestamp("us")
    img = arrow_schema(Image)
    assert img.field("content").type == pa.large_binary()
    assert img.field("width").type == pa.int64()
    assert arrow_schema(EntityWithCategory).field("category").type == pa.string()
    assert arrow_schema(Embedding.with_dim(8)).field("vector").type == pa.list_(pa.float32(), 8)
    assert arrow_schema(CompressedRLE).field("counts").type == pa.large_binary()
    assert arrow_schema(Classification).field("labels").type == pa.list_(pa.string())


def test_roundtrip_rows():
    rows = [
        BBox(id="a", coords=[1, 2, 3, 4], entity_ref={"name": "objects", "id": "e1"}),
        {"id": "b", "coords": [0, 0, 0.5, 0.5], "is_normalized": True},
    ]
    table = rows_to_table(BBox, rows, table="bbox")
    back = table_to_rows(BBox, table)
    assert [b.id for b in back] == ["a", "b"]
    assert back[0].entity_ref.id == "e1" and back[1].is_normalized


def test_source_kind_and_metadata():
    s = Source(name="yolo", kind="model", metadata={"version": 3})
    assert s.kind == SourceKind.MODEL and s.metadata_dict() == {"version": 3}
    t = rows_to_table(Source, [s])
    assert t.column("kind").to_pylist() == ["model"]
    with pytest.raises(pydantic.ValidationError):
        Source(name="x", kind="robot")


@pytest.mark.parametrize(
    "row, field",
    [
        ({"coords": [1, 2, 3]}, "coords"),
        ({"coords": [0, 0, -1, 2]}, "(row)"),
        ({"coords": [0, 0, 2, 2], "is_normalized": True}, "(row)"),
        ({"coords": [0, 0, 1, 1], "format": "cxcywh"}, "format"),
        ({"coords": "nope"}, "coords"),
    ],
)
def test_bad_bbox_names_table_row_field(row, field):
    with pytest.raises(ValidationError) as exc:
        rows_to_table(BBox, [BBox(coords=[0, 0, 1, 1]), row], table="bbox")
    assert "table 'bbox', row 1" in str(exc.value)
    assert field in str(exc.value)


def test_keypoints_states_default_and_checks():
    kp = KeyPoints(coords=[1, 2, 3, 4])
    assert kp.states == ["visible", "visible"] and kp.points() == [(1, 2), (3, 4)]
    with pytest.raises(pydantic.ValidationError):
        KeyPoints(coords=[1, 2, 3])
    with pytest.raises(pydantic.ValidationError):
        KeyPoints(coords=[1, 2], states=["flying"])


def test_embedding_dim_checked():
    E = Embedding.with_dim(3)
    E(vector=[1, 2, 3])
    with pytest.raises(pydantic.ValidationError):
        E(vector=[1, 2])


def test_bbox_conversions():
    b = BBox(coords=[10, 20, 30, 40])
    assert b.xyxy() == [10, 20, 40, 60]
    assert BBox(coords=[10, 20, 40, 60], format="xyxy").xywh() == [10, 20, 30, 40]
    assert isinstance(b.created_at, dt.datetime)


def test_schema_classes_are_made_once_per_text_and_errors_name_the_file(tmp_path):
    """Two schema.json files with the same text (a copied dataset) give the same classes, made once;
    a bad file is named in its error whichever file of that text was read first, and is not kept."""
    import json

    from pinlake.datasets.schema import DatasetSchema
    from pinlake.errors import InputFileError

    data = {
        "schemas": {
            "item": {"base_schema": "Item", "fields": {}},
            "image": {"base_schema": "Image", "schema": "ShotOnce", "fields": {"lens": {"type": "str"}}},
        },
        "item_fields": {"site": "str"},
        "dataset_item": "OncePerText",
    }
    text = json.dumps(data) + "\n" * 3  # a text no other test reads
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(text)
    b.write_text(text)
    first, second = DatasetSchema.from_json(a), DatasetSchema.from_json(b)
    assert first.dataset_item is second.dataset_item and first.schemas == second.schemas
    assert first.schemas is not second.schemas  # each caller gets its own dict
    assert "lens" in first.schemas["image"].model_fields and "site" in first.dataset_item.model_fields
    bad = json.loads(text)
    bad["schemas"]["image"] = {"base_schema": "NoSuchBase"}
    for path in (tmp_path / "bad1.json", tmp_path / "bad2.json"):
        path.write_text(json.dumps(bad))
        with pytest.raises(InputFileError, match=f"^{path}: table 'image' has unknown base_schema 'NoSuchBase'"):
            DatasetSchema.from_json(path)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InputFileError, match="broken.json: invalid JSON"):
        DatasetSchema.from_json(tmp_path / "broken.json")
