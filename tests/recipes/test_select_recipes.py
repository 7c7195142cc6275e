"""Recipes that select with ``client.select`` and return tables: the lock is the one their list twin writes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from pinlake.errors import InvalidQueryError
from pinlake.recipes import lockfile as lockmod
from pinlake.recipes.client import ReadOnlyLakeClient
from pinlake.recipes.errors import RecipeError
from pinlake.recipes.lockfile import lock_recipe, read_lock

RECIPES = Path(__file__).resolve().parents[2] / "recipes"

LIST_RECIPE = """
@pinlake.recipe()
def r(client):
    out = {"train": [], "test": []}
    for d in client.list_data(tags=["mri", "xray"]):
        out["test" if d.object_name.endswith("0.jpg") else "train"].append(d)
    return out
"""

TABLE_RECIPE = """
import pyarrow.compute as pc

@pinlake.recipe()
def r(client):
    t = client.select(tags=["mri", "xray"], columns=["id", "object_name"], order_by=[])
    test = pc.match_substring_regex(t["object_name"], r"0\\.jpg$")
    return {"train": t.filter(pc.invert(test)), "test": t.filter(test)}
"""


def lock_files(res) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(res.path).glob("resources.*.jsonl"))}


def add_second_versions(library, demo_images: Path) -> list[str]:
    """Upload new bytes under two existing object names: their first versions stop being the latest."""
    lake = library.get_datalake()
    names = [d.object_name for d in lake.list_data(tags=["mri"], limit=2)]
    src = sorted(demo_images.glob("test/*.jpg"))[:2]
    lake.upload_data(src, object_names=names, tags=["mri"])
    return names


def test_table_recipe_locks_what_its_list_twin_locks(library, write_recipe, tmp_path, demo_images, monkeypatch):
    add_second_versions(library, demo_images)
    lake = library.get_datalake()
    monkeypatch.setattr(lockmod, "TAKE_CHUNK", 3)  # several takes per split
    want = lock_recipe(write_recipe(LIST_RECIPE, "list.py"), lake, out=tmp_path / "list")
    got = lock_recipe(write_recipe(TABLE_RECIPE, "table.py"), lake, out=tmp_path / "table")
    assert got.hash == want.hash and lock_files(got) == lock_files(want)
    assert got.counts == want.counts and min(got.counts.values()) > 0
    read_lock(got.path, lake)  # every line checks against the lake


@pytest.mark.parametrize(
    "keys",
    [
        "client.select(columns=['object_name'], order_by=[])",  # by name: latest versions
        "client.select(columns=['object_name', 'version'], all_versions=True, where='version = 1')",  # older versions
        "client.select(columns=['id'], all_versions=True, where='version = 1')",
        'duckdb.sql("SELECT id FROM t WHERE version = 1")',  # a DuckDB relation
        "client.select(columns=['id'], all_versions=True, where='version = 1').to_reader()",
    ],
)
def test_keys_name_the_rows_dicts_name(library, write_recipe, tmp_path, demo_images, keys):
    """A table keyed by object_name (latest), object_name + version, or id locks the rows the same
    keys given as dicts lock, whatever the table's columnar type."""
    add_second_versions(library, demo_images)
    lake = library.get_datalake()
    table_body = f"""
import duckdb

@pinlake.recipe()
def r(client):
    t = client.select(columns=['id', 'version'], all_versions=True)
    return {{"train": {keys}}}
"""
    got = lock_recipe(write_recipe(table_body, "table.py"), lake, out=tmp_path / "table")
    rows = ReadOnlyLakeClient(lake).select(all_versions=True).to_pylist()
    latest_only = "object_name']," in keys and "version" not in keys
    picked = [r for r in rows if r["is_latest"]] if latest_only else [r for r in rows if r["version"] == 1]
    dicts = [{"id": r["id"]} for r in picked]
    want = lock_recipe(
        write_recipe(f"@pinlake.recipe()\ndef r(client):\n    return {{'train': {dicts!r}}}\n", "dicts.py"), lake, out=tmp_path / "d"
    )
    assert got.hash == want.hash and got.counts == {"train": len(picked)}
    if not latest_only:
        assert any(not r["is_latest"] for r in picked)  # the older versions are locked, not the latest


def test_table_columns_other_than_the_key_are_not_trusted(library, write_recipe, tmp_path):
    """A recipe's table cannot forge what the lock records: only its key is read, the rest comes from the lake."""
    body = """
import pyarrow as pa

@pinlake.recipe()
def r(client):
    t = client.select(columns=['id', 'object_name'])
    forged = pa.array(['0' * 64] * t.num_rows)
    return {"train": t.append_column('sha256', forged).append_column('size', pa.array([1] * t.num_rows))}
"""
    res = lock_recipe(write_recipe(body), library.get_datalake(), out=tmp_path / "o")
    lines = [json.loads(x) for x in (res.path / "resources.train.jsonl").read_text().splitlines()]
    real = {r["id"]: r for r in library.get_datalake().select().to_pylist()}
    assert lines and all(rec["sha256"] == real[rec["id"]]["sha256"] != "0" * 64 for rec in lines)
    assert all(rec["size"] == real[rec["id"]]["size"] for rec in lines)


