"""Smoke run of bench.catalog_scale on a small catalog (100 × 1,000 is the real run: bench/NOTES.md),
so the generator and its queries cannot rot: the generated catalog reads through `pinlake sql` with
the counts it was made with, and the lineage query finds each table of the version asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import catalog_scale
from pinlake.library.sql import sql

pytestmark = pytest.mark.slow  # CLI subprocesses


def test_generated_catalog_reads_as_written(tmp_path: Path) -> None:
    sizes = catalog_scale.write_catalog(tmp_path / "library", datasets=4, versions=30, tables=3, fragments=5)
    assert sizes["dataset_versions"] == 120 and sizes["versions"] == sizes["members"] == 360
    per = sql(catalog_scale.GROUP_BY, library=tmp_path / "library").to_pylist()
    assert [(r["dataset"], r["versions"], r["rows"]) for r in per] == [(f"ds_{d:03d}", 90, 90_000) for d in range(4)]
    lineage = sql(catalog_scale.lineage_query("ds_002", 17), library=tmp_path / "library").to_pylist()
    assert [(r["table"], r["version"], r["lake_version"]) for r in lineage] == [(t, 17, "17") for t in sorted(catalog_scale.TABLES[:3])]
    flags = sql("SELECT count(*) FILTER (orphan) AS o, count(*) FILTER (removed) AS r FROM catalog.versions", library=tmp_path / "library")
    assert flags.to_pylist() == [{"o": 0, "r": 4 * 3 * 10}]  # every table version is a member; 10 removed per table


def test_main_reports_both_queries(tmp_path: Path) -> None:
    report = catalog_scale.main(["--datasets", "3", "--versions", "20", "--tables", "2", "--repeat", "1"])
    for label in ("group-by over catalog.versions", "lineage of one version"):
        assert report[label]["query s"] > 0 and report[label]["pinlake sql (whole process) s"] >= report[label]["query s"]
    assert report["lineage of one version"]["rows"] == 2 and report["group-by over catalog.versions"]["rows"] == 3
    assert set(report["append's key reads, ms"]) == {"versions", "members", "dataset_versions"}
