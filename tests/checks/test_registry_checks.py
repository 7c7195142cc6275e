"""The registry's channel and checks keys: validated at load, one-line errors naming the entry and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pinlake.errors import ValidationError
from pinlake.library.registry import Registry, register

BASE = {"name": "health_by_tag", "version": 1, "description": "test", "script_location": "./health_by_tag.py"}


def write(tmp_path, **extra):
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump([{**BASE, **extra}], sort_keys=False))
    return path


def test_channel_and_checks_load(tmp_path):
    checks = {
        "min_items": {"train": 10, "test": 2},
        "no_empty_split": True,
        "no_split_leakage": True,
        "no_duplicate_items": True,
        "boxes_inside_images": True,
        "categories": ["heart", "lung"],
        "max_row_change": 0.5,
        "max_category_drift": 0.2,
        "sql": [{"name": "no_tiny_boxes", "query": "SELECT count(*) FROM bbox WHERE coords[3] * coords[4] < 4", "expect": 0}],
        "warn": ["max_category_drift", "no_tiny_boxes"],
    }
    entry = Registry(write(tmp_path, channel="prod", checks=checks)).get("health_by_tag")
    assert entry.channel == "prod"
    assert entry.checks is not None and entry.checks.enabled() == [*list(checks)[:8], "no_tiny_boxes"]
    assert entry.checks.max_row_change == 0.5 and entry.checks.sql[0].expect == 0
    assert Registry(write(tmp_path, checks={"max_row_change": 1})).get("health_by_tag").checks.max_row_change == 1.0
    plain = Registry(write(tmp_path)).get("health_by_tag")
    assert plain.channel is None and plain.checks is None


BAD = [
    ({"checks": {"min_itmes": 3}}, "checks.min_itmes", "unknown key (known: min_items"),
    ({"checks": {"min_items": -1}}, "checks.min_items", ">= 0"),
    ({"checks": {"min_items": "ten"}}, "checks.min_items", "valid integer"),
    ({"checks": {"min_items": {"train": 2.5}}}, "checks.min_items", "valid integer"),
    ({"checks": {"max_row_change": "half"}}, "checks.max_row_change", "valid number"),
    ({"checks": {"max_row_change": -0.1}}, "checks.max_row_change", "greater than or equal to 0"),
    ({"checks": {"max_category_drift": 1.5}}, "checks.max_category_drift", "less than or equal to 1"),
    ({"checks": {"no_split_leakage": "yes"}}, "checks.no_split_leakage", "valid boolean"),
    ({"checks": {"categories": "heart"}}, "checks.categories", "valid"),
    ({"checks": {"warn": ["max_category_drift"]}}, "checks", "'max_category_drift' is not a declared check"),
    ({"checks": {"sql": [{"name": "w", "query": "DELETE FROM item", "expect": 0}]}}, "checks.sql.0.query", "read-only: DELETE"),
    (
        {"checks": {"sql": [{"name": "w", "query": "WITH a AS (SELECT 1) INSERT INTO item SELECT * FROM a"}]}},
        "checks.sql.0.query",
        "read-only: INSERT",
    ),
    ({"checks": {"sql": [{"name": "w", "query": "SELECT 1; SELECT 2"}]}}, "checks.sql.0.query", "2 statements"),
    ({"checks": {"sql": [{"name": "w", "query": "SELEC 1"}]}}, "checks.sql.0.query", "syntax error"),
    ({"checks": {"sql": [{"name": "w", "query": "SELECT 1", "expect": [1]}]}}, "checks.sql.0.expect", "expect one value"),
    (
        {"checks": {"sql": [{"name": "w", "query": "SELECT 1", "expct": 1}]}},
        "checks.sql.0.expct",
        "unknown key (known: name, query, expect)",
    ),
    ({"checks": {"sql": [{"name": "min_items", "query": "SELECT 1"}]}}, "checks.sql.0.name", "built-in check"),
    ({"checks": {"sql": [{"name": "a", "query": "SELECT 1"}, {"name": "a", "query": "SELECT 2"}]}}, "checks", "duplicate check name"),
    ({"channel": "123"}, "channel", "collides with a version number"),
    ({"channel": "latest"}, "channel", "reserved"),
    ({"channel": "lock-1234"}, "channel", "reserved"),
    ({"channel": "my prod"}, "channel", "starts with a letter"),
]


@pytest.mark.parametrize(("extra", "key", "detail"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_checks_and_channels_fail_the_load(tmp_path, extra, key, detail):
    path = write(tmp_path, **extra)
    with pytest.raises(ValidationError) as info:
        Registry(path)
    message = info.value.message
    assert "\n" not in message
    assert f"{path} entry 1 ('health_by_tag'): key {key!r}: " in message, message
    assert detail in message, message
    assert info.value.hint and "registry yaml" in info.value.hint


def test_register_writes_the_checks_back(tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "health_by_tag.py").write_text((Path(__file__).parents[2] / "recipes" / "health_by_tag.py").read_text())
    path = recipes / "datasets.yaml"
    register(path, {**BASE, "channel": "prod", "checks": {"no_split_leakage": True, "max_row_change": 0.5}})
    raw = yaml.safe_load(path.read_text())[0]
    assert raw["channel"] == "prod" and raw["checks"] == {"no_split_leakage": True, "max_row_change": 0.5}
    assert Registry(path).get("health_by_tag").checks.enabled() == ["no_split_leakage", "max_row_change"]
