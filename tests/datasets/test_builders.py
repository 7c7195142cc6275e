import json
from pathlib import Path

import lance
import pytest

from pinlake.datasets import Dataset, DatasetInfo, DatasetItem
from pinlake.datasets.build import DatasetBuilder, ImageFolderBuilder
from pinlake.datasets.tables import table_uri
from pinlake.demo.data import EntityWithCategory, HealthDatasetItem
from pinlake.errors import DatasetExistsError, InputFileError, ReferenceError_, ValidationError
from pinlake.features import BBox, Image


def test_folder_build_layout(health_ds):
    ds = health_ds
    assert ds.version == 1
    for name in ("info.json", "schema.json", "features_values.json", "stats.json", "preview.png"):
        assert (ds.path / name).is_file(), name
    assert sorted(p.name for p in (ds.path / "db").iterdir()) == sorted(
        f"{t}.lance" for t in ["item", "image", "objects", "bbox", "keypoints", "source"]
    )
    assert ds.num_items == 9 and ds.splits() == {"train": 6, "test": 3}
    info = json.loads((ds.path / "info.json").read_text())
    assert info["id"] == "health_images" and info["num_items"] == 9 and info["size"] != "Unknown"
    schema = json.loads((ds.path / "schema.json").read_text())
    assert schema["groups"]["views"] == ["image"] and schema["groups"]["entities"] == ["objects"]
    assert schema["schemas"]["objects"]["base_schema"] == "Entity"
    assert schema["schemas"]["objects"]["fields"]["category"]["type"] == "str"
    assert schema["relations"]["item"]["bbox"] == "one_to_many"
    fv = json.loads((ds.path / "features_values.json").read_text())
    assert set(fv["entities"]["objects"]["category"]["values"]) <= {
        "heart",
        "lung",
        "liver",
        "red_blood_cell",
        "white_blood_cell",
        "bone",
        "joint",
        "lesion",
        "mole",
    }


def test_one_commit_per_table_per_build(health_ds):
    # flush_every_n_samples=4 on 9 samples: still one Lance version per table
    for table in health_ds.tables:
        assert lance.dataset(table_uri(health_ds.path, table)).version == 1
        props = lance.dataset(table_uri(health_ds.path, table)).read_transaction(1).transaction_properties
        assert props["pinlake.operation"] == "build:create" and props["pinlake.run_id"]


def test_items_have_views_entities_annotations(health_ds):
    items = health_ds.get_dataset_items(limit=20)
    assert len(items) == 9
    it = items[0]
    assert isinstance(it, HealthDatasetItem) or type(it).__name__ == "HealthDatasetItem"
    assert it.image.url.startswith("/health_images/") and it.image.width > 0
    assert len(it.objects) == len(it.bbox) == len(it.keypoints) >= 1
    assert {b.entity_ref.id for b in it.bbox} == {o.id for o in it.objects}
    assert it.image_type in {"mri", "microscope", "xray", "dermatology"}
    one = health_ds.get_dataset_items(it.id)
    assert one.id == it.id


def test_rebuild_same_content(health_folder, tmp_path):
    built = []
    for lib in ("lib1", "lib2"):
        b = ImageFolderBuilder(health_folder, tmp_path / lib / "h", HealthDatasetItem, DatasetInfo(id="h"), url_prefix="/h")
        built.append(b.build())
    for table in built[0].tables:
        ta = built[0].to_arrow(table).drop(["created_at", "updated_at"]).sort_by("id")
        tb = built[1].to_arrow(table).drop(["created_at", "updated_at"]).sort_by("id")
        assert ta.num_rows > 0 and ta.equals(tb), table


def test_create_refuses_existing(build_health):
    build_health()
    with pytest.raises(DatasetExistsError):
        build_health()


def test_overwrite_and_add_make_new_versions(build_health):
    assert build_health().version == 1
    ds2 = build_health(mode="overwrite")
    assert ds2.version == 2 and ds2.num_items == 9
    assert ds2.checkout(1).num_items == 9
    with pytest.raises(ValidationError, match="already has a row with id"):
        build_health(mode="add")  # the same ids again: mode="add" only adds new rows


