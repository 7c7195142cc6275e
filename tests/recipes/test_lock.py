from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pinlake
from pinlake.recipes.errors import LockfileError, RecipeError
from pinlake.recipes.lockfile import LOCK_KEYS, lock_recipe, read_lock

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_basel_recipe_locks_subtree(library, tmp_path):
    lake = library.get_datalake()
    res = lock_recipe(RECIPES / "basel_trial.py", lake, locks_dir=library.locks_path)
    assert res.path == library.locks_path / res.hash
    m = json.loads((res.path / "lock.json").read_text())
    assert m["recipe"] == "all_basel_data" and m["lake_version"] == lake.version and m["hash"] == res.hash
    lines = [json.loads(x) for f in ("train", "test") for x in (res.path / f"resources.{f}.jsonl").read_text().splitlines()]
    assert lines and all(r["object_name"].startswith("trial/basel/") for r in lines)
    assert all(sorted(r) == sorted(LOCK_KEYS) for r in lines)
    assert sum(m["splits"].values()) == len(lines)


def test_same_lake_same_bytes_and_hash(library, tmp_path):
    lake = library.get_datalake()
    a = lock_recipe(RECIPES / "health_by_tag.py", lake, out=tmp_path / "a")
    b = lock_recipe(RECIPES / "health_by_tag.py", lake, out=tmp_path / "b")
    assert a.hash == b.hash
    for f in ("resources.train.jsonl", "resources.test.jsonl"):
        assert (a.path / f).read_bytes() == (b.path / f).read_bytes()


def test_client_is_read_only_and_pinned(library, demo_images):
    from pinlake.errors import ValidationError
    from pinlake.recipes.client import ReadOnlyLakeClient

    lake = library.get_datalake()
    client = ReadOnlyLakeClient(lake)
    assert not hasattr(client, "upload_data") and client.version == lake.version
    n = len(client.list_data())
    with pytest.raises(ValidationError, match="read-only"):
        client._lake.upload_data(next(demo_images.glob("train/*.jpg")), object_names=["new/x.jpg"])
    lake.upload_data(next(demo_images.glob("train/*.jpg")), object_names=["new/x.jpg"])
    assert len(client.list_data()) == n and len(ReadOnlyLakeClient(lake).list_data()) == n + 1
    basel = client.get_resource("trial/basel")
    assert basel and all(d.object_name.startswith("trial/basel/") for d in basel)
    assert [d.object_name for d in client.get_resource("trial/basel/patient-001")] == [
        d.object_name for d in basel if "patient-001" in d.object_name
    ]


@pytest.mark.parametrize(
    "body, match",
    [
        ("def r(client):\n    return {}\n", "no function decorated"),
        ("@pinlake.recipe()\ndef r(client):\n    return [1]\n", "not a dict"),
        ("@pinlake.recipe()\ndef r(client):\n    return {'train': []}\n", "split 'train' is empty"),
        ("@pinlake.recipe()\ndef r(client):\n    return {'train': [42]}\n", r"split 'train'\[0\] is int"),
        ("@pinlake.recipe()\ndef r(client):\n    x = 1 / 0\n", "ZeroDivisionError"),
        ("raise ImportError('boom')\n", "failed to import"),
        (
            "@pinlake.recipe()\ndef r(client):\n    d = client.get_resource('health/train')[0]\n    return {'train': [d, d]}\n",
            "appears twice in split 'train'",
        ),
        (
            "@pinlake.recipe()\ndef r(client):\n    d = client.get_resource('health/train')[0]\n    return {'train': [d], 'test': [d]}\n",
            "in split 'test' and in split 'train'|in split 'train' and in split 'test'",
        ),
        ("@pinlake.recipe()\ndef r(client):\n    return {'train': [{'object_name': 'no/such'}]}\n", "no such|no data"),
    ],
)
def test_bad_recipes(library, write_recipe, tmp_path, body, match):
    with pytest.raises(RecipeError, match=match) as exc:
        lock_recipe(write_recipe(body), library.get_datalake(), out=tmp_path / "o")
    if "1 / 0" in body:
        assert "x = 1 / 0" in exc.value.message and "r.py" in exc.value.message


def test_missing_file(library, tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        lock_recipe(tmp_path / "nope.py", library.get_datalake(), out=tmp_path / "o")


def test_overlap_allowed_and_empty_allowed(library, write_recipe, tmp_path):
    p = write_recipe(
        "@pinlake.recipe(disjoint=False, allow_empty=True)\ndef r(client):\n"
        "    d = client.find_data(object_name='health/train/mri-train-000.jpg')\n"
        "    return {'train': [d], 'test': [{'id': d.id}], 'val': []}\n"
    )
    res = lock_recipe(p, library.get_datalake(), out=tmp_path / "o")
    assert res.counts == {"test": 1, "train": 1, "val": 0}


def test_hand_edit_is_refused_with_line(library, tmp_path):
    lake = library.get_datalake()
    res = lock_recipe(RECIPES / "health_by_tag.py", lake, out=tmp_path / "o")
    f = res.path / "resources.train.jsonl"
    lines = f.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"version":1', '"version":2')
    f.write_text("".join(lines))
    with pytest.raises(LockfileError, match=r"resources.train.jsonl:2"):
        read_lock(res.path, lake)


def _make_lake(root: Path, files: list[tuple[str, bytes, list[str]]]):
    lake = pinlake.Lake(root)
    for i, (name, content, tags) in enumerate(files):
        p = root.parent / f"src-{i}.bin"
        p.write_bytes(content)
        lake.upload_data(p, tags=tags or None, object_names=[name], metadata={"i": i})
    return lake


RECIPE = """
@pinlake.recipe(allow_empty=True)
def r(client):
    out = {'a': [], 'b': []}
    for d in reversed(list(client.list_data())):
        if d.size % MOD == 0:
            continue
        out['a' if ('x' in d.tags) ^ (d.version > 1) else 'b'].append(d)
    return out
"""


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(
        st.tuples(
            st.sampled_from(["p/a", "p/b", "q/c", "q/d/e", "r"]),
            st.binary(min_size=1, max_size=8).map(lambda b: b"d" + b),
            st.sampled_from([[], ["x"], ["x", "y"]]),
        ),
        min_size=1,
        max_size=6,
    ),
    mod=st.integers(min_value=2, max_value=5),
)
def test_lock_is_deterministic(tmp_path_factory, files, mod):
    base = tmp_path_factory.mktemp("h")
    lake = _make_lake(base / "lake", files)
    (base / "r.py").write_text(f"import pinlake\nMOD = {mod}\n" + RECIPE)
    a = lock_recipe(base / "r.py", lake, out=base / "a")
    copy = base / "r2.py"
    shutil.copy(base / "r.py", copy)
    b = lock_recipe(copy, pinlake.Lake(base / "lake"), out=base / "b")  # a fresh handle, same lake version
    assert a.hash == b.hash
    for split in ("a", "b"):
        ba, bb = (a.path / f"resources.{split}.jsonl").read_bytes(), (b.path / f"resources.{split}.jsonl").read_bytes()
        assert ba == bb
        keys = [(r["object_name"], r["version"]) for r in map(json.loads, ba.decode().splitlines())]
        assert keys == sorted(keys) and len({k[0] for k in keys}) == len(keys)
    read_lock(a.path, lake)  # verifies
