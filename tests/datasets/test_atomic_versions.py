"""A dataset version is one atomic unit: a failed write changes nothing readers see, leaves the
dataset writable, and every version reads its own info, schema, stats, preview and media root."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import lance
import pytest

from pinlake.datasets import Dataset
from pinlake.datasets.build.folder import ImageFolderBuilder
from pinlake.datasets.info import DatasetInfo
from pinlake.datasets.tables import table_uri
from pinlake.demo.data import HealthDatasetItem, generate_health_images
from pinlake.errors import DatasetExistsError, InputFileError, NotFoundError, ValidationError
from pinlake.features import BBox
from pinlake.library import Library


def _bbox(item, x: float = 1.0) -> BBox:
    return BBox(item_ref={"id": item.id}, view_ref={"name": "image", "id": item.image.id}, coords=[x, 1, 2, 2])


def test_failed_batch_leaves_the_dataset_writable(health_ds):
    """A batch whose second write is refused commits nothing, and the next updates and deletes succeed
    (they were refused as 'incompatible with concurrent Restore' when based on the logged version)."""
    ds = health_ds
    item = ds.get_dataset_items(limit=1)[0]
    before = ds.version
    with pytest.raises(ValidationError), ds.batch("two writes"):
        ds.add_data("bbox", [_bbox(item)])
        ds.add_data("bbox", [{"coords": [1, 2, 3]}])  # refused: 3 coordinates
    assert Dataset(ds.path).version == before and ds.version == before
    bbox = ds.get_data("bbox", limit=1)[0]
    for _ in range(3):
        ds.update_data("bbox", [bbox.model_copy(update={"confidence": 0.5})])
        ds.delete_data("bbox", [bbox.id])
        ds.add_data("bbox", [bbox])
    assert Dataset(ds.path).version == before + 9


def test_leftover_table_versions_are_rolled_back_once(health_ds):
    """Table versions no log entry names (a killed write) are rolled back by one restore, the next
    write bases on it, and a second writer does not restore again."""
    ds = health_ds
    uri = table_uri(ds.path, "bbox")
    logged = ds.state.tables["bbox"]
    table = lance.dataset(uri)
    table.delete("true")  # a leftover: what a write killed before its log entry leaves
    head = lance.dataset(uri).version
    bbox = ds.get_data("bbox", limit=1)[0]
    ds.update_data("bbox", [bbox.model_copy(update={"confidence": 0.25})])
    after = Dataset(ds.path)
    assert after.num_rows("bbox") == ds.checkout(ds.version - 1).num_rows("bbox") > 0
    restores = [
        v
        for v in range(head + 1, lance.dataset(uri).version + 1)
        if type(lance.dataset(uri).read_transaction(v).operation).__name__ == "Restore"
    ]
    assert len(restores) == 1 and logged < head
    ds.delete_data("bbox", [bbox.id])  # no new restore for the second write
    assert lance.dataset(uri).version == after.state.tables["bbox"] + 1


def _overwrite_that_fails(health_folder: Path, target: Path, other_root: Path) -> None:
    """An overwrite from another folder whose last metadata line is broken."""
    generate_health_images(other_root, n_train=3, n_test=1)
    meta = other_root / "test" / "metadata.jsonl"
    meta.write_text(meta.read_text() + "{not json\n")
    builder = ImageFolderBuilder(
        other_root, target, HealthDatasetItem, DatasetInfo(id="health_images", name="Other"), url_prefix="/health_images"
    )
    with pytest.raises(InputFileError):
        builder.build(mode="overwrite", flush_every_n_samples=2)


def test_failed_overwrite_changes_no_file_a_reader_sees(health_ds, health_folder, tmp_path):
    ds = health_ds
    top = {n: (ds.path / n).read_bytes() for n in ("info.json", "schema.json", "stats.json", "preview.png")}
    own = {n: ds.version_file(n).read_bytes() for n in ("info.json", "schema.json", "stats.json", "preview.png")}
    _overwrite_that_fails(health_folder, ds.path, tmp_path / "other" / "health_images")
    again = Dataset(ds.path)
    assert again.version == ds.version and again.info.media["root"] == str(health_folder.resolve())
    assert {n: (ds.path / n).read_bytes() for n in top} == top
    assert {n: again.version_file(n).read_bytes() for n in own} == own
    view = again.get_data("image", limit=1)[0]
    assert again.read_media(view) == (health_folder / view.url.split("/", 2)[2]).read_bytes()


def test_each_version_reads_its_own_files(health_ds, health_folder, tmp_path):
    """checkout(v) reads v's info (media root, item count), stats and preview, not the latest's."""
    ds = health_ds
    other = tmp_path / "other" / "health_images"
    generate_health_images(other, n_train=2, n_test=1)
    ImageFolderBuilder(other, ds.path, HealthDatasetItem, DatasetInfo(id="health_images", name="Other"), url_prefix="/health_images").build(
        mode="overwrite"
    )
    v1, v2 = Dataset(ds.path).checkout(1), Dataset(ds.path)
    assert (v1.info.media["root"], v2.info.media["root"]) == (str(health_folder.resolve()), str(other.resolve()))
    assert (v1.info.num_items, v2.info.num_items) == (9, 3)
    assert (v1.stats["dataset_version"], v2.stats["dataset_version"]) == (1, 2)
    assert v1.stats["num_items"] == 9 and v2.stats["num_items"] == 3
    assert v1.preview_path != v2.preview_path and v1.preview_path.read_bytes() != v2.preview_path.read_bytes()
    view = v1.get_data("image", limit=1)[0]
    assert v1.read_media(view) == (health_folder / view.url.split("/", 2)[2]).read_bytes()
    assert json.loads((ds.path / "info.json").read_text())["num_items"] == 3  # the top level caches the latest


def test_stats_and_info_are_made_before_the_commit(health_ds):
    """A build's version has its stats, features values, preview and item count from its commit on."""
    ds = health_ds
    meta = ds.path / "_meta" / "1"
    assert sorted(p.name for p in meta.iterdir()) == sorted(
        [".preview.png.key", "features_values.json", "info.json", "preview.png", "schema.json", "stats.json", "summary.json"]
    )
    assert json.loads((meta / "info.json").read_text())["num_items"] == 9 == ds.stats["num_items"]
    summary = json.loads((meta / "summary.json").read_text())
    assert (summary["dataset_version"], summary["num_items"], summary["rows"]) == (1, 9, ds.state.rows)
    assert summary["size_bytes"] == ds.size_bytes() > 0 and summary["title"] == ds.info.name


