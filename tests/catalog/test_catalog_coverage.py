"""The catalog covers every version of every Lance table, exactly, whoever wrote it."""

import subprocess
import sys

import lance
import pyarrow as pa
import pytest

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


def test_many_writes_stay_exact_and_bounded(lib, ds):
    """A write's own sync reads only what came after the dataset's mark: after 40 writes the catalog
    still holds every table version and log entry exactly once, its tables and the version log stay
    a few fragments (compacted as they grow), and a lost mark only costs one full walk."""
    from pinlake.catalog.store import CATALOG_FRAGMENTS
    from pinlake.catalog.sync import MARKS_DIR, read_mark
    from pinlake.datasets.versions import LOG_FRAGMENTS, VersionLog

    first = ds.get_data("item", limit=1)[0]
    for i in range(40):
        ds.update_data("item", [dict(first.model_dump(), image_type=f"v{i}")])
        if i == 20:
            (Catalog(lib).path / MARKS_DIR / "health_images.json").unlink()  # the next write walks everything
    assert catalog_keys(lib) == table_versions(lib)
    log = VersionLog(ds.path)
    entries = log.entries()
    assert [e.dataset_version for e in entries] == list(range(1, 42)) and log.latest().dataset_version == 41
    assert [e.lineage["pinlake.dataset_version"] for e in entries[-2:]] == ["40", "41"]
    numbers = Catalog(lib).read("dataset_versions", columns=["dataset", "dataset_version"])
    assert sorted(numbers.column("dataset_version").to_pylist()) == list(range(1, 42))
    members = Catalog(lib).read("members", columns=["dataset", "dataset_version", "table"]).to_pylist()
    assert len(members) == len({tuple(m.values()) for m in members})
    assert read_mark(Catalog(lib), "health_images")["dataset_version"] == 41
    for table in ("versions", "dataset_versions", "members"):
        assert len(lance.dataset(Catalog(lib).uri(table)).get_fragments()) <= CATALOG_FRAGMENTS + 1, table
    assert len(lance.dataset(log.uri).get_fragments()) <= LOG_FRAGMENTS
    assert sync_library(lib)["health_images"] == {"versions": 0, "members": 0, "dataset_versions": 0}


def test_an_indexed_catalog_reads_and_dedupes_as_a_scan_does(lib, ds, monkeypatch):
    """Past INDEX_ROWS rows a catalog table gets BTREE indexes on `dataset` and its version number
    when an append merges its fragments, and later merges bring them up to date: every write is still
    catalogued exactly once, and a read by dataset, or by dataset and versions (indexed part plus the
    fragments appended since), equals a full scan's."""
    from pinlake.catalog import store

    monkeypatch.setattr(store, "INDEX_ROWS", 5)
    monkeypatch.setattr(store, "CATALOG_FRAGMENTS", 3)
    first = ds.get_data("item", limit=1)[0]
    for i in range(14):
        ds.update_data("item", [dict(first.model_dump(), image_type=f"v{i}")])
    catalog = Catalog(lib)
    for table in ("versions", "dataset_versions", "members"):
        data = lance.dataset(catalog.uri(table))
        indexes = {ix.name: ix.field_names for ix in data.describe_indices()}
        number = "version" if table == "versions" else "dataset_version"
        assert indexes == {store.INDEX_NAME: ["dataset"], f"{number}_idx": [number]}, table
        order = [(c, "ascending") for c in store.KEYS[table]]
        # by dataset, and by dataset and a few versions (the key read of an append: with one dataset
        # in the catalog, only the version index narrows it)
        some = sorted(set(data.to_table(columns=[number]).column(number).to_pylist()))[2:5]
        for flt in ("dataset = 'health_images'", f"dataset = 'health_images' AND {number} IN ({', '.join(map(str, some))})"):
            by_index = data.to_table(filter=flt).sort_by(order)
            by_scan = data.to_table(filter=flt, use_scalar_index=False).sort_by(order)
            assert by_index.num_rows >= 3 and by_index.equals(by_scan), (table, flt)
            plan = data.scanner(filter=flt).explain_plan()
            assert "ScalarIndexQuery" in plan and (number not in flt or f"{number}_idx" in plan), (table, plan)
    assert catalog_keys(lib) == table_versions(lib)
    assert sync_library(lib)["health_images"] == {"versions": 0, "members": 0, "dataset_versions": 0}