def _write_folder(root: Path, lines: list[str], images: dict[str, bytes]) -> Path:
    split = root / "all"
    split.mkdir(parents=True)
    for name, data in images.items():
        (split / name).write_bytes(data)
    (split / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _jpeg() -> bytes:
    import io

    from PIL import Image as P

    buf = io.BytesIO()
    P.new("RGB", (32, 24), (200, 10, 10)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "lines, images, needle",
    [
        (
            [
                '{"image": "a.jpg", "image_type": "mri"',
            ],
            {"a.jpg": _jpeg()},
            "metadata.jsonl:1: invalid JSON",
        ),
        (['{"image": "b.jpg", "image_type": "mri"}'], {"a.jpg": _jpeg()}, "names 'b.jpg'"),
        (['{"image_type": "mri"}'], {"a.jpg": _jpeg()}, "field 'image'"),
        (['{"image": "a.jpg", "image_type": 5}'], {"a.jpg": _jpeg()}, "image_type"),
        (['{"image": "a.jpg", "image_type": "mri"}'], {"a.jpg": b"not an image"}, "a.jpg: not a readable image"),
        (['{"image": "a.jpg", "image_type": "mri"}'], {"a.jpg": _jpeg(), "z.jpg": _jpeg()}, "no metadata line"),
        (
            ['{"image": "a.jpg", "image_type": "mri", "objects": {"category": ["x"], "bbox": [[1, 2, 3]]}}'],
            {"a.jpg": _jpeg()},
            "objects[0].bbox",
        ),
        (
            ['{"image": "a.jpg", "image_type": "mri", "objects": {"category": ["x", "y"], "bbox": [[1, 2, 3, 4]]}}'],
            {"a.jpg": _jpeg()},
            "different lengths",
        ),
    ],
)
def test_bad_folder_input(tmp_path, lines, images, needle):
    src = _write_folder(tmp_path / "src", lines, images)
    target = tmp_path / "library" / "bad"
    b = ImageFolderBuilder(src, target, HealthDatasetItem, DatasetInfo(id="bad"), url_prefix="/src")
    with pytest.raises(InputFileError) as exc:
        b.build()
    assert needle in str(exc.value)
    assert not target.exists()  # nothing half-written left visible


def test_failed_overwrite_keeps_previous_version(build_health, health_folder):
    ds = build_health()
    (health_folder / "train" / "metadata.jsonl").write_text('{"image": "oops.jpg"}\n')
    with pytest.raises(InputFileError):
        build_health(mode="overwrite")
    again = Dataset(ds.path)
    assert again.version == 1 and again.num_items == 9
    assert again.to_arrow("item").num_rows == 9


def test_missing_metadata_file(tmp_path):
    (tmp_path / "src" / "all").mkdir(parents=True)
    (tmp_path / "src" / "all" / "a.jpg").write_bytes(_jpeg())
    b = ImageFolderBuilder(tmp_path / "src", tmp_path / "lib" / "x", HealthDatasetItem, DatasetInfo(id="x"))
    with pytest.raises(InputFileError, match="metadata.jsonl is missing"):
        b.build()


def test_objects_as_list_of_dicts_and_normalized(tmp_path):
    line = {
        "image": "a.jpg",
        "image_type": "mri",
        "normalized": True,
        "objects": [{"category": "heart", "bbox": [0.1, 0.1, 0.5, 0.5], "keypoints": [[0.2, 0.2], [0.3, 0.3]]}],
    }
    src = _write_folder(tmp_path / "src", [json.dumps(line)], {"a.jpg": _jpeg()})
    ds = ImageFolderBuilder(src, tmp_path / "lib" / "n", HealthDatasetItem, DatasetInfo(id="n")).build()
    bbox = ds.get_data("bbox")[0]
    assert bbox.is_normalized and bbox.coords == [0.1, 0.1, 0.5, 0.5]
    assert ds.get_data("keypoints")[0].coords == [0.2, 0.2, 0.3, 0.3]
    assert ds.stats["bbox"]["bbox"]["normalized"] == 1


class TinyItem(DatasetItem):
    image: Image
    objects: list[EntityWithCategory]
    bbox: list[BBox]
    label: str


class TinyBuilder(DatasetBuilder):
    def __init__(self, target, n, dangling=False, bad_table=False, repeat=None):
        super().__init__(target, TinyItem, DatasetInfo(id="tiny", name="Tiny"))
        self.n, self.dangling, self.bad_table, self.repeat = n, dangling, bad_table, repeat

    def generate_data(self):
        for i in range(self.n):
            item_id = "i0" if i == self.repeat else f"i{i}"
            item = self.item_schema(id=item_id, split="train" if i % 3 else "val", label=f"l{i % 2}")
            view = Image(id=f"v{i}", item_ref={"id": item.id}, url=f"img/{i}.png", width=10, height=10, format="PNG")
            ent = EntityWithCategory(id=f"e{i}", item_ref={"id": item.id}, view_ref={"name": "image", "id": view.id}, category="cat")
            target = "missing" if (self.dangling and i == self.n - 1) else ent.id
            box = BBox(
                id=f"b{i}",
                item_ref={"id": item.id},
                view_ref={"name": "image", "id": view.id},
                entity_ref={"name": "objects", "id": target},
                coords=[1, 1, 2, 2],
            )
            sample = {"item": item, "image": view, "objects": [ent], "bbox": [box]}
            if self.bad_table:
                sample["boxes"] = []
            yield sample


def test_custom_builder_streams(tmp_path, monkeypatch):
    from pinlake.datasets import tables

    monkeypatch.setattr(tables, "FRAGMENT_ROWS", 10)
    ds = TinyBuilder(tmp_path / "lib" / "tiny", 50).build(flush_every_n_samples=7)
    assert ds.num_items == 50 and ds.num_rows("bbox") == 50
    assert ds.splits() == {"train": 33, "val": 17}
    assert lance.dataset(table_uri(ds.path, "bbox")).version == 1
    # a fragment written (on the build's background write thread) each time the flushes of 7
    # samples held reach 10 rows: 14, 14, 14, 8
    assert [f.count_rows() for f in lance.dataset(table_uri(ds.path, "bbox")).get_fragments()] == [14, 14, 14, 8]


def test_small_flushes_make_one_fragment(tmp_path, monkeypatch):
    """Flushes of a few samples are gathered into fragments of FRAGMENT_ROWS rows, or of
    FRAGMENT_BYTES bytes: a table is not left in one small fragment per flush."""
    from pinlake.datasets import tables

    ds = TinyBuilder(tmp_path / "lib" / "tiny", 50).build(flush_every_n_samples=7)
    assert len(lance.dataset(table_uri(ds.path, "bbox")).get_fragments()) == 1
    monkeypatch.setattr(tables, "FRAGMENT_BYTES", 1)  # every flush is over the byte bound
    ds = TinyBuilder(tmp_path / "lib" / "tiny2", 50).build(flush_every_n_samples=7)
    assert [f.count_rows() for f in lance.dataset(table_uri(ds.path, "bbox")).get_fragments()] == [7] * 7 + [1]


@pytest.mark.parametrize("repeat, where", [(2, "sample 4"), (9, "sample 10")])
def test_an_id_written_twice_is_refused(tmp_path, repeat, where):
    """Twice in one flush, or again in a later flush of the same build."""
    with pytest.raises(ValidationError, match=f"{where}: table 'item' already has a row with id 'i0'"):
        TinyBuilder(tmp_path / "lib" / "tiny", 10, repeat=repeat).build(flush_every_n_samples=4)
    assert not (tmp_path / "lib" / "tiny").exists()


def test_dangling_entity_ref_refused(tmp_path):
    with pytest.raises(ReferenceError_) as exc:
        TinyBuilder(tmp_path / "lib" / "tiny", 5, dangling=True).build()
    assert "field 'entity_ref'" in str(exc.value) and "'objects' has no row with id 'missing'" in str(exc.value)
    assert not (tmp_path / "lib" / "tiny").exists()


def test_unknown_table_refused(tmp_path):
    with pytest.raises(ValidationError, match="unknown table 'boxes'"):
        TinyBuilder(tmp_path / "lib" / "tiny", 2, bad_table=True).build()
