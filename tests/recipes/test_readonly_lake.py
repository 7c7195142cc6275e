"""The lake a recipe gets while it is being locked is read-only: every write raises an error naming
the recipe, and the lake is unchanged."""

from __future__ import annotations

import pytest

from pinlake.lake import Lake
from pinlake.recipes.errors import RecipeError
from pinlake.recipes.lockfile import lock_recipe

WRITES = {
    "create_tag": "client._lake.create_data_tag('evil')",
    "get_or_create_tag": "client._lake.get_or_create_data_tag('evil')",
    "create_source": "client._lake.create_datasource('evil')",
    "add_tags": "client.list_data()[0].add_tags('evil')",
    "remove_tags": "client.list_data().remove_tags('mri')",
    "upload": "client._lake.upload_data(__file__)",
    "processing": "client._lake.launch_processing('auto-tag', client.list_data(), {'tag': 'evil', 'where': '1=1'})",
    "store_lock": "exec('with client._lake._store.write_lock(): pass')",
    "store_tags": "__import__('pinlake.lake.tags', fromlist=['x']).create(client._lake._store, 'tags', 'evil')",
}


def _state(lake: Lake) -> tuple:
    store = lake._store
    versions = tuple((t, store.open(t).version) for t in ("data", "objects", "tags", "sources") if store.exists(t))
    return versions, sorted(t.name for t in lake.list_data_tags()), sorted(s.name for s in lake.list_datasources())


@pytest.mark.parametrize("what", sorted(WRITES))
def test_recipe_cannot_write_to_the_lake(library, write_recipe, tmp_path, what):
    lake = library.get_datalake()
    before = _state(lake)
    recipe = write_recipe(f"@pinlake.recipe()\ndef sneaky(client):\n    {WRITES[what]}\n    return {{'all': list(client.list_data())}}\n")
    with pytest.raises(RecipeError) as exc:
        lock_recipe(recipe, lake, out=tmp_path / "lock")
    msg = str(exc.value)
    assert "read-only for recipe 'sneaky'" in msg, msg
    assert msg.count("read-only") >= 1 and str(recipe) in msg
    assert _state(Lake(lake.root)) == before
    assert not (tmp_path / "lock" / "lock.json").exists()


def test_recipe_cannot_write_to_an_empty_lake(tmp_path, write_recipe):
    lake = Lake(tmp_path / "lake")
    recipe = write_recipe(
        "@pinlake.recipe(allow_empty=True)\ndef sneaky(client):\n    client._lake.create_data_tag('evil')\n    return {}\n"
    )
    with pytest.raises(RecipeError, match="read-only for recipe 'sneaky'"):
        lock_recipe(recipe, lake, out=tmp_path / "lock")
    assert not (tmp_path / "lake" / "tags.lance").exists()
    assert lake.list_data_tags() == []


def test_reading_recipe_still_locks(library, write_recipe, tmp_path):
    lake = library.get_datalake()
    recipe = write_recipe(
        "@pinlake.recipe()\ndef reader(client):\n    client.list_data_tags(); client.count()\n"
        "    return {'all': list(client.list_data())}\n"
    )
    res = lock_recipe(recipe, lake, out=tmp_path / "lock")
    assert res.counts["all"] == len(lake.list_data())
    lake.create_data_tag("after")  # the caller's own lake stays writable
    assert "after" in [t.name for t in lake.list_data_tags()]
