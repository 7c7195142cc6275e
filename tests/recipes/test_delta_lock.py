"""The lock of a row-wise recipe made from its previous lock and the lake's changes equals the whole
lock (same files, same hash), and steps aside whenever it cannot be sure of that."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pinlake
from pinlake.lake.lake import Lake
from pinlake.library.build import lock_diff, recorded_diff
from pinlake.library.maintain import maintain_lake
from pinlake.recipes import delta
from pinlake.recipes.errors import RecipeError
from pinlake.recipes.lockfile import hash_lock_files, lock_recipe, read_lock

#: train / test by name, those tagged "bad" left out: each resource's splits follow from its own row
TABLE_RECIPE = """
import pinlake
import pyarrow.compute as pc

@pinlake.recipe(rowwise=True)
def r(client):
    t = client.select("NOT array_has_any(tags, ['bad'])", columns=["id", "object_name", "tags"], order_by=[])
    test = pc.match_substring_regex(t["object_name"], r"[05]\\.bin$")
    return {"train": t.filter(pc.invert(test)).select(["id"]), "test": t.filter(test).select(["id"])}
"""

LIST_RECIPE = """
import pinlake

@pinlake.recipe(rowwise=True, allow_empty=True)
def r(client):
    out = {"mri": [], "other": []}
    for d in client.list_data():
        if "bad" in d.tags:
            continue
        out["mri" if "mri" in d.tags else "other"].append(d)
    return out
