"""A diff compares content: an identical rebuild of the same folder has 0 changed rows (the CLI, the
Python API and the HTTP API); the bookkeeping columns (created_at, updated_at) are compared only on
request (``--include-meta``, ``include_meta=True``, ``?include_meta=true``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pinlake.cli import app, register_commands

TABLES = ("bbox", "image", "item", "keypoints", "objects", "source")


@pytest.fixture
def rebuilt(health_folder: Path, tmp_path: Path) -> Path:
    """The same folder built twice through the CLI: ``--mode create`` then ``--mode overwrite``."""
    register_commands()
    library = tmp_path / "library"
    for mode in ("create", "overwrite"):
        res = CliRunner().invoke(
            app, ["build", str(health_folder), "--name", "scans", "--mode", mode, "--library", str(library)], catch_exceptions=False
        )
        assert res.exit_code == 0, res.output
    return library


def _cli_diff(library: Path, *extra: str) -> dict:
    res = CliRunner().invoke(app, ["diff", "scans", "1", "2", "--json", *extra, "--library", str(library)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_identical_rebuild_diffs_to_no_change(rebuilt: Path):
    out = _cli_diff(rebuilt)
    assert (out["a"], out["b"]) == (1, 2)
    assert set(out["tables"]) == set(TABLES)
    assert all(c == {"added": 0, "removed": 0, "changed": 0} for c in out["tables"].values()), out["tables"]
    assert out["ids"] == [] and out["ignored_columns"] == ["created_at", "updated_at"]
    # the table view says what it left out
    res = CliRunner().invoke(app, ["diff", "scans", "1", "2", "--library", str(rebuilt)], catch_exceptions=False)
    assert res.exit_code == 0 and "created_at, updated_at" in res.output and "--include-meta" in res.output
    # a content change is still one changed row
    from pinlake.library import Library
    from pinlake.library.diff import diff_versions
    from pinlake.library.info import open_dataset
    from pinlake.library.versions import dataset_path

    ds = open_dataset(Library(rebuilt), "scans")
    first = ds.get_data("item", limit=1)[0]
    ds.update_data("item", [dict(first.model_dump(), image_type="changed")])
    out = diff_versions(dataset_path("scans", rebuilt), 2, 3)
    assert out["tables"]["item"] == {"added": 0, "removed": 0, "changed": 1}
    assert out["ids"].to_pylist() == [{"table": "item", "change": "changed", "id": first.id}]


def test_include_meta_compares_the_timestamps(rebuilt: Path):
    from pinlake.library import Library
    from pinlake.library.diff import diff_versions
    from pinlake.library.info import open_dataset
    from pinlake.library.versions import dataset_path

    out = _cli_diff(rebuilt, "--include-meta")
    rows = open_dataset(Library(rebuilt), "scans").state.rows
    assert {t: c["changed"] for t, c in out["tables"].items()} == {t: rows[t] for t in TABLES}
    assert out["ignored_columns"] == []
    path = dataset_path("scans", rebuilt)
    assert diff_versions(path, 1, 2)["ids"].num_rows == 0
    meta = diff_versions(path, 1, 2, include_meta=True)
    assert meta["tables"]["item"] == {"added": 0, "removed": 0, "changed": rows["item"]}


def test_api_diff_compares_content(rebuilt: Path):
    from fastapi.testclient import TestClient

    from pinlake.api import create_app

    client = TestClient(create_app(rebuilt))
    d = client.get("/datasets/scans/diff?a=1&b=2").json()
    assert all(c["changed"] == 0 for c in d["tables"].values()) and d["ids"] == []
    d = client.get("/datasets/scans/diff?a=1&b=2&include_meta=true").json()
    assert d["tables"]["item"]["changed"] > 0 and d["ignored_columns"] == []
