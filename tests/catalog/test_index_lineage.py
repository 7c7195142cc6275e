"""An index commit carries the lineage of the write it indexes in the catalog: the dataset version
names the indexed table version, and its run, user and operation are the write's (a build's table
commits carry lineage; a CRUD write's carry none, its version-log entry does)."""

from __future__ import annotations

import json

import lance
import pytest

import pinlake
from pinlake.datasets.tables import table_uri
from pinlake.datasets.versions import VersionLog
from pinlake.storage import lance_indexes


def test_the_indexed_version_a_dataset_version_names_carries_the_writes_lineage(lib, ds, monkeypatch):
    from pinlake.demo.run import run_demo

    monkeypatch.setattr(lance_indexes, "INDEX_ROWS", 1)  # as a table past the threshold
    monkeypatch.setenv("PINLAKE_RUN_ID", "run-of-the-build")
    run_demo(lib, lib.parent / "assets")  # the demo's folder build again: an overwrite, then its indexes
    built = VersionLog(ds.path).latest()
    named = built.tables["item"]
    table = lance.dataset(table_uri(ds.path, "item"))
    assert type(table.read_transaction(named).operation).__name__ == "CreateIndex"  # the index commit is named

    rows = pinlake.sql(
        """SELECT version, operation, run_id, "user", lineage, orphan FROM catalog.versions
           WHERE dataset = 'health_images' AND "table" = 'item' ORDER BY version""",
        library=lib,
    ).to_pylist()
    by_version = {r["version"]: r for r in rows}
    indexed = by_version[named]
    assert indexed["operation"] == "createindex" and indexed["run_id"] == "run-of-the-build" and indexed["user"]
    lineage = json.loads(indexed["lineage"])
    write = int(lineage["pinlake.indexed_from"])
    assert lineage["pinlake.operation"] == by_version[write]["operation"] and by_version[write]["run_id"] == "run-of-the-build"
    assert not indexed["orphan"] and not by_version[write]["orphan"]  # the write the named version indexes
    # the image table's two indexes are two commits after its write: none of the three is orphan
    image = pinlake.sql(
        """SELECT version, operation, orphan FROM catalog.versions
           WHERE dataset = 'health_images' AND "table" = 'image' ORDER BY version""",
        library=lib,
    ).to_pylist()
    assert [r["operation"] for r in image[-3:]] == ["build:overwrite", "createindex", "createindex"]
    assert not any(r["orphan"] for r in image)
    # a write no version names stays orphan: a failed batch's commit
    item = ds.get_data("item", limit=1)[0]
    with pytest.raises(RuntimeError), ds.batch("edit"):
        ds.update_data("item", [dict(item.model_dump(), image_type="lost")])
        raise RuntimeError("mid-batch")
    ds.update_data("image", [dict(ds.get_data("image", limit=1)[0].model_dump())])  # the next write catalogues it
    orphans = pinlake.sql(
        """SELECT "table", operation FROM catalog.versions WHERE dataset = 'health_images' AND orphan""", library=lib
    ).to_pylist()
    assert {"table": "item", "operation": "update"} in orphans
    # a CRUD write past the threshold (no lineage of its own): the named index commit covers it
    monkeypatch.delenv("PINLAKE_RUN_ID")
    monkeypatch.setattr(lance_indexes, "STALE_ROWS", 0)  # its row uncovered: the index is brought up to date
    ds.update_data("item", [dict(item.model_dump(), image_type="kept")])
    named = VersionLog(ds.path).latest().tables["item"]
    rows = pinlake.sql(
        f"""SELECT version, operation, lineage, orphan FROM catalog.versions
            WHERE dataset = 'health_images' AND "table" = 'item' AND version >= {named - 1} ORDER BY version""",
        library=lib,
    ).to_pylist()
    assert [(r["operation"], r["orphan"]) for r in rows] == [("update", False), ("createindex", False)]
    assert json.loads(rows[1]["lineage"]) == {"pinlake.indexed_from": str(named - 1)}
    lineage_row = pinlake.sql(
        f"SELECT * FROM catalog.lineage WHERE dataset = 'health_images' AND dataset_version = {built.dataset_version}", library=lib
    ).to_pylist()[0]
    assert lineage_row["run_id"] == "run-of-the-build"
