"""The lake's scalar indexes (Store.index): made by an ingest past INDEX_ROWS rows, brought up to
date past STALE_ROWS uncovered rows, made whatever the size by `pinlake maintain`; every lookup
answers the same with the index as with a scan, including rows appended since the index."""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from pinlake.cli import app, register_commands
from pinlake.lake import Lake
from pinlake.lake import upload as up
from pinlake.lake.lance_tables import DATA, INDEXES, OBJECTS
from pinlake.layout import LAKE_DIR
from pinlake.storage import lance_indexes
from pinlake.util.sqltext import sql_in

HOUR_NS = 3600 * 10**9


def _tree(root, n, text="content"):
    then = time.time_ns() - HOUR_NS
    for i in range(n):
        p = root / f"d{i % 3}" / f"f{i:03d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"{text} {i}".encode() * 4)
        os.utime(p, ns=(then, then))
    return root


_covered = lance_indexes.coverage


def _same_with_and_without_index(ds, column, values, extra=None):
    where = sql_in(column, values) + (f" AND {extra}" if extra else "")
    cols = ["id", "object_name"] if "object_name" in ds.schema.names else ["sha256"]
    a = ds.to_table(columns=cols, filter=where).sort_by(cols[0])
    b = ds.to_table(columns=cols, filter=where, use_scalar_index=False).sort_by(cols[0])
    assert a.equals(b) and a.num_rows
    plan = ds.scanner(columns=cols, filter=where).explain_plan()
    assert "ScalarIndexQuery" in plan or "MaterializeIndex" in plan, plan
    return a


@pytest.fixture
def low_thresholds(monkeypatch):
    monkeypatch.setattr(lance_indexes, "INDEX_ROWS", 20)
    monkeypatch.setattr(lance_indexes, "STALE_ROWS", 10)
    monkeypatch.setattr(up, "DATA_FRAGMENT_ROWS", 8)


def test_small_lake_has_no_index_then_an_ingest_past_the_threshold_makes_them(tmp_path, low_thresholds):
    tree = _tree(tmp_path / "in", 12)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder([tree])
    assert lake._store.head(DATA).describe_indices() == []  # 12 rows < INDEX_ROWS

    _tree(tmp_path / "in", 30)  # 18 more files: 30 rows
    lake.upload_folder([tree])
    for table in (DATA, OBJECTS):
        assert set(_covered(lake._store.head(table))) == set(INDEXES[table])
    data = lake._store.head(DATA)
    names = ["d0/f003.bin", "d1/f019.bin", "absent"]
    rows = _same_with_and_without_index(data, "object_name", names, "is_latest = true")
    assert sorted(rows["object_name"].to_pylist()) == names[:2]
    ids = rows["id"].to_pylist()
    assert _same_with_and_without_index(data, "id", ids)["id"].to_pylist() == sorted(ids)
    objects = lake._store.head(OBJECTS)
    shas = objects.to_table(columns=["sha256"], limit=3)["sha256"].to_pylist()
    _same_with_and_without_index(objects, "sha256", shas)


def test_rows_after_the_index_are_found_and_an_update_covers_them(tmp_path, low_thresholds):
    tree = _tree(tmp_path / "in", 30)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder([tree])
    indexed = _covered(lake._store.head(DATA))["object_name_idx"]

    # 5 files change: new rows in a fragment the index does not cover (5 ≤ STALE_ROWS)
    for i in range(5):
        (tree / f"d{i % 3}" / f"f{i:03d}.bin").write_bytes(b"changed %d" % i)
    lake.upload_folder([tree])
    data = lake._store.head(DATA)
    assert _covered(data)["object_name_idx"] == indexed
    names = [f"d{i % 3}/f{i:03d}.bin" for i in range(5)]
    latest = _same_with_and_without_index(data, "object_name", names, "is_latest = true")
    assert sorted(latest["object_name"].to_pylist()) == sorted(names)
    sha = {r["object_name"]: r["sha256"] for r in data.to_table(filter="is_latest = true").to_pylist()}
    assert len({sha[n] for n in names}) == 5 and lake.get_resource("d0/f000.bin").get_bytes() == b"changed 0"

    # 12 more change: the uncovered rows pass STALE_ROWS, the ingest brings the indexes up to date
    for i in range(5, 17):
        (tree / f"d{i % 3}" / f"f{i:03d}.bin").write_bytes(b"again %d" % i)
    lake.upload_folder([tree])
    data = lake._store.head(DATA)
    fragments = {f.fragment_id for f in data.get_fragments()}
    assert all(cover >= fragments for cover in _covered(data).values())
    names = [f"d{i % 3}/f{i:03d}.bin" for i in range(17)]
    assert len(_same_with_and_without_index(data, "object_name", names, "is_latest = true")) == 17
    every = data.to_table(columns=["object_name", "version", "is_latest"]).to_pylist()
    assert sum(r["is_latest"] for r in every) == 30 and len(every) == 30 + 5 + 12