"""


def write(tmp_path: Path, body: str, name: str = "r.py") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


def files_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(path).glob("resources.*.jsonl"))}


def put(lake: Lake, folder: Path, names: list[str], rng: random.Random, tags: list[str] | None = None) -> None:
    """Upload new bytes under ``names`` (a new resource, or a new version of one)."""
    paths = []
    for _ in names:
        p = folder / f"{rng.getrandbits(64):016x}.bin"
        p.write_bytes(rng.randbytes(16))
        paths.append(p)
    lake.upload_data(paths, object_names=names, tags=tags, use_state=False)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lk = pinlake.connect(tmp_path / "library").get_datalake()
    (tmp_path / "src").mkdir()
    put(lk, tmp_path / "src", [f"f/{i:03d}.bin" for i in range(40)], random.Random(0))
    return lk


@pytest.mark.parametrize("body", [TABLE_RECIPE, LIST_RECIPE], ids=["select", "list_data"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_delta_lock_is_the_whole_lock(lake, tmp_path, body, seed):
    rng = random.Random(seed)
    recipe = write(tmp_path, body)
    prev = read_lock(lock_recipe(recipe, lake, out=tmp_path / "locks" / "0").path)
    made = across = 0
    for round_ in range(1, 7):
        names = [f"f/{i:03d}.bin" for i in range(40 + 5 * round_)]
        op = rng.choice(["new", "version", "tag", "untag", "mixed", "nothing"])
        if op in ("new", "mixed"):
            put(lake, tmp_path / "src", [f"g/{round_}-{k}.bin" for k in range(rng.randint(1, 4))], rng, tags=rng.choice([None, ["mri"]]))
        if op in ("version", "mixed"):
            put(lake, tmp_path / "src", rng.sample(names[:40], rng.randint(1, 5)), rng)
        if op in ("tag", "mixed"):
            lake.list_data(object_names=rng.sample(names[:40], 3)).add_tags(rng.choice(["bad", "mri"]))
        if op == "untag":
            lake.list_data(object_names=names[:40]).remove_tags(["bad", "mri"])
        compacted = round_ % 2 == 0  # a maintain before every other lock
        if compacted:  # the lake's part of `pinlake maintain`: compacted, noted, indexed
            maintain_lake(tmp_path / "library", fragments=1)
        inc = lock_recipe(recipe, lake, out=tmp_path / "locks" / f"{round_}", previous=prev)
        whole = lock_recipe(recipe, lake, out=tmp_path / "whole" / f"{round_}")
        assert files_of(inc.path) == files_of(whole.path), op
        assert inc.hash == whole.hash and inc.counts == whole.counts
        assert "parent" not in whole.manifest
        # the per-file hashes, taken from the bytes as they were written, are those of the files
        assert inc.manifest["files"] == whole.manifest["files"] == hash_lock_files(inc.path, inc.manifest["files"])[0]
        new = read_lock(inc.path)
        if inc.hash != prev.hash:
            assert inc.manifest["parent"]["hash"] == prev.hash and inc.manifest["parent"]["touched"] >= 1
            # the changes recorded beside it are the diff of the two locks
            recorded = recorded_diff(prev, new)
            assert recorded is not None and recorded == lock_diff(prev, new)
            made += 1
            across += compacted
        prev = new
    assert made >= 3 and across >= 1  # some made from the previous lock across a compaction


def test_the_recipe_sees_only_the_changed_resources(lake, tmp_path):
    seen = tmp_path / "seen.jsonl"
    recipe = write(
        tmp_path,
        TABLE_RECIPE.replace(
            "    test = ",
            f"    open({str(seen)!r}, 'a').write(__import__('json').dumps(t['object_name'].to_pylist()) + '\\n')\n    test = ",
        ),
    )
    prev = read_lock(lock_recipe(recipe, lake, out=tmp_path / "a").path)
    put(lake, tmp_path / "src", ["f/003.bin", "h/new.bin"], random.Random(5))
    inc = lock_recipe(recipe, lake, out=tmp_path / "b", previous=prev)
    runs = [json.loads(line) for line in seen.read_text().splitlines()]
    assert len(runs[0]) == 40 and sorted(runs[1]) == ["f/003.bin", "h/new.bin"]
    assert inc.manifest["parent"] == {"hash": prev.hash, "touched": 2}
    assert inc.counts == {"train": 33, "test": 8}


def test_a_compaction_in_between_is_read_around_unless_its_record_does_not_read(lake, tmp_path):
    recipe = write(tmp_path, TABLE_RECIPE)
    prev = read_lock(lock_recipe(recipe, lake, out=tmp_path / "a").path)
    put(lake, tmp_path / "src", ["f/001.bin"], random.Random(7))
    lake.store.open("data").optimize.compact_files(target_rows_per_fragment=1 << 20)  # every row gets a new address
    put(lake, tmp_path / "src", ["f/002.bin", "h/new.bin"], random.Random(11))
    assert delta.touched_names(lake, prev.lake_version) == ["f/001.bin", "f/002.bin", "h/new.bin"]
    inc = lock_recipe(recipe, lake, out=tmp_path / "b", previous=prev)
    assert inc.manifest["parent"]["touched"] == 3 and files_of(inc.path) == files_of(lock_recipe(recipe, lake, out=tmp_path / "w").path)
    # an indexed table with a replaced row compacted with its index remapped: pylance 14 cannot read that record
    base = read_lock(inc.path)
    lake.store.open("data").create_scalar_index("object_name", "BTREE")
    put(lake, tmp_path / "src", [f"f/{i:03d}.bin" for i in range(10, 16)], random.Random(12))
    lake.store.open("data").optimize.compact_files(target_rows_per_fragment=1 << 20)
    assert delta.touched_names(lake, base.lake_version) is None
    inc = lock_recipe(recipe, lake, out=tmp_path / "b1", previous=base)
    assert "parent" not in inc.manifest and inc.hash == lock_recipe(recipe, lake, out=tmp_path / "c").hash
    # the same, the compaction noted as `pinlake maintain` notes its own: read around
    with lake.store.write_lock():
        lake.store.record_compactions({"data": lake.version})
    assert delta.touched_names(lake, base.lake_version) == [f"f/{i:03d}.bin" for i in range(10, 16)]
    again = lock_recipe(recipe, lake, out=tmp_path / "b2", previous=base)
    assert again.manifest["parent"]["touched"] == 6 and again.hash == inc.hash
    # the previous lock's lake version cleaned up: locked whole
    base = read_lock(inc.path)
    put(lake, tmp_path / "src", ["f/003.bin"], random.Random(10))
    lake.store.open("data").cleanup_old_versions(older_than=timedelta(0), delete_unverified=True)
    assert delta.touched_names(lake, base.lake_version) is None
    assert "parent" not in lock_recipe(recipe, lake, out=tmp_path / "b2", previous=base).manifest
    # the recipe file changed: its previous lock is not a base
    other = write(tmp_path, TABLE_RECIPE.replace("[05]", "[16]"), "other.py")
    put(lake, tmp_path / "src", ["f/002.bin"], random.Random(8))
    assert "parent" not in lock_recipe(other, lake, out=tmp_path / "d", previous=read_lock(inc.path)).manifest
    # not rowwise: locked whole
    plain = write(tmp_path, TABLE_RECIPE.replace("rowwise=True", ""), "plain.py")
    base = read_lock(lock_recipe(plain, lake, out=tmp_path / "e").path)
    put(lake, tmp_path / "src", ["f/004.bin"], random.Random(9))
    assert "parent" not in lock_recipe(plain, lake, out=tmp_path / "f", previous=base).manifest


def test_a_lake_made_again_at_the_same_root_is_another_lake(lake, tmp_path):
    """Its version numbers start again: the previous lock of the wiped lake is no base, even once
    the new lake passes the lock's lake version."""
    recipe = write(tmp_path, TABLE_RECIPE)
    prev = read_lock(lock_recipe(recipe, lake, out=tmp_path / "a").path)
    first = lake.store.identity()
    assert first and prev.manifest["lake_id"] == first
    assert pinlake.connect(tmp_path / "library").get_datalake().store.identity() == first  # kept on reopen
    shutil.rmtree(lake.root)
    again = lake  # the same object, as a long-running process holds it: it reads the new lake's identity
    rng = random.Random(3)
    while again.version <= prev.lake_version:
        put(again, tmp_path / "src", [f"h/{again.version}-{k}.bin" for k in range(5)], rng)
    assert again.store.identity() not in (None, first)
    inc = lock_recipe(recipe, again, out=tmp_path / "b", previous=prev)
    whole = lock_recipe(recipe, again, out=tmp_path / "c")
    assert "parent" not in inc.manifest and files_of(inc.path) == files_of(whole.path)
    assert not delta.made_from(prev.manifest, prev.manifest["lake"], again.store.identity())