def test_an_appends_merge_leaves_full_fragments_alone(lib, ds, monkeypatch):
    """An append that merges a catalog table's fragments rewrites only those under FRAGMENT_ROWS
    rows, and counts only those: a fragment that got full is never rewritten, and full fragments do
    not bring the next merge closer, so an append costs the same at any history."""
    from pinlake.catalog import store

    monkeypatch.setattr(store, "CATALOG_FRAGMENTS", 3)
    monkeypatch.setattr(store, "FRAGMENT_ROWS", 6)
    catalog = Catalog(lib)
    first = ds.get_data("item", limit=1)[0]
    full: dict[str, set[int]] = {t: set() for t in ("versions", "members")}
    for i in range(16):
        ds.update_data("item", [dict(first.model_dump(), image_type=f"v{i}")])
        for table, seen in full.items():
            fragments = lance.dataset(catalog.uri(table)).get_fragments()
            assert seen <= {f.fragment_id for f in fragments}, (table, i)  # none rewritten
            seen |= {f.fragment_id for f in fragments if f.count_rows() >= store.FRAGMENT_ROWS}
    assert all(len(seen) >= 4 for seen in full.values()), full  # more full fragments than CATALOG_FRAGMENTS
    for table in full:  # a merge still comes every few appends, not at each: full ones do not count
        # (a members append of a dataset version is one row per table: full at once here)
        data = lance.dataset(catalog.uri(table))
        merges = sum(type(data.read_transaction(v["version"]).operation).__name__ == "Rewrite" for v in data.versions()[1:])
        assert merges <= 16 // store.CATALOG_FRAGMENTS + 1 and (merges >= 1 or table == "members"), (table, merges)
    assert catalog_keys(lib) == table_versions(lib)


def test_small_fragments_left_between_full_ones_do_not_merge_at_every_append(tmp_path, monkeypatch):
    """Lance leaves a small fragment alone between full ones: such fragments do not count toward
    the next merge, so appends that strand them do not each run a merge and an index update."""
    from pinlake.catalog import store

    monkeypatch.setattr(store, "CATALOG_FRAGMENTS", 3)
    monkeypatch.setattr(store, "FRAGMENT_ROWS", 6)
    monkeypatch.setattr(store, "INDEX_ROWS", 1)  # indexed from the first merge: each merge updates them
    updates: list[str] = []
    index = store.Catalog.index
    monkeypatch.setattr(store.Catalog, "index", lambda self, table, min_rows=None: updates.append(table) or index(self, table, min_rows))
    catalog = Catalog(tmp_path)
    for k in range(40):  # one row, then seven, and again
        n = 1 if k % 2 == 0 else 7
        catalog.append("versions", [{"dataset": "a", "table": "t", "version": 100 * k + i} for i in range(n)])
    data = lance.dataset(catalog.uri("versions"))
    merges = sum(type(data.read_transaction(v["version"]).operation).__name__ == "Rewrite" for v in data.versions()[1:])
    assert merges <= 40 // store.CATALOG_FRAGMENTS + 1, merges
    assert len(updates) <= merges, updates  # an index update only after a merge that merged something
    assert len(catalog.keys("versions", "a")) == 20 + 20 * 7


def test_keys_of_one_dataset_by_version_numbers_that_other_datasets_share(tmp_path):
    """The key read asks for version numbers across datasets (their index) and keeps the dataset's:
    datasets numbered alike never see each other's keys, indexed or not."""
    catalog = Catalog(tmp_path)
    rows = [{"dataset": d, "table": t, "version": v} for d in ("a", "b") for t in ("item", "image") for v in range(1, 6)]
    catalog.append("versions", rows)
    for indexed in (False, True):
        if indexed:
            with catalog.locked():
                assert catalog.index("versions", min_rows=1)
        assert catalog.keys("versions", "a", None, [2, 4]) == {("a", t, v) for t in ("item", "image") for v in (2, 4)}
        assert catalog.keys("versions", "b", None, [5, 9]) == {("b", "item", 5), ("b", "image", 5)}
        assert catalog.keys("versions", "a", None, []) == set()
        assert catalog.keys("versions", "a") == {("a", t, v) for t in ("item", "image") for v in range(1, 6)}


@pytest.mark.parametrize("small", [16, 2])
def test_the_log_merges_its_fragments_every_few_appends(lib, ds, monkeypatch, small):
    """An append names the log's fragments plus one new one; every LOG_FRAGMENTS appends all rows go
    into one fragment again: the entries are the same either way, in order, and a stale writer is
    still refused. The newest entry is right whether its fragment is read whole (at most
    SMALL_FRAGMENT rows) or by its numbers first."""
    from pinlake.datasets import versions
    from pinlake.errors import BuildError

    monkeypatch.setattr(versions, "LOG_FRAGMENTS", 3)
    monkeypatch.setattr(versions, "SMALL_FRAGMENT", small)
    log = versions.VersionLog(ds.path)
    base = log.latest()
    counts = []
    for i in range(7):
        log.append(f"op{i}", base.tables, base.rows, {"k": str(i)})
        counts.append(len(lance.dataset(log.uri).get_fragments()))
        # the newest entry is read from the last fragment: right after a rewrite and between them
        newest = log.latest()
        assert (newest.operation, newest.dataset_version) == (f"op{i}", base.dataset_version + i + 1)
    assert max(counts) <= 3 and 1 in counts[1:]
    assert [e.operation for e in log.entries()] == [base.operation] + [f"op{i}" for i in range(7)]
    assert log.get(5).operation == "op3" and log.latest().lineage["k"] == "6"
    stale = lance.dataset(log.uri)
    log.append("other", base.tables, base.rows, {})

    class Stalled(versions.VersionLog):
        def _open(self):  # noqa: ANN202 - what a writer that stalled before the other commit read
            return stale

    with pytest.raises(BuildError, match="another writer committed a version"):
        Stalled(log.dataset_path).append("stale", base.tables, base.rows, {})
    assert log.latest().operation == "other" and len(log.entries()) == 9