def test_a_large_index_is_built_in_segments_and_answers_as_one(tmp_path, low_thresholds, monkeypatch):
    """Past SEGMENT_ROWS a BTREE is built as segments over runs of fragments, committed as one
    index in one commit; an update folds a few new rows into the last segment, and more than a
    segment's rows build it again in segments; lookups across the segments equal a scan."""
    monkeypatch.setattr(lance_indexes, "SEGMENT_ROWS", 10)
    monkeypatch.setattr(up, "BATCH_ROWS", 8)
    tree = _tree(tmp_path / "in", 30)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder([tree])
    data = lake._store.head(DATA)
    by_name = {ix.name: ix for ix in data.describe_indices()}
    assert set(by_name) == set(INDEXES[DATA])
    fragments = {f.fragment_id for f in data.get_fragments()}
    for ix in by_name.values():  # 30 rows in fragments of 8: runs of 16, 14 rows
        assert len(ix.segments) == 2 and set().union(*(set(s.fragment_ids) for s in ix.segments)) == fragments
    ops = [type(data.checkout_version(v).get_transactions(1)[0].operation).__name__ for v in range(2, data.version + 1)]
    assert ops.count("CreateIndex") == len(INDEXES[DATA])  # one commit per index, not one per segment
    names = [f"d{i % 3}/f{i:03d}.bin" for i in range(0, 30, 4)]
    assert len(_same_with_and_without_index(data, "object_name", names, "is_latest = true")) == len(names)
    objects = lake._store.head(OBJECTS)
    shas = objects.to_table(columns=["sha256"])["sha256"].to_pylist()
    assert len(_same_with_and_without_index(objects, "sha256", shas[::3])) == len(shas[::3])

    def changed(k, text):
        for i in range(k):
            (tree / f"d{i % 3}" / f"f{i:03d}.bin").write_bytes(b"%s %d" % (text, i))
        lake.upload_folder([tree])
        data = lake._store.head(DATA)
        fragments = {f.fragment_id for f in data.get_fragments()}
        assert all(cover >= fragments for cover in _covered(data).values())
        names = [f"d{i % 3}/f{i:03d}.bin" for i in range(30)]
        latest = _same_with_and_without_index(data, "object_name", names, "is_latest = true")
        assert len(latest) == 30 and lake.get_resource("d2/f011.bin").get_bytes() == b"%s 11" % text
        return data, {ix.name: [set(s.fragment_ids) for s in ix.segments] for ix in data.describe_indices()}

    # 24 rows wait (12 new, 12 earlier rows rewritten; past STALE_ROWS, not past a segment of 30):
    # folded into the last segment
    monkeypatch.setattr(lance_indexes, "SEGMENT_ROWS", 30)
    first = {ix.name: [set(s.fragment_ids) for s in ix.segments] for ix in data.describe_indices()}
    data, folded = changed(12, b"again")
    for name, segs in folded.items():
        assert len(segs) == 2 and segs[0] == first[name][0] and segs[1] > first[name][1]
    # 15 more wait with segments of 10: built again in segments, in one commit that replaces it
    monkeypatch.setattr(lance_indexes, "SEGMENT_ROWS", 10)
    before = data.version
    data, rebuilt = changed(15, b"once more")
    runs = lance_indexes.segments({f.fragment_id: lance_indexes.visible_rows(f.metadata) for f in data.get_fragments()}, 10)
    for segs in rebuilt.values():
        assert segs == [set(run) for run in runs] and len(segs) > 2
    ops = [type(data.checkout_version(v).get_transactions(1)[0].operation).__name__ for v in range(before + 1, data.version + 1)]
    assert ops.count("CreateIndex") == len(INDEXES[DATA])


