"""Dataset tables' scalar indexes (datasets.tables.index_tables): a version commit indexes its
tables past INDEX_ROWS (the version names the indexed table versions), a later write leaves its new
rows uncovered until STALE_ROWS wait, and every read by id answers the same either way."""

from __future__ import annotations

import lance
import pytest

from pinlake.datasets.dataset import Dataset
from pinlake.datasets.tables import table_indexes, table_uri
from pinlake.datasets.versions import VersionLog
from pinlake.storage import lance_indexes


def _indexes(ds: Dataset, version: int | None = None) -> dict[str, dict[str, set[int]]]:
    """{table: {index: covered fragments}} of a dataset version's tables."""
    entry = VersionLog(ds.path).latest() if version is None else VersionLog(ds.path).get(version)
    return {t: lance_indexes.coverage(lance.dataset(table_uri(ds.path, t), version=v)) for t, v in entry.tables.items()}


def test_small_tables_stay_unindexed(health_ds):
    assert all(not ix for ix in _indexes(health_ds).values())  # 9 items: under INDEX_ROWS


def test_a_build_past_the_threshold_indexes_and_a_write_updates_when_stale(build_health, monkeypatch):
    monkeypatch.setattr(lance_indexes, "INDEX_ROWS", 5)
    monkeypatch.setattr(lance_indexes, "STALE_ROWS", 2)
    ds = build_health()
    made = _indexes(ds)
    for table, found in made.items():
        table_ds = lance.dataset(table_uri(ds.path, table))
        if table_ds.count_rows() >= 5:
            assert set(found) == set(table_indexes(table_ds.schema)) and "id_idx" in found, table
        else:  # the source table: one row
            assert not found, table
    assert set(made["image"]) == {"id_idx", "item_ref_id_idx"}
    entry = VersionLog(ds.path).latest()
    assert entry.operation == "build:create"  # the build's own version names the indexed tables
    for table, version in entry.tables.items():
        assert lance.dataset(table_uri(ds.path, table)).version == version

    items = ds.get_data("item")
    first, second = items[0], items[1]
    ds.update_data("item", [dict(first.model_dump(), image_type="edited")])  # 1 row: not stale
    after = _indexes(ds)
    assert after["item"]["id_idx"] == made["item"]["id_idx"]  # the new fragment is not covered
    assert Dataset(ds.path).get_data("item", ids=[first.id])[0].image_type == "edited"  # found by the scan of it
    by_id = lance.dataset(table_uri(ds.path, "item")).to_table(filter=f"id = '{first.id}'")
    assert by_id.num_rows == 1 and by_id.equals(
        lance.dataset(table_uri(ds.path, "item")).to_table(filter=f"id = '{first.id}'", use_scalar_index=False)
    )

    monkeypatch.setattr(lance_indexes, "STALE_ROWS", 0)
    ds.update_data("item", [dict(second.model_dump(), image_type="again")])
    item = lance.dataset(table_uri(ds.path, "item"), version=VersionLog(ds.path).latest().tables["item"])
    assert lance_indexes.coverage(item)["id_idx"] >= {f.fragment_id for f in item.get_fragments()}
    got = {r.id: r.image_type for r in Dataset(ds.path).get_data("item", ids=[first.id, second.id])}
    assert got == {first.id: "edited", second.id: "again"}
    # every version reads as it did: the first version's items are the built ones
    assert [r.image_type for r in Dataset(ds.path).checkout(1).get_data("item", ids=[first.id])] == [first.image_type]


def test_a_table_rolled_back_by_a_failed_batch_is_indexed_by_maintain(health_ds):
    """A failed batch leaves the item table's head a restore of the logged version: maintain indexes
    it as that version (once), and the content stays the logged one."""
    from pinlake.datasets.tables import restores
    from pinlake.library.maintain import maintain_dataset

    ds = health_ds
    item = ds.get_data("item", limit=1)[0]
    with pytest.raises(RuntimeError, match="mid-batch"), ds.batch("edit"):
        ds.update_data("item", [dict(item.model_dump(), image_type="zzz")])
        raise RuntimeError("mid-batch")
    logged = VersionLog(ds.path).latest()
    assert restores(lance.dataset(table_uri(ds.path, "item")), logged.tables["item"])

    done, indexed, entry = maintain_dataset(ds.path, fragments=1000)
    assert not done and "item" in indexed and entry is not None
    assert set(_indexes(ds)["item"]) == {"id_idx"}
    assert Dataset(ds.path).get_data("item", ids=[item.id])[0].image_type == item.image_type
    assert maintain_dataset(ds.path, fragments=1000) == ({}, [], None)  # nothing left to do


