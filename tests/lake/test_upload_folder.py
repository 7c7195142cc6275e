"""Streaming ingest (Lake.upload_folder, `pinlake ingest DIR`): batch by batch, one commit, the same
lake as the list upload would make; repeated names across batches, changed files, new tags."""

from __future__ import annotations

import os
import time

import pytest

from pinlake.lake import ErrorManager, Lake
from pinlake.lake import upload as up
from pinlake.lake.lance_tables import DATA, OBJECTS

HOUR_NS = 3600 * 10**9


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 7 files, data fragments of 10 rows: a 40-file ingest crosses every batch path."""
    monkeypatch.setattr(up, "BATCH_ROWS", 7)
    monkeypatch.setattr(up, "CHUNK_FILES", 3)
    monkeypatch.setattr(up, "DATA_FRAGMENT_ROWS", 10)


def _tree(root, n=40, dup_every=9):
    """n files in nested folders under root/main; every dup_every-th file's relative path also
    exists under root/twins (two roots, one name: versions of one resource). Returns the roots."""
    then = time.time_ns() - HOUR_NS
    for i in range(n):
        rel = f"d{i % 4}/sub{i % 3}/f{i:03d}.bin"
        p = root / "main" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"content {i}".encode() * 10)
        os.utime(p, ns=(then, then))
        if dup_every and i % dup_every == 0:
            twin = root / "twins" / rel
            twin.parent.mkdir(parents=True, exist_ok=True)
            twin.write_bytes(f"twin {i}".encode())
            os.utime(twin, ns=(then, then))
    (root / "main" / ".hidden").write_bytes(b"not me")
    return [root / "main"] + ([root / "twins"] if dup_every else [])


def _name(i):
    return f"d{i % 4}/sub{i % 3}/f{i:03d}.bin"


def _rows(lake):
    t = lake._store.open(DATA).to_table(columns=["id", "object_name", "version", "sha256", "tags", "is_latest"])
    return sorted(t.to_pylist(), key=lambda r: (r["object_name"], r["version"]))


def _check_versions(rows):
    """Each name: versions 1..k, exactly the last one latest; ids unique."""
    assert len({r["id"] for r in rows}) == len(rows)
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["object_name"], []).append(r)
    for name, rs in by.items():
        assert [r["version"] for r in rs] == list(range(1, len(rs) + 1)), name
        assert [r["is_latest"] for r in rs] == [False] * (len(rs) - 1) + [True], name
    return by


def test_folder_upload_streams_and_equals_the_list_upload(tmp_path, small_batches):
    tree = _tree(tmp_path / "in")
    lake = Lake(tmp_path / "lake")
    out = lake.upload_folder(tree, tags=["scan"], source="site")
    walked = list(up.walk_files(tree))
    assert out.files == out.ok == len(walked) == 45 and not any(p.endswith(".hidden") for p, _ in walked)
    assert lake.version == 1  # one commit for the whole call, however many batches
    by = _check_versions(_rows(lake))
    # a twin (the same relative path under the second root) is a second version of its name
    assert len(by) == 40 and sum(len(v) for v in by.values()) == 45 and out.new == 45
    assert len(by[_name(0)]) == 2 and len(by[_name(1)]) == 1

    other = Lake(tmp_path / "lake2")
    other.upload_data([p for p, _ in walked], tags=["scan"], source="site", object_names=[r for _, r in walked])
    assert [(r["object_name"], r["version"], r["sha256"], r["is_latest"]) for r in _rows(lake)] == [
        (r["object_name"], r["version"], r["sha256"], r["is_latest"]) for r in _rows(other)
    ]


def test_rerun_changed_files_and_new_tags_commit_once(tmp_path, small_batches):
    tree = _tree(tmp_path / "in")
    lake = Lake(tmp_path / "lake")
    lake.upload_folder(tree, tags=["scan"])
    before = _rows(lake)

    # unchanged files are settled by the state cache; a name two files share (under main/ and
    # twins/) is one resource whose versions alternate: each run adds both again
    again = lake.upload_folder(tree, tags=["scan"])
    assert again.ok == 45 and again.new == 10 and lake.version == 2
    by = _check_versions(_rows(lake))
    assert {n for n, rs in by.items() if len(rs) == 4} == {_name(i) for i in range(0, 40, 9)}
    assert sum(len(rs) == 1 for rs in by.values()) == 35

    (tree[0] / _name(1)).write_bytes(b"new bytes")  # a not-repeated name changes
    out = lake.upload_folder(tree, tags=["scan", "v2"])  # every latest row also gets the new tag
    assert lake.version == 3 and out.new == 11
    by = _check_versions(_rows(lake))
    assert len(by[_name(1)]) == 2 and by[_name(1)][-1]["sha256"] != by[_name(1)][0]["sha256"]
    assert len(by[_name(9)]) == 6
    latest = [rs[-1] for rs in by.values()]
    assert all(set(r["tags"]) == {"scan", "v2"} for r in latest)
    assert by[_name(1)][0]["tags"] == ["scan"]  # the earlier version keeps its tags
    assert [r["tags"] for r in by[_name(9)]] == [["scan"]] * 4 + [["scan", "v2"]] * 2
    # earlier versions were replaced in place (a Lance Update): no row lost, no id duplicated
    assert len(_rows(lake)) == len(before) + 10 + 11


def test_latest_rows_of_a_large_lake_are_found_by_hash(tmp_path, small_batches):
    """From the second batch on, names are looked up in the latest rows read once (LatestLookup)."""
    tree = _tree(tmp_path / "in", n=60, dup_every=0)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder(tree)
    for i in range(50):
        p = tree[0] / _name(i)
        p.write_bytes(p.read_bytes() + b"!")
    lake.upload_folder(tree)
    by = _check_versions(_rows(lake))
    assert sorted(n for n, rs in by.items() if len(rs) == 2) == sorted(_name(i) for i in range(50))
    lookup = up.LatestLookup(lake._store.open(DATA))
    names = [_name(i) for i in range(0, 60, 7)] + ["absent.bin"]
    lookup.next_batch()
    lookup.rows(names[:1])  # the first batch: an IN list
    assert lookup.names is None
    lookup.next_batch()
    found = lookup.rows(names)  # then: by hash
    assert lookup.names is not None
    assert sorted(r["object_name"] for r in found) == sorted(names[:-1]) and all(r["is_latest"] for r in found)


def test_the_walk_is_lazy(tmp_path, small_batches):
    """At most a few batches of items are ever in flight: the ingest never lists the whole folder."""
    tree = _tree(tmp_path / "in", n=60, dup_every=0)
    made = 0
    done = 0
    most = 0

    def items():
        nonlocal made, most
        for it in up.folder_items(up.walk_files(tree), None):
            made += 1
            most = max(most, made - done)
            yield it

    def progress(n):
        nonlocal done
        done += n

    lake = Lake(tmp_path / "lake")
    out = up.ingest(
        lake._store,
        items(),
        tags=[],
        source=None,
        max_workers=2,
        error_manager=None,
        fill_metadata=False,
        operation="lake.upload",
        progress=progress,
        keep_rows=False,
        repeated=set(),
    )
    assert out.ok == made == 60 and out.rows is None
    assert most <= 3 * up.BATCH_ROWS


def test_a_bad_file_names_itself_and_nothing_is_committed(tmp_path, small_batches):
    """A file gone between the walk and its read (in the 3rd batch): a one-line error naming it and
    nothing committed; with an ErrorManager, the others land and it is reported."""
    tree = _tree(tmp_path / "in", n=30, dup_every=0)
    bad = tree[0] / _name(14)

    def items():
        for it in up.folder_items(up.walk_files(tree), None):
            if it.label == str(bad):
                bad.unlink()
            yield it

    lake = Lake(tmp_path / "lake")
    kw = {
        "tags": [],
        "source": None,
        "max_workers": 2,
        "fill_metadata": False,
        "operation": "lake.upload",
        "keep_rows": False,
        "repeated": set(),
    }
    with pytest.raises(up.InputFileError, match=r"f014\.bin: file not found"):
        up.ingest(lake._store, items(), error_manager=None, **kw)
    assert not lake._store.exists(DATA)
    bad.write_bytes(b"back")
    em = ErrorManager()
    out = up.ingest(lake._store, items(), error_manager=em, **kw)
    assert out.ok == 29 and [e.path for e in em.errors] == [str(bad)]
    assert lake._store.open(DATA).count_rows() == 29


def test_cli_ingest_streams_a_folder(tmp_path, small_batches):
    from pinlake.library.ingest import ingest_step

    tree = _tree(tmp_path / "in", n=20, dup_every=0)
    out = ingest_step(tmp_path / "lib", [str(t) for t in tree], ["t"], "s", object_prefix="scans")
    assert out["data"] == 20 and out["errors"] == []
    lake = Lake(tmp_path / "lib" / "_lake")
    assert {r["object_name"] for r in _rows(lake)} == {f"scans/{_name(i)}" for i in range(20)}
    (tmp_path / "empty" / ".hidden-only").mkdir(parents=True)
    version = lake.version
    with pytest.raises(Exception, match="nothing to ingest"):
        ingest_step(tmp_path / "lib", [str(tmp_path / "empty")], None, None)
    assert Lake(tmp_path / "lib" / "_lake").version == version


@pytest.mark.parametrize("asks_before_read", [32, 2])
def test_an_indexed_sha256_is_asked_by_lookups_until_many_batches_asked(tmp_path, small_batches, monkeypatch, asks_before_read):
    """With an index on the objects' sha256, a batch's digests are looked up (an IN list answered
    by the index), not the whole column read, until SHA_QUERIES_INDEXED batches have asked."""
    import lance

    from pinlake.storage import lance_indexes

    monkeypatch.setattr(lance_indexes, "INDEX_ROWS", 20)
    monkeypatch.setattr(up, "SHA_QUERIES_INDEXED", asks_before_read)
    tree = _tree(tmp_path / "in", n=56, dup_every=0)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder(tree)
    assert "sha256_idx" in lance_indexes.coverage(lake._store.open(OBJECTS))
    walked = [p for p, _ in up.walk_files(tree)]
    for path in walked[::2]:  # 28 files: four work batches of 7
        with open(path, "ab") as fh:
            fh.write(b"changed")
    asked: list[str] = []
    columns: list[object] = []
    to_table, to_batches = lance.LanceDataset.to_table, lance.LanceDataset.to_batches

    def table_spy(self, *a, **kw):
        if "sha256 IN" in str(kw.get("filter") or ""):
            asked.append(kw["filter"])
        return to_table(self, *a, **kw)

    def batches_spy(self, *a, **kw):
        columns.append(kw.get("columns"))
        return to_batches(self, *a, **kw)

    monkeypatch.setattr(lance.LanceDataset, "to_table", table_spy)
    monkeypatch.setattr(lance.LanceDataset, "to_batches", batches_spy)
    out = lake.upload_folder(tree)
    assert out.new == 28
    read_whole = ["sha256", "uri"] in columns
    if asks_before_read == 32:
        assert len(asked) == 4 and not read_whole
    else:
        assert len(asked) == 1 and read_whole
    assert {r["object_name"]: r for r in _rows(lake)}[_name(0)]["version"] == 2


def test_a_rerun_with_a_few_changes_reads_the_digests_once(tmp_path, small_batches, monkeypatch):
    """Four changed files in each of 8 batches of 7: the 32 files left are read in 5 batches of up
    to 7 (not 8 of four), and the objects' sha256 column is read once after SHA_QUERIES batches
    asked, not scanned by an IN list in every batch."""
    import lance

    tree = _tree(tmp_path / "in", n=56, dup_every=0)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder(tree)
    walked = [p for p, _ in up.walk_files(tree)]
    changed = [p for k in range(4) for p in walked[k::7]]  # four files in each batch of 7
    for path in changed:
        with open(path, "ab") as fh:
            fh.write(b"changed")
    asked: list[str] = []
    real = lance.LanceDataset.to_table

    def spy(self, *a, **kw):
        if "sha256 IN" in str(kw.get("filter") or ""):
            asked.append(kw["filter"])
        return real(self, *a, **kw)

    read: list[int] = []
    process = up._process
    monkeypatch.setattr(
        up, "_process", lambda store, pending, *a: (read.append(sum(len(c) for c, _ in pending)), process(store, pending, *a))[1]
    )
    monkeypatch.setattr(lance.LanceDataset, "to_table", spy)
    objects = len(lake._store.open(OBJECTS).get_fragments())
    out = lake.upload_folder(tree)
    assert out.new == 32 and read == [7, 7, 7, 7, 4]
    assert len(asked) == up.SHA_QUERIES - 1
    assert {r["object_name"]: r for r in _rows(lake)}[_name(0)]["version"] == 2
    # the 32 new objects wait for each other: written once DATA_FRAGMENT_ROWS (10) wait, 14 + 14 + 4
    assert len(lake._store.open(OBJECTS).get_fragments()) == objects + 3


def test_lookup_and_repeated_names_stay_exact_when_hashes_collide(tmp_path, small_batches, monkeypatch):
    """Every name hashed alike: the names are compared, so lookups and repeated names stay exact."""
    import numpy as np

    tree = _tree(tmp_path / "in", n=20, dup_every=9)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder(tree)
    monkeypatch.setattr(up, "hash_strings", lambda arr: np.zeros(len(arr), np.uint64))
    assert up.repeated_names(tree, None) == {_name(0), _name(9), _name(18)}
    lookup = up.LatestLookup(lake._store.open(DATA))
    for _ in range(2):
        lookup.next_batch()  # past the first batch: by hash
    found = lookup.rows([_name(3), _name(9), "absent.bin"])
    assert sorted((r["object_name"], r["version"]) for r in found) == sorted([(_name(3), 1), (_name(9), 2)])
    at, cols = lookup.latest_columns(["absent.bin", _name(9), _name(3)], ["version"])
    assert sorted(zip(at.tolist(), cols["version"].to_pylist())) == [(1, 2), (2, 1)]


def test_an_unchanged_rerun_settles_in_columns_and_writes_nothing(tmp_path, small_batches, monkeypatch):
    """The files the state cache knows, whose latest version holds those bytes with every tag asked,
    are settled from two or three columns: no latest row is read as a dict, nothing is committed."""
    tree = _tree(tmp_path / "in", n=30, dup_every=0)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder(tree, tags=["scan"])
    asked: list[str] = []
    real = up.LatestLookup.rows

    def spy(self, names):
        asked.extend(names)
        return real(self, names)

    monkeypatch.setattr(up.LatestLookup, "rows", spy)
    out = lake.upload_folder(tree, tags=["scan"])
    assert (out.ok, out.new, asked, lake.version) == (30, 0, [], 1)

    # a new tag: the rows are read and tagged (one commit), the files not read (the state cache's
    # answers travel with them into the regrouped batches); then settled in columns again
    loads: list[str] = []
    load = up._load
    monkeypatch.setattr(up, "_load", lambda item, fill: (loads.append(item.object_name), load(item, fill))[1])
    out = lake.upload_folder(tree, tags=["scan", "v2"])
    assert lake.version == 2 and len(asked) == 30 and out.new == 0 and loads == []
    assert all(set(r["tags"]) == {"scan", "v2"} for r in _rows(lake))
    asked.clear()
    assert lake.upload_folder(tree, tags=["v2"]).ok == 30 and asked == [] and lake.version == 2


def test_a_known_file_whose_name_moved_on_is_a_new_version_again(tmp_path, small_batches):
    """The state cache knows a file, but its name's latest version holds other bytes (uploaded from
    elsewhere): the file is a new version again, not settled."""
    tree = _tree(tmp_path / "in", n=10, dup_every=0)
    lake = Lake(tmp_path / "lake")
    lake.upload_folder(tree)
    other = tmp_path / "other.bin"
    other.write_bytes(b"other bytes")
    lake.upload_data([other], object_names=[_name(4)])
    out = lake.upload_folder(tree)
    assert out.new == 1 and lake.version == 3
    by = _check_versions(_rows(lake))
    assert [r["sha256"] for r in by[_name(4)]][0] == by[_name(4)][-1]["sha256"] != by[_name(4)][1]["sha256"]


def test_has_tags_is_every_tag_asked_per_list():
    import pyarrow as pa

    lists = pa.array([["a", "b"], ["b"], None, [], ["a", None, "b", "c"]], pa.list_(pa.string()))
    assert up.has_tags(lists, ["a", "b"]).tolist() == [True, False, False, False, True]
    assert up.has_tags(pa.chunked_array([lists]), ["b"]).tolist() == [True, True, False, False, True]


def test_the_walk_gives_normalized_paths_the_state_cache_knows(tmp_path, monkeypatch):
    """``./in/``, ``in``, ``.`` and the absolute path walk to the same files, and a rerun through
    any of them is settled by the state cache: no file is read again."""
    tree = _tree(tmp_path / "in", n=5, dup_every=0)[0]
    monkeypatch.chdir(tmp_path)
    assert [p for p, _ in up.walk_files(["./in/main/"])] == [p for p, _ in up.walk_files(["in/main"])]
    assert all(p.startswith("in/main/d") for p, _ in up.walk_files(["./in//main"]))
    items = list(up.folder_items(up.walk_files(["./in/main"]), None))
    assert [it.path for it in items] == [os.path.abspath(p) for p, _ in up.walk_files([tree])]
    lake = Lake(tmp_path / "lake")
    lake.upload_folder("./in/main")
    reads: list[str] = []
    real = up.read_local
    monkeypatch.setattr(up, "read_local", lambda path, mode=None: (reads.append(path), real(path, mode))[1])
    assert lake.upload_folder(str(tree)).new == 0 and lake.version == 1
    monkeypatch.chdir(tree)
    assert [p for p, _ in up.walk_files(["."])] == [r for _, r in up.walk_files([tree])]
    assert lake.upload_folder(".").ok == 5 and lake.upload_folder("d1/..").ok == 5
    assert reads == [] and lake.version == 1