def test_a_segment_that_cannot_be_built_leaves_no_index_and_the_next_write_makes_it(tmp_path, low_thresholds, monkeypatch, caplog):
    """The second segment's build fails (its files cannot be written): the ingest's commit stands,
    the index is not committed in part, and maintain builds it afterwards."""
    import lance

    monkeypatch.setattr(lance_indexes, "SEGMENT_ROWS", 10)
    monkeypatch.setattr(up, "BATCH_ROWS", 8)
    real = lance.LanceDataset.create_index_uncommitted
    calls = []

    def second_fails(self, *args, **kwargs):
        calls.append(kwargs.get("fragment_ids"))
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(lance.LanceDataset, "create_index_uncommitted", second_fails)
    tree = _tree(tmp_path / "in", 30)
    lib = tmp_path / "library"
    lake = Lake(lib / LAKE_DIR)
    with caplog.at_level("WARNING", logger="pinlake.indexes"):
        lake.upload_folder([tree])
    assert lake.count() == 30 and lake.get_resource("d2/f029.bin").get_bytes() == b"content 29" * 4
    assert "lake objects: index sha256_idx not written (OSError: No space left on device)" in caplog.text
    assert lake._store.head(OBJECTS).describe_indices() == []  # nothing of the index is committed
    monkeypatch.setattr(lance.LanceDataset, "create_index_uncommitted", real)
    register_commands()
    # maintain makes the index before it compacts, so it is built in segments over the fragments as
    # they are, and the compaction (to one fragment, were there no index) keeps the segments' bounds
    res = CliRunner().invoke(app, ["maintain", "--library", str(lib), "--json", "--fragments", "1"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["lake_indexes"][OBJECTS] == ["sha256_idx"]
    objects = lake._store.head(OBJECTS)
    assert set(_covered(objects)) == {"sha256_idx"}
    (index,) = objects.describe_indices()
    assert len(index.segments) == 2 and _covered(objects)["sha256_idx"] == {f.fragment_id for f in objects.get_fragments()}
    shas = objects.to_table(columns=["sha256"])["sha256"].to_pylist()
    assert len(_same_with_and_without_index(objects, "sha256", shas)) == len(shas)


@given(st.lists(st.integers(0, 40), max_size=30), st.integers(1, 60))
def test_segments_are_runs_of_whole_fragments_in_order(sizes, per):
    rows = dict(enumerate(sizes))
    runs = lance_indexes.segments(rows, per)
    assert [f for run in runs for f in run] == list(rows)
    for run in runs[:-1]:  # each run closes on the fragment that brings it to `per` rows
        assert sum(rows[f] for f in run) >= per > sum(rows[f] for f in run[:-1])


def test_maintain_indexes_a_small_lake_and_keeps_every_version_readable(tmp_path):
    lib = tmp_path / "library"
    register_commands()
    runner = CliRunner()
    tree = _tree(tmp_path / "in", 6)
    assert runner.invoke(app, ["ingest", str(tree), "--local", "--library", str(lib)]).exit_code == 0
    (tree / "d0" / "f000.bin").write_bytes(b"other")
    assert runner.invoke(app, ["ingest", str(tree), "--local", "--library", str(lib)]).exit_code == 0
    lake = Lake(lib / LAKE_DIR)
    before = {v: lake.checkout(v).list_data(all_versions=True, order_by="id").ids for v in (1, 2)}
    assert lake._store.head(DATA).describe_indices() == []

    res = runner.invoke(app, ["maintain", "--library", str(lib), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert sorted(report["lake_indexes"][DATA]) == sorted(INDEXES[DATA]) and report["lake_indexes"][OBJECTS] == ["sha256_idx"]
    for table in (DATA, OBJECTS):
        assert set(_covered(lake._store.head(table))) == set(INDEXES[table])
    for v, rows in before.items():  # the versions before the index read as they did
        assert Lake(lib / LAKE_DIR).checkout(v).list_data(all_versions=True, order_by="id").ids == rows
    assert Lake(lib / LAKE_DIR).get_resource("d0/f000.bin").get_bytes() == b"other"
    # maintain again: nothing to create, nothing uncovered
    again = json.loads(runner.invoke(app, ["maintain", "--library", str(lib), "--json"]).output)
    assert again["lake_indexes"] == {}


def test_an_index_that_cannot_be_written_leaves_the_ingest_committed(tmp_path, low_thresholds, caplog):
    """The data table's index directory cannot be made (a file stands in its place): the ingest's
    commit stands, its lake version is catalogued, one warning names the index, and maintain writes
    it once the obstacle is gone."""
    import pinlake
    from pinlake.catalog.store import Catalog

    lib = tmp_path / "library"
    lake = pinlake.connect(lib).get_datalake()
    tree = _tree(tmp_path / "in", 12)
    lake.upload_folder([tree])  # 12 rows: no index yet
    blocker = lib / LAKE_DIR / "data.lance" / "_indices"
    blocker.write_text("not a directory")
    _tree(tmp_path / "in", 30)
    with caplog.at_level("WARNING", logger="pinlake.indexes"):
        lake.upload_folder([tree])
    assert lake.count() == 30 and lake.get_resource("d2/f029.bin").get_bytes() == b"content 29" * 4
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "pinlake.indexes"]
    assert warning.startswith("lake data: index id_idx not written (OSError") and "pinlake maintain" in warning
    assert lake.store.head(DATA).describe_indices() == []
    assert set(_covered(lake.store.head(OBJECTS))) == {"sha256_idx"}  # the other table's index is made
    assert ("_lake", DATA, lake.version) in Catalog(lib).keys("versions", "_lake")  # catalogued after the failure

    blocker.unlink()
    register_commands()
    res = CliRunner().invoke(app, ["maintain", "--library", str(lib), "--json"])
    assert res.exit_code == 0, res.output
    assert sorted(json.loads(res.output)["lake_indexes"][DATA]) == sorted(INDEXES[DATA])
    assert lake.get_resource("d2/f029.bin").get_bytes() == b"content 29" * 4
