"""The catalog covers every version of every Lance table, exactly, whoever wrote it."""

import subprocess
import sys

import lance
import pyarrow as pa

from pinlake.catalog import Catalog, sync_library
from pinlake.catalog.sync import dataset_tables, lake_tables
from pinlake.library.restore import restore_version
from pinlake.library.tag import tag_version


def table_versions(lib):
    out = set()
    for path in [lib / "health_images"]:
        for table, uri in dataset_tables(path).items():
            out |= {(path.name, table, v["version"]) for v in lance.dataset(uri).versions()}
    for table, uri in lake_tables(lib).items():
        out |= {("_lake", table, v["version"]) for v in lance.dataset(uri).versions()}
    return out


def catalog_keys(lib):
    data = Catalog(lib).read("versions", columns=["dataset", "table", "version"])
    keys = list(zip(*(data.column(c).to_pylist() for c in ("dataset", "table", "version"))))
    assert len(keys) == len(set(keys)), "duplicate catalog rows"
    return set(keys)


def test_hook_and_sync_cover_every_version_exactly(lib, ds, make_versions):
    assert catalog_keys(lib) == table_versions(lib)  # the build's hook catalogued it
    make_versions(ds)
    restore_version(ds.path, 1)
    tag_version(ds.path, 2, "v1.0")
    assert catalog_keys(lib) == table_versions(lib)  # every pinlake write: exact without a sync

    # writes made outside pinlake: a direct append to a dataset table and a lake table
    item_uri = str(ds.path / "db" / "item.lance")
    extra = lance.dataset(item_uri).to_table(limit=1)
    lance.write_dataset(extra, item_uri, mode="append")
    lake_uri = str(lib / "_lake" / "data.lance")
    lance.write_dataset(pa.table({"id": ["a"], "sha256": ["00"]}), lake_uri)
    lance.write_dataset(pa.table({"id": ["b"], "sha256": ["11"]}), lake_uri, mode="append")
    assert catalog_keys(lib) != table_versions(lib)
    report = sync_library(lib)
    assert report["_lake"]["versions"] == 2
    assert catalog_keys(lib) == table_versions(lib)
    assert sync_library(lib)["health_images"]["versions"] == 0  # idempotent

    rows = {(r["table"], r["version"]): r for r in Catalog(lib).read("versions").to_pylist() if r["dataset"] == "health_images"}
    outside = rows[("item", lance.dataset(item_uri).version)]
    assert outside["run_id"] == "" and outside["lineage"] == "{}" and outside["operation"] == "append"
    assert rows[("item", 1)]["run_id"] and rows[("item", 1)]["rows"] == 32 and rows[("item", 1)]["schema_hash"]

    import pinlake

    orphans = pinlake.sql("SELECT \"table\", version FROM catalog.versions WHERE orphan AND dataset = 'health_images'", library=lib)
    assert ("item", lance.dataset(item_uri).version) in set(zip(*(orphans.column(c).to_pylist() for c in ("table", "version"))))
    named = pinlake.sql(
        'SELECT count(*) AS n FROM catalog.versions v JOIN catalog.members m USING (dataset, "table", version)', library=lib
    )
    assert named.column("n")[0].as_py() > 0


def test_concurrent_syncs_do_not_duplicate(lib, ds, make_versions):
    make_versions(ds)
    lance.write_dataset(pa.table({"id": ["a"]}), str(lib / "_lake" / "data.lance"))
    code = f"from pinlake.catalog import sync_library; sync_library({str(lib)!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert catalog_keys(lib) == table_versions(lib)


def test_dataset_outside_a_library_has_no_catalog(tmp_path):
    from pinlake.datasets.build.folder import ImageFolderBuilder
    from pinlake.datasets.info import DatasetInfo
    from pinlake.demo.data import HealthDatasetItem, generate_health_images

    src = generate_health_images(tmp_path / "assets", n_train=2, n_test=1).root
    ImageFolderBuilder(src, tmp_path / "somewhere" / "ds", HealthDatasetItem, DatasetInfo(id="ds", name="ds")).build()
    assert not (tmp_path / "somewhere" / "_catalog").exists()


def test_catalog_sync_cli(lib, cli):
    res = cli("catalog", "sync", "--library", lib)
    assert res.exit_code == 0, res.output
    assert "catalogued 0 new" in res.output