def test_crud_version_has_no_stats_of_another_version(health_ds):
    ds = health_ds
    ds.delete_dataset_items([ds.get_dataset_items(limit=1)[0].id])
    assert ds.version == 2 and ds.stats is None and not ds.preview_path.is_file() and ds.info.num_items == 8
    assert not (ds.path / "stats.json").exists()  # the top-level cache follows the latest version
    assert ds.checkout(1).stats["num_items"] == 9


def test_incomplete_create_is_skipped_and_taken_over(tmp_path, health_folder):
    """A create killed before its first commit leaves files but no version: listings skip it with a
    warning, opening it says so, and a new create takes it over."""
    lib = Library(tmp_path / "library").ensure()
    half = lib.path / "half"
    (half / "db" / "item.lance").mkdir(parents=True)
    (half / "info.json").write_text("{}")
    (half / "schema.json").write_text("{}")
    assert lib.dataset_names() == [] and lib.incomplete_names() == ["half"]
    assert "half" in lib.incomplete_warnings()[0] and "take it over" in lib.incomplete_warnings()[0]
    with pytest.raises(InputFileError, match="incomplete"):
        lib.get_dataset("half")
    from typer.testing import CliRunner

    from pinlake.cli import app, register_commands
    from pinlake.library.sql import sql

    register_commands()

    assert sql("SELECT 1 AS one", lib.path).column("one").to_pylist() == [1]
    for args in (["ls"], ["sql", "SELECT 1"]):
        res = CliRunner().invoke(app, [*args, "--library", str(lib.path)])
        assert res.exit_code == 0, res.output
        assert "skipped incomplete dataset 'half'" in res.output and "Traceback" not in res.output
    from fastapi.testclient import TestClient

    from pinlake.api.app import create_app

    client = TestClient(create_app(lib.path))
    assert client.get("/datasets").json() == [] and client.post("/sql", json={"query": "SELECT 1 AS one"}).status_code == 200
    ds = ImageFolderBuilder(health_folder, half, HealthDatasetItem, DatasetInfo(id="half", name="Half"), url_prefix="/health_images").build(
        mode="create"
    )
    assert ds.version == 1 and lib.dataset_names() == ["half"] and lib.incomplete_names() == []