def test_a_recipe_returning_what_it_was_not_shown_is_locked_whole(lake, tmp_path):
    """A recipe that calls itself row-wise but adds a fixed resource: the delta would keep that line
    twice, so the lock is made whole."""
    body = TABLE_RECIPE.replace(
        'return {"train"',
        'import pyarrow as pa\n    fixed = pa.table({"object_name": ["f/001.bin"]})\n    return {"pinned": fixed, "train"',
    ).replace('client.select("NOT', "client.select(\"object_name <> 'f/001.bin' AND NOT")
    recipe = write(tmp_path, body)
    prev = read_lock(lock_recipe(recipe, lake, out=tmp_path / "a").path)
    put(lake, tmp_path / "src", ["f/009.bin"], random.Random(3))
    inc = lock_recipe(recipe, lake, out=tmp_path / "b", previous=prev)
    assert "parent" not in inc.manifest
    assert inc.hash == lock_recipe(recipe, lake, out=tmp_path / "c").hash


@pytest.mark.parametrize(
    ("call", "named"),
    [
        ("client.select(limit=5)", "select(limit=...)"),
        ("client.list_data(offset=2)", "list_data(offset=...)"),
        ("client.select(all_versions=True)", "select(all_versions=...)"),
        ("client.count()", "count()"),
        ("client.find_data(object_name='f/001.bin')", "find_data()"),
        ("client.get_resource('f')", "get_resource()"),
    ],
)
def test_a_rowwise_recipe_reading_other_rows_is_refused_naming_the_call(lake, tmp_path, call, named):
    recipe = write(tmp_path, f"import pinlake\n\n@pinlake.recipe(rowwise=True)\ndef r(client):\n    {call}\n    return {{}}\n")
    with pytest.raises(RecipeError) as exc:
        lock_recipe(recipe, lake, out=tmp_path / "a")
    assert named in exc.value.message and "rowwise=True" in exc.value.message
    assert "rowwise=True" in (exc.value.hint or "")