@pytest.mark.parametrize(
    "body, match",
    [
        (
            "return {'train': client.select(columns=['sha256'])}",
            r"split 'train' is a table without an 'id' or 'object_name' column \(columns: sha256\)",
        ),
        ("return {'train': client.select(columns=['id'], limit=0)}", "split 'train' is empty"),
        ("return {'train': pa.table({'id': ['nope', None]})}", r"split 'train'\[1\] has no id"),
        ("return {'train': pa.table({'id': [1, 2]})}", "column 'id' is int64, not string"),
        (
            "t = client.select(columns=['id'])\n    return {'train': pa.concat_tables([t, pa.table({'id': ['nope', 'nada']}).cast(t.schema)])}",
            r"\[\d+\]: no data with id='nope' in the lake at version \d+ \(2 rows name nothing\)",
        ),
        ("return {'train': pa.table({'object_name': ['no/such.jpg']})}", r"split 'train'\[0\]: no data with object_name='no/such.jpg'"),
        (
            "t = client.select(columns=['id', 'object_name'])\n    return {'train': pa.concat_tables([t, t.slice(2, 1)])}",
            "appears twice in split 'train'",
        ),
        (
            "t = client.select(columns=['id'])\n    return {'test': t.slice(0, 3), 'train': t.slice(2)}",
            r"is in split 'test' and in split 'train'",
        ),
        (
            "t = client.select(object_names=['health/train/xray-train-002.jpg'])\n    return {'test': [client.find_data(object_name='health/train/xray-train-002.jpg')], 'train': t}",
            r"'health/train/xray-train-002.jpg' is in split 'test' and in split 'train'",
        ),
        ("return {'train': 'health/train'}", "must be a list of resources or a table, got str"),
        ("return {'train': client.select(columns=['nope'])}", "no data column 'nope'"),
        # a lazy relation that fails when it is read, after the recipe returned
        (
            "return {'train': duckdb.sql(\"SELECT 'x'::INTEGER AS id\")}",
            r"split 'train' could not be read as a table: ConversionException: ",
        ),
        ("return {'train': pa.table({'object_name': ['a'], 'version': pa.array([2**40])})}", "column 'version' does not fit the lake's"),
        # the first offence in the table's order: a repeat before a key that names nothing
        (
            "t = client.select(columns=['id'])\n    return {'train': pa.concat_tables([t, t.slice(0, 1), pa.table({'id': ['nope']}).cast(t.schema)])}",
            "appears twice in split 'train'",
        ),
        (
            "t = client.select(columns=['id'])\n    return {'train': pa.concat_tables([pa.table({'id': ['nope']}).cast(t.schema), t, t.slice(0, 1)])}",
            r"split 'train'\[0\]: no data with id='nope'",
        ),
    ],
)
def test_bad_tables(library, write_recipe, tmp_path, body, match):
    recipe = write_recipe(f"import duckdb\nimport pyarrow as pa\n\n@pinlake.recipe()\ndef r(client):\n    {body}\n")
    with pytest.raises(RecipeError, match=match) as exc:
        lock_recipe(recipe, library.get_datalake(), out=tmp_path / "o")
    assert exc.value.hint and (len(exc.value.message.splitlines()) == 1 or "raised:" in exc.value.message)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())  # nothing written, no staging left


def test_overlap_between_tables_is_allowed_when_not_disjoint(library, write_recipe, tmp_path):
    body = "@pinlake.recipe(disjoint=False)\ndef r(client):\n    t = client.select(columns=['id'])\n    return {'a': t, 'b': t.slice(1), 'c': [client.select(limit=1, columns=['id']).to_pylist()[0]]}\n"
    res = lock_recipe(write_recipe(body), library.get_datalake(), out=tmp_path / "o")
    n = library.get_datalake().count()
    assert res.counts == {"a": n, "b": n - 1, "c": 1}


def test_select_reads_the_pinned_version_and_only_the_columns_asked(library, demo_images):
    lake = library.get_datalake()
    client = ReadOnlyLakeClient(lake)
    before = client.select(columns=["object_name", "width"], where="width > 0")
    assert before.column_names == ["object_name", "width"] and before.num_rows == lake.count("width > 0")
    assert before["object_name"].to_pylist() == sorted(before["object_name"].to_pylist())  # ordered by name by default
    lake.upload_data(next(demo_images.glob("train/*.jpg")), object_names=["new/x.jpg"])
    assert client.select(columns=["id"]).num_rows == before.num_rows  # pinned
    assert lake.select(columns=["id"]).num_rows == before.num_rows + 1
    tagged = client.select(tags=["mri"], columns=["tags"])
    assert tagged.num_rows and all("mri" in t for t in tagged["tags"].to_pylist())
    with pytest.raises(InvalidQueryError, match="invalid query"):
        client.select("no_such_column > 1")


def test_select_on_an_empty_lake_is_an_empty_table(tmp_path):
    import pinlake

    lake = pinlake.connect(tmp_path / "lib").get_datalake()
    t = lake.select(columns=["id", "object_name"])
    assert t.num_rows == 0 and t.schema == pa.schema([pa.field("id", pa.string(), False), pa.field("object_name", pa.string(), False)])
    assert ReadOnlyLakeClient(lake).select().num_rows == 0