def test_create_of_an_existing_dataset_is_refused_under_the_lock(health_ds, health_folder):
    with pytest.raises(DatasetExistsError):
        ImageFolderBuilder(
            health_folder, health_ds.path, HealthDatasetItem, DatasetInfo(id="health_images", name="H"), url_prefix="/health_images"
        ).build(mode="create")
    assert Dataset(health_ds.path).version == 1


def test_two_creates_at_once_exactly_one_wins(tmp_path, health_folder):
    target = tmp_path / "library" / "race"
    results: list[object] = []

    def create() -> None:
        try:
            results.append(
                ImageFolderBuilder(health_folder, target, HealthDatasetItem, DatasetInfo(id="race", name="R"), url_prefix="/health_images")
                .build(mode="create")
                .version
            )
        except DatasetExistsError as exc:
            results.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(type, results), key=str) == sorted([int, DatasetExistsError], key=str), results
    assert [e.dataset_version for e in Dataset(target).versions()] == [1]


def test_missing_version_is_one_error(health_ds):
    with pytest.raises(NotFoundError, match="no version 7"):
        health_ds.checkout(7)


def test_diff_of_a_cleaned_up_version_is_one_error(health_ds, health_folder, tmp_path):
    """diff NAME 1 2 after version 1's tables were cleaned up: one line naming the version (CLI, Python, API)."""
    from datetime import timedelta

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from pinlake.api.app import create_app
    from pinlake.cli import app, register_commands

    register_commands()
    from pinlake.library.diff import diff_versions

    ds = health_ds
    ds.delete_dataset_items([ds.get_dataset_items(limit=1)[0].id])
    for table in ds.tables:
        lance.dataset(table_uri(ds.path, table)).cleanup_old_versions(older_than=timedelta(0))
    with pytest.raises(NotFoundError, match="cleanup"):
        diff_versions(ds.path, 1, 2)
    res = CliRunner().invoke(app, ["diff", "health_images", "1", "2", "--library", str(ds.path.parent)])
    assert res.exit_code != 0 and "Traceback" not in res.output and "has no version 1" in res.output, res.output
    r = TestClient(create_app(ds.path.parent), raise_server_exceptions=False).get("/datasets/health_images/diff?a=1&b=2")
    assert r.status_code == 404 and "cleanup" in r.text


def test_api_reads_the_files_of_the_version_asked(health_ds, health_folder, tmp_path):
    from fastapi.testclient import TestClient

    from pinlake.api.app import create_app

    other = tmp_path / "other" / "health_images"
    generate_health_images(other, n_train=2, n_test=1)
    ImageFolderBuilder(
        other, health_ds.path, HealthDatasetItem, DatasetInfo(id="health_images", name="Other"), url_prefix="/health_images"
    ).build(mode="overwrite")
    client = TestClient(create_app(health_ds.path.parent))
    v1 = client.get("/datasets/health_images?version=1").json()
    latest = client.get("/datasets/health_images").json()
    assert (v1["num_items"], latest["num_items"]) == (9, 3)
    assert v1["stats"]["dataset_version"] == 1 and latest["stats"]["dataset_version"] == 2
    assert v1["preview_url"].endswith("?version=1")
    png1, png2 = client.get(v1["preview_url"]), client.get(latest["preview_url"])
    assert png1.status_code == png2.status_code == 200 and png1.content != png2.content
    assert png1.content == Dataset(health_ds.path).checkout(1).preview_path.read_bytes()
    view = client.get("/views/health_images/image/?limit=1&version=1").json()[0]
    media = client.get(f"/views/health_images/image/{view['id']}/media?version=1")
    url = view["data"]["url"]
    assert media.status_code == 200 and media.content == (health_folder / url.split("/", 2)[2]).read_bytes()


def test_restore_carries_the_files_of_the_version_it_restores(health_ds, health_folder, tmp_path):
    from pinlake.library.restore import restore_version

    other = tmp_path / "other" / "health_images"
    generate_health_images(other, n_train=2, n_test=1)
    ImageFolderBuilder(
        other, health_ds.path, HealthDatasetItem, DatasetInfo(id="health_images", name="Other"), url_prefix="/health_images"
    ).build(mode="overwrite")
    assert restore_version(health_ds.path, 1).dataset_version == 3
    v1, v3 = Dataset(health_ds.path).checkout(1), Dataset(health_ds.path)
    assert v3.info.media["root"] == str(health_folder.resolve()) and v3.info.num_items == v3.num_items == 9
    assert v3.stats["dataset_version"] == 3 and v3.stats["num_items"] == 9
    assert v3.preview_path.read_bytes() == v1.preview_path.read_bytes()
