"""`pinlake check` as a user runs it: a process, a rich table, --json, exit 1 on a blocking failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from pinlake.library.refresh import refresh_dataset

pytestmark = pytest.mark.slow

CHECKS = {
    "min_items": {"train": 1, "test": 1},
    "no_empty_split": True,
    "no_split_leakage": True,
    "no_duplicate_items": True,
    "boxes_inside_images": True,
    "max_row_change": 0.5,
    "max_category_drift": 0.2,
    "sql": [{"name": "no_tiny_boxes", "query": "SELECT count(*) FROM bbox WHERE coords[3] * coords[4] < 4", "expect": 0}],
    "warn": ["max_category_drift"],
}


def pinlake(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "pinlake", *args], capture_output=True, text=True, env=env, timeout=120)


def set_checks(registry, checks) -> None:
    entries = yaml.safe_load(registry.read_text())
    entries[0].update({"splits": ["train", "test"], "channel": "prod", "checks": checks})
    registry.write_text(yaml.safe_dump(entries, sort_keys=False))


def test_check_cli_table_json_and_exit_codes(project):
    library, registry, _ = project()
    refresh_dataset(library, registry, "health_by_tag")  # version 1, built from the lake (images carry their sha256)
    set_checks(registry, CHECKS)
    common = ["--registry", str(registry), "--library", str(library)]

    ok = pinlake("check", "health_by_tag", *common)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name in ("min_items", "no_split_leakage", "no_duplicate_items", "boxes_inside_images", "no_tiny_boxes"):
        assert name in ok.stdout
    assert "max_row_change" in ok.stdout and "skip" in ok.stdout  # the first version has no baseline
    assert "health_by_tag@1" in ok.stdout and "passed" in ok.stdout

    as_json = pinlake("check", "health_by_tag@1", *common, "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["passed"] is True and report["version"] == 1 and report["channel"] == "prod"
    statuses = {r["check"]: r["status"] for r in report["results"]}
    assert statuses["no_split_leakage"] == "pass" and statuses["max_row_change"] == "skip"

    set_checks(registry, {**CHECKS, "min_items": 10_000})
    failed = pinlake("check", "health_by_tag", *common)
    assert failed.returncode == 1
    assert "failed: min_items" in failed.stdout and "fewer than 10000" in failed.stdout
    failed_json = pinlake("check", "health_by_tag", *common, "--json")
    assert failed_json.returncode == 1 and json.loads(failed_json.stdout)["blocking"] == ["min_items"]

    unknown = pinlake("check", "nope", *common)
    assert unknown.returncode == 1 and unknown.stdout == ""
    lines = unknown.stderr.strip().splitlines()
    assert lines[0].startswith("Error: no dataset 'nope'") and len(lines) == 2 and "pinlake ls" in lines[1]

    set_checks(registry, {"max_row_change": "half"})
    bad = pinlake("check", "health_by_tag", *common)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert "key 'checks.max_row_change'" in lines[0] and "health_by_tag" in lines[0] and len(lines) == 2
