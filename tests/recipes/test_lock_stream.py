"""Locks written chunk by chunk (listing rows kept in Arrow) equal the lock of the whole-selection writer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pinlake
from pinlake.lake.models import Data
from pinlake.lake.query import key_columns
from pinlake.recipes import lockfile as lockmod
from pinlake.recipes.client import ReadOnlyLakeClient
from pinlake.recipes.errors import RecipeError
from pinlake.recipes.loader import load_recipe, resolve_resource, run_recipe
from pinlake.recipes.lockfile import content_hash, dump_line, lock_recipe, read_lock, record_of, resource_file

BENCH_RECIPE = Path(__file__).resolve().parents[2] / "bench" / "recipe_bench.py"
RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def whole_selection_files(recipe: Path, lake) -> dict[str, bytes]:
    """The lock files as the writer made them before it streamed: every record in memory, sorted, joined."""
    loaded = load_recipe(recipe)
    client = ReadOnlyLakeClient(lake)
    selection = run_recipe(loaded, client)
    files = {}
    for split in sorted(selection):
        recs = {}
        items = selection[split]
        if isinstance(items, pa.Table):  # a split given as a table: its keys, looked up one by one
            items = items.select(key_columns(items.column_names)).to_pylist()
        for i, r in enumerate(items):
            rec = record_of(resolve_resource(client.pinned_lake, split, i, r))
            recs[rec["object_name"]] = rec
        lines = [dump_line(rec) for rec in sorted(recs.values(), key=lambda x: (x["object_name"], x["version"]))]
        files[resource_file(split)] = "".join(line + "\n" for line in lines).encode()
    return files


def assert_same_lock(recipe: Path, lake, out: Path) -> None:
    want = whole_selection_files(recipe, lake)
    res = lock_recipe(recipe, lake, out=out)
    got = {p.name: p.read_bytes() for p in sorted(out.glob("resources.*.jsonl"))}
    assert got == want
    assert res.hash == content_hash(want)
    assert res.manifest["files"] == {n: hashlib.sha256(b).hexdigest() for n, b in sorted(want.items())}
    assert res.manifest["splits"] == {n[len("resources.") : -len(".jsonl")]: b.count(b"\n") for n, b in sorted(want.items())}
    assert not list(out.glob(".lock-*"))  # the staging directory is gone
    read_lock(out, lake)


def test_bench_lock_equals_whole_selection_lock(tmp_path, monkeypatch):
    from bench.data import files_of, generate

    folder = generate(tmp_path / "data", 60)
    lake = pinlake.connect(tmp_path / "lib").get_datalake()
    files = files_of(Path(folder) / "v1")
    lake.upload_data([p for p, _, _ in files], metadata=[m for _, _, m in files], object_names=[n for _, n, _ in files], source="bench")
    monkeypatch.setattr(lockmod, "LINES_CHUNK", 7)  # several chunks per split
    assert_same_lock(BENCH_RECIPE, lake, tmp_path / "lock")


def test_mixed_resources_equal_whole_selection_lock(library, write_recipe, tmp_path, monkeypatch):
    """Data of two listings, Data found by name, dicts by id and by name; splits overlap (disjoint=False)."""
    monkeypatch.setattr(lockmod, "LINES_CHUNK", 3)
    recipe = write_recipe(
        "@pinlake.recipe(disjoint=False)\ndef r(client):\n"
        "    health = list(client.list_data(q=\"object_name LIKE 'health/%'\"))\n"
        "    basel = list(client.get_resource('trial/basel'))\n"
        "    one = client.find_data(object_name=health[0].object_name)\n"
        "    return {'a': list(reversed(health[1:])) + [one] + basel[::2],\n"
        "            'b': [{'id': d.id} for d in basel[1::2]] + [{'object_name': health[2].object_name}] + health[3:5]}\n"
    )
    assert_same_lock(recipe, library.get_datalake(), tmp_path / "lock")
    assert_same_lock(RECIPES / "health_by_tag.py", library.get_datalake(), tmp_path / "lock2")


def test_lock_into_locks_dir_moves_files_under_the_hash(library, tmp_path):
    lake = library.get_datalake()
    want = whole_selection_files(RECIPES / "basel_trial.py", lake)
    res = lock_recipe(RECIPES / "basel_trial.py", lake, locks_dir=tmp_path / "locks")
    assert res.path == tmp_path / "locks" / content_hash(want)
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == [res.hash]
    assert {n: (res.path / n).read_bytes() for n in want} == want
    assert json.loads((res.path / "lock.json").read_text())["hash"] == res.hash


@pytest.mark.parametrize(
    "body, match",
    [
        ("    d = list(client.list_data())\n    return {'a': d + d[:1]}\n", "appears twice in split 'a'"),
        ("    d = list(client.list_data())\n    return {'a': d[:2], 'b': d[1:3]}\n", "is in split 'a' and in split 'b'"),
        ("    d = list(client.list_data())\n    return {'a': d[:2], 'b': [{'id': d[1].id}]}\n", "is in split 'a' and in split 'b'"),
    ],
)
def test_duplicate_and_overlap_errors_leave_nothing(library, write_recipe, tmp_path, body, match):
    recipe = write_recipe("@pinlake.recipe()\ndef r(client):\n" + body)
    with pytest.raises(RecipeError, match=match):
        lock_recipe(recipe, library.get_datalake(), locks_dir=tmp_path / "locks")
    assert list((tmp_path / "locks").iterdir()) == []


def test_listing_data_reads_like_row_data(library):
    lake = library.get_datalake()
    listed = lake.list_data()
    rows = lake.select_rows().to_pylist()
    assert [d.to_dict() for d in listed] == [Data(lake, dict(r)).to_dict() for r in rows]
    d = listed[1]
    assert (d.id, d.object_name, d.version, d.sha256, d.created_at, d.tags, d.metadata) == (
        rows[1]["id"],
        rows[1]["object_name"],
        rows[1]["version"],
        rows[1]["sha256"],
        rows[1]["created_at"],
        list(rows[1]["tags"] or []),
        json.loads(rows[1]["metadata"]) if rows[1]["metadata"] else {},
    )
    assert d.get_bytes() == lake.find_data(id=d.id).get_bytes()
    picked = [4, 0, 2, 2]
    assert listed[0]._rows.rows_at(picked, ["id", "object_name"]) == [
        {"id": rows[i]["id"], "object_name": rows[i]["object_name"]} for i in picked
    ]


def test_rows_at_across_record_batches():
    import pyarrow as pa

    from pinlake.lake.models import Rows

    batches = [pa.record_batch({"k": list(range(s, s + n)), "v": [f"v{i}" for i in range(s, s + n)]}) for s, n in ((0, 3), (3, 1), (4, 5))]
    rows = Rows(pa.Table.from_batches(batches))
    picked = [8, 0, 3, 4, 2, 3]
    assert rows.rows_at(picked, ["v"]) == [{"v": f"v{i}"} for i in picked]
    assert rows.table_at(picked, ["v", "k"]).to_pylist() == [{"v": f"v{i}", "k": i} for i in picked]
    assert rows.value("k", 5) == 5 and rows.row(7) == {"k": 7, "v": "v7"}


def _lock_of(folder: Path, splits: dict[str, list[tuple[str, int, str]]]) -> lockmod.Lock:
    """A lock directory (not hashed) with one line per (object name, version, sha256 prefix)."""
    folder.mkdir(parents=True)
    for split, rows in splits.items():
        recs = [
            record_of({"id": f"{n}@{v}", "object_name": n, "version": v, "sha256": sha * 8, "metadata": {"k": sha}}) for n, v, sha in rows
        ]
        (folder / resource_file(split)).write_text("".join(dump_line(r) + "\n" for r in sorted(recs, key=lambda r: r["object_name"])))
    return lockmod.Lock(folder, {"hash": folder.name, "splits": {s: len(r) for s, r in splits.items()}}, list(splits))


def _diff_by_index(old: lockmod.Lock, new: lockmod.Lock) -> tuple[list[str], list[str], list[str]]:
    a, b = old.index(), new.index()
    return sorted(set(b) - set(a)), sorted(n for n in set(a) & set(b) if a[n] != b[n]), sorted(set(a) - set(b))


_names = st.sampled_from(["a/1", "a/2", "b/1", "b/é", "c", "d/x/y"])
_rows = st.lists(st.tuples(_names, st.integers(1, 2), st.sampled_from(["ab", "cd"])), unique_by=lambda r: r[0], max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    old=st.dictionaries(st.sampled_from(["test", "train"]), _rows, max_size=2),
    new=st.dictionaries(st.sampled_from(["test", "train", "val"]), _rows, max_size=3),
)
def test_diff_locks_equals_the_index_diff(tmp_path_factory, old, new):
    """Names moved between splits, changed lines, names in two splits of one lock (the last line counts)."""
    from pinlake.library.build import diff_locks, lock_diff

    base = tmp_path_factory.mktemp("d")
    a, b = _lock_of(base / "a", old), _lock_of(base / "b", new)
    assert diff_locks(a, b) == _diff_by_index(a, b)
    d, located = lock_diff(a, b), b.located()  # the changed names' last lines, as located() finds them
    assert d.lines == {n: located[n] for n in d.added + d.updated}


def test_lines_longer_than_the_reader_block(tmp_path):
    """A line longer than the CSV reader's block (metadata near PINLAKE_MAX_FIELD_BYTES raised)
    is read whole: the file is read again with larger blocks from where the reader stopped."""
    from pinlake.library.build import lock_diff

    big = "x" * (5 * lockmod.LINES_BLOCK // 2)
    rows = [(f"a/{i:03d}", 1, "ab") for i in range(300)]
    a = _lock_of(tmp_path / "a", {"train": rows})
    b = _lock_of(tmp_path / "b", {"train": rows})
    lines = (b.path / resource_file("train")).read_text().splitlines()
    rec = json.loads(lines[150])
    rec["metadata"] = {"k": big}
    lines[150] = dump_line(rec)
    (b.path / resource_file("train")).write_text("".join(line + "\n" for line in lines))
    got = [line for batch in lockmod.line_batches(b) for line in batch.column("line").to_pylist()]
    assert got == lines
    assert lockmod.line_column(b, "object_name").to_pylist() == [n for n, _, _ in rows]
    d = lock_diff(a, b)
    assert d.updated == ["a/150"] and d.lines["a/150"] == ("train", 151, lines[150])


def test_listing_reads_left_out_columns_at_its_own_version(library, demo_images):
    """The metadata a listing leaves out is read by row id from the version it listed, also after
    the lake moved on (a newer version of the same object, the old row updated in place)."""
    lake = library.get_datalake()
    listed = lake.list_data()
    assert "metadata" not in listed[0]._rows.table.column_names
    want = {d.object_name: json.loads(r["metadata"] or "{}") for d, r in zip(listed, lake.select_rows().to_pylist())}
    first = listed[0].object_name
    src = next(demo_images.glob("test/*.jpg"))
    lake.upload_data(src, object_names=[first], metadata={"changed": True})
    assert lake.find_data(object_name=first).metadata == {"changed": True}
    assert {d.object_name: d.metadata for d in listed} == want
    picked = [3, 0, 3]
    got = listed[0]._rows.rows_at(picked, ["metadata", "id"])
    assert [json.loads(r["metadata"] or "{}") for r in got] == [want[listed[i].object_name] for i in picked]
    assert [r["id"] for r in got] == [listed[i].id for i in picked]
    table = listed[0]._rows.table_at(picked, ["metadata", "id"])  # the same rows as one Arrow table
    assert table.column_names == ["metadata", "id"] and table.to_pylist() == got


def test_object_names_sorted_as_python_sorts(tmp_path):
    names = ["b/é", "b/z", "a/\U0001f600", "a/\uffff", "B", "a/1", "a/10", "a/2"]
    lock = _lock_of(tmp_path / "l", {"test": [(n, 1, "ab") for n in names[:5]], "train": [(n, 2, "cd") for n in names[3:]]})
    assert lock.object_names() == sorted(set(names))


def test_line_column_keeps_the_lock_order_across_many_batches(tmp_path, monkeypatch):
    """``line_column`` hands its field over in the lock's order (splits in the lock's order, then
    lines), however many reader blocks and result batches it takes: ``check_in_lake`` names the
    missing resources by their position in it."""
    monkeypatch.setattr(lockmod, "LINES_BLOCK", 4096)
    monkeypatch.setattr(lockmod, "LINE_COLUMN_BATCH", 7)
    splits = {"val": [(f"z/{i:05d}", 1, "ab") for i in range(6000)], "train": [(f"a/{i:05d}", 2, "cd") for i in range(9000)]}
    lock = _lock_of(tmp_path / "l", splits)
    lines = [json.loads(line) for _, _, line in lock.lines()]
    assert [r["object_name"] for r in lines][:2] == ["z/00000", "z/00001"]  # not the sorted order
    assert lockmod.line_column(lock, "object_name").to_pylist() == [r["object_name"] for r in lines]
    assert lockmod.line_column(lock, "id").to_pylist() == [r["id"] for r in lines]