def test_an_index_that_cannot_be_written_leaves_the_write_and_warns(health_ds, monkeypatch, caplog):
    """The item table's index directory cannot be made: the CRUD write commits its version without
    the index, one warning names it, and the next write past the obstacle makes it."""
    ds = health_ds
    blocker = ds.path / "db" / "item.lance" / "_indices"
    blocker.write_text("not a directory")
    monkeypatch.setattr(lance_indexes, "INDEX_ROWS", 1)
    item = ds.get_data("item", limit=1)[0]
    before = VersionLog(ds.path).latest().dataset_version
    with caplog.at_level("WARNING", logger="pinlake.indexes"):
        ds.update_data("item", [dict(item.model_dump(), image_type="edited")])
    entry = VersionLog(ds.path).latest()
    assert entry.dataset_version == before + 1 and entry.tables["item"] == lance.dataset(table_uri(ds.path, "item")).version
    assert Dataset(ds.path).get_data("item", ids=[item.id])[0].image_type == "edited"
    assert _indexes(ds)["item"] == {}
    warnings = [r.getMessage() for r in caplog.records if r.name == "pinlake.indexes"]
    assert warnings == ["table item: index id_idx not written (OSError: " + warnings[0].split("(OSError: ", 1)[1]]

    blocker.unlink()
    ds.update_data("item", [dict(item.model_dump(), image_type="again")])
    assert set(_indexes(ds)["item"]) == {"id_idx"}


def test_a_write_indexes_the_tables_it_changed_only(health_ds, monkeypatch):
    """A dataset whose tables passed the threshold unindexed (made before indexes, say): an edit of
    one item indexes the item table, and leaves the image table, which it did not write, as it was."""
    ds = health_ds
    assert all(not ix for ix in _indexes(ds).values())
    monkeypatch.setattr(lance_indexes, "INDEX_ROWS", 1)
    item = ds.get_data("item", limit=1)[0]
    before = VersionLog(ds.path).latest().tables
    ds.update_data("item", [dict(item.model_dump(), image_type="edited")])
    after = VersionLog(ds.path).latest().tables
    assert set(_indexes(ds)["item"]) == {"id_idx"}
    assert _indexes(ds)["image"] == {} and after["image"] == before["image"]


def test_maintain_makes_a_missing_index_in_segments_before_it_compacts(health_ds, monkeypatch):
    """The item table has several fragments and no index: maintain builds its index in segments
    over them, then compacts (which keeps the segments' bounds), in one new version whose reads
    equal a scan."""
    from pinlake.library.maintain import maintain_dataset

    ds = health_ds
    items = ds.get_data("item")
    for k, it in enumerate(items[:4]):  # one fragment a write
        ds.update_data("item", [dict(it.model_dump(), image_type=f"edit{k}")])
    table = lance.dataset(table_uri(ds.path, "item"))
    assert len(table.get_fragments()) >= 5 and not table.describe_indices()
    monkeypatch.setattr(lance_indexes, "SEGMENT_ROWS", 4)
    before = VersionLog(ds.path).latest().dataset_version

    done, indexed, entry = maintain_dataset(ds.path, fragments=1)
    assert "item" in done and "item" in indexed and entry is not None and entry.dataset_version == before + 1
    item = lance.dataset(table_uri(ds.path, "item"), version=entry.tables["item"])
    (index,) = [ix for ix in item.describe_indices() if ix.name == "id_idx"]
    assert len(index.segments) >= 2  # not one sort over one compacted fragment
    assert lance_indexes.coverage(item)["id_idx"] == {f.fragment_id for f in item.get_fragments()}
    ids = [it.id for it in items]
    got = item.to_table(columns=["id", "image_type"], filter=f"id IN ({', '.join(repr(i) for i in ids)})").sort_by("id")
    assert got.equals(item.to_table(columns=["id", "image_type"], use_scalar_index=False).sort_by("id"))
    assert {r.id: r.image_type for r in Dataset(ds.path).get_data("item", ids=ids[:4])} == {
        it.id: f"edit{k}" for k, it in enumerate(items[:4])
    }
    # the compaction left a fragment per segment (more than 1): maintain again finds nothing to do
    assert len(item.get_fragments()) > 1
    assert maintain_dataset(ds.path, fragments=1) == ({}, [], None)
    assert VersionLog(ds.path).latest().dataset_version == entry.dataset_version