def test_a_split_emptied_by_the_change_is_refused_as_the_whole_lock_refuses_it(lake, tmp_path):
    recipe = write(tmp_path, TABLE_RECIPE)
    prev = read_lock(lock_recipe(recipe, lake, out=tmp_path / "a").path)
    test_names = [f"f/{i:03d}.bin" for i in range(40) if i % 5 == 0]
    lake.list_data(object_names=test_names).add_tags("bad")
    with pytest.raises(RecipeError, match="split 'test' is empty"):
        lock_recipe(recipe, lake, out=tmp_path / "whole")
    with pytest.raises(RecipeError, match="split 'test' is empty"):
        lock_recipe(recipe, lake, out=tmp_path / "b", previous=prev)
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").glob("resources.*"))


def test_the_record_is_used_only_between_the_locks_it_names(lake, tmp_path):
    recipe = write(tmp_path, TABLE_RECIPE)
    a = read_lock(lock_recipe(recipe, lake, out=tmp_path / "a").path)
    put(lake, tmp_path / "src", ["f/011.bin"], random.Random(11))
    b = read_lock(lock_recipe(recipe, lake, out=tmp_path / "b", previous=a).path)
    put(lake, tmp_path / "src", ["f/012.bin", "f/015.bin"], random.Random(12))
    c = read_lock(lock_recipe(recipe, lake, out=tmp_path / "c", previous=b).path)
    assert recorded_diff(b, c) == lock_diff(b, c) and recorded_diff(b, c).updated == ["f/012.bin", "f/015.bin"]
    assert recorded_diff(a, c) is None  # c was made from b
    assert recorded_diff(a, b) is not None
    # a record whose hashes are not these locks' (copied from another lock) is not used
    (tmp_path / "c" / "changes.parquet").write_bytes((tmp_path / "b" / "changes.parquet").read_bytes())
    assert recorded_diff(b, c) is None


def test_cli_lock_since_an_earlier_lock(lake, tmp_path):
    from typer.testing import CliRunner

    from pinlake.cli import app, register_commands

    register_commands()
    recipe = write(tmp_path, TABLE_RECIPE)
    lib = str(tmp_path / "library")
    runner = CliRunner()
    first = runner.invoke(app, ["datasets", "lock", "--file", str(recipe), "--out", str(tmp_path / "v1"), "--library", lib, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["parent"] is None
    put(lake, tmp_path / "src", ["f/020.bin", "new/1.bin"], random.Random(20))
    args = ["datasets", "lock", "--file", str(recipe), "--out", str(tmp_path / "v2"), "--since", str(tmp_path / "v1"), "--library", lib]
    second = runner.invoke(app, [*args, "--json"])
    assert second.exit_code == 0, second.output
    out = json.loads(second.output)
    assert out["parent"] == {"hash": json.loads(first.output)["hash"], "touched": 2}
    assert out["hash"] == lock_recipe(recipe, lake, out=tmp_path / "whole").hash
    text = runner.invoke(app, [*args[:5], str(tmp_path / "v3"), *args[6:]])
    assert text.exit_code == 0 and "2 changed resource(s) locked again" in text.output
    missing = runner.invoke(app, [*args[:7], str(tmp_path / "nowhere"), *args[8:]])
    assert missing.exit_code != 0 and "nowhere" in missing.output and "Traceback" not in missing.output


_text = st.text(max_size=12)
_plain = st.from_regex(r"[A-Za-z0-9_./-]{1,20}", fullmatch=True)
_meta = st.recursive(
    st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), _text),
    lambda inner: st.dictionaries(st.one_of(_text, st.just("object_name")), inner, max_size=3),
    max_leaves=6,
)


@given(
    st.lists(
        st.tuples(
            st.one_of(_plain, _text.filter(bool)),
            st.dictionaries(st.one_of(_text, st.sampled_from(["object_name", "sha256"])), _meta, max_size=3),
            st.lists(st.one_of(_text, st.just('"object_name":"x"')), max_size=3),
            st.one_of(st.none(), _text, st.just('","object_name":"y')),
        ),
        min_size=1,
        max_size=20,
    )
)
@settings(max_examples=200, deadline=None)
def test_names_read_from_lines_by_arrow_are_the_json_names_or_none(rows):
    """line_object_names reads the top-level object_name of canonical lines whatever the metadata,
    tags or uri hold (keys named object_name among them), or says it cannot (None); names without
    escapes are always read."""
    from pinlake.recipes.lines import dump_line, record_of
    from pinlake.recipes.lockfile import line_object_names

    lines, names = [], []
    for name, meta, tags, uri in rows:
        row = {"id": "i", "object_name": name, "version": 1, "sha256": "0" * 64, "size": 1, "metadata": meta, "tags": tags, "uri": uri}
        lines.append(dump_line(record_of(row)))
        names.append(name)
    got = line_object_names(pa.array(lines, pa.string()))
    if got is None:
        assert any(json.dumps(n, ensure_ascii=False)[1:-1] != n for n in names)  # some name has an escape
    else:
        assert got.to_pylist() == names


def test_a_lake_without_an_identity_gets_one_at_its_lock(lake, tmp_path):
    """A lake last written before identities were recorded: its first lock records one (and names
    it), so the lock after the next change is made from it."""
    (Path(lake.root) / "lake.json").unlink()
    fresh = pinlake.connect(tmp_path / "library").get_datalake()
    assert fresh.store.identity() is None
    recipe = write(tmp_path, TABLE_RECIPE)
    prev = read_lock(lock_recipe(recipe, fresh, out=tmp_path / "a").path)
    assert prev.manifest["lake_id"] == fresh.store.identity() is not None
    put(fresh, tmp_path / "src", ["f/002.bin"], random.Random(4))
    assert lock_recipe(recipe, fresh, out=tmp_path / "b", previous=prev).manifest["parent"]["hash"] == prev.hash
    # a pinned lake is read-only: it names no identity it does not have
    (Path(lake.root) / "lake.json").unlink()
    assert pinlake.connect(tmp_path / "library").get_datalake().checkout(1).store.record_identity() is None


def test_a_lock_of_an_absent_or_unwritable_lake_records_no_identity_and_creates_nothing(lake, tmp_path):
    recipe = write(tmp_path, LIST_RECIPE)
    absent = tmp_path / "typo" / "_lake"
    made = lock_recipe(recipe, Lake(absent), out=tmp_path / "a")
    assert made.manifest["lake_id"] is None and not absent.exists()  # a mistyped path stays a mistake, not a lake

    (Path(lake.root) / "lake.json").unlink()  # a lake last written before identities, on a read-only mount
    (Path(lake.root) / ".lock").unlink(missing_ok=True)
    if subprocess.run(["chattr", "+i", str(lake.root)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i (the read-only mount's stand-in) is not available here")
    try:
        made = lock_recipe(recipe, Lake(lake.root), out=tmp_path / "b")
    finally:
        subprocess.run(["chattr", "-i", str(lake.root)], check=True)
    assert made.manifest["lake_id"] is None and made.counts  # locked; only no base for a later delta
