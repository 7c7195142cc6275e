"""`pinlake maintain` compacts the fragments of many small writes; every version stays readable."""

from __future__ import annotations

import json
import shutil

import lance
import pytest
from test_catalog_coverage import catalog_keys, table_versions

from pinlake.datasets.dataset import Dataset
from pinlake.datasets.versions import VersionLog


def content(ds: Dataset) -> dict[str, list[dict]]:
    return {t: sorted(ds.to_arrow(t).drop_columns(["created_at", "updated_at"]).to_pylist(), key=lambda r: r["id"]) for t in ds.tables}


def test_maintain_compacts_and_keeps_every_version_readable(lib, ds, cli):
    items = ds.get_data("item", limit=12)
    first = items[0]
    for i, item in enumerate(items):  # a write each, on a different row: a fragment each
        ds.update_data("item", [dict(item.model_dump(), image_type=f"v{i}")])
    log = VersionLog(ds.path)
    before = {e.dataset_version: content(Dataset(ds.path).checkout(e.dataset_version)) for e in log.entries()}
    item_uri = str(ds.path / "db" / "item.lance")
    assert len(lance.dataset(item_uri).get_fragments()) > 4

    res = cli("maintain", "--fragments", "4", "--json", "--library", lib)
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    latest = max(before)
    assert report["versions"] == {"health_images": latest + 1}
    before_item, after_item = report["datasets"]["health_images"]["item"]
    assert before_item > 4 and after_item < before_item == len(
        lance.dataset(item_uri, version=log.get(latest).tables["item"]).get_fragments()
    )
    assert len(lance.dataset(item_uri).get_fragments()) == after_item

    new = log.latest()
    assert new.operation == "maintain" and new.lineage["pinlake.compacted_from"] == str(latest) and new.rows == log.get(latest).rows
    for version, expected in before.items():  # every version reads what it read before
        assert content(Dataset(ds.path).checkout(version)) == expected, version
    assert content(Dataset(ds.path)) == before[latest]
    files = {v: sorted(p.name for p in (ds.path / "_meta" / str(v)).iterdir()) for v in (latest, new.dataset_version)}
    assert files[latest] == files[new.dataset_version]  # the files of the version it compacts
    summary = json.loads((ds.path / "_meta" / str(new.dataset_version) / "summary.json").read_text())
    assert (summary["dataset_version"], summary["operation"], summary["rows"]) == (new.dataset_version, "maintain", new.rows)
    assert catalog_keys(lib) == table_versions(lib)  # the maintain version is catalogued like any write
    # the same version indexes every table by id (and by item_ref.id where it has one), whatever its size
    assert sorted(report["indexes"]["health_images"]) == sorted(new.tables)
    for table, version in new.tables.items():
        names = {ix.name for ix in lance.dataset(str(ds.path / "db" / f"{table}.lance"), version=version).describe_indices()}
        assert "id_idx" in names and ("item_ref_id_idx" in names) == (table not in ("item", "source")), (table, names)
    from pinlake.catalog.store import INDEX_NAME, SCHEMAS, Catalog

    catalog = Catalog(lib)
    indexed = {
        t for t in SCHEMAS if catalog.exists(t) and INDEX_NAME in {ix.name for ix in lance.dataset(catalog.uri(t)).describe_indices()}
    }
    assert {"versions", "dataset_versions", "members"} <= indexed  # maintain indexes the catalog's tables by dataset

    again = cli("maintain", "--fragments", "4", "--library", lib)
    assert again.exit_code == 0 and "nothing to compact" in again.output
    Dataset(ds.path).update_data("item", [dict(first.model_dump(), image_type="after")])  # writes go on from the compacted tables
    assert Dataset(ds.path).get_data("item", ids=[first.id])[0].image_type == "after"


@pytest.mark.slow  # a flow run on the Prefect server
def test_maintain_flow_run_and_its_deployment(prefect_server, demo_template, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.deployments import MAINTAIN_SCHEDULE, prefect_yaml
    from flows.maintain import maintain
    from pinlake.datasets.dataset import Dataset
    from pinlake.datasets.versions import VersionLog

    shutil.copytree(demo_template / "library", tmp_path / "library")
    shutil.copytree(demo_template / "assets", tmp_path / "assets")
    library = tmp_path / "library"
    ds = Dataset(library / "health_images", media_dir=tmp_path / "assets")
    for i, item in enumerate(ds.get_data("item", limit=6)):
        ds.update_data("item", [dict(item.model_dump(), image_type=f"m{i}")])
    before = VersionLog(ds.path).latest().dataset_version

    state = maintain(library=str(library), fragments=2, return_state=True)
    assert state.is_completed(), state
    report = state.result()
    assert report["versions"] == {"health_images": before + 1}
    assert len(lance.dataset(str(ds.path / "db" / "item.lance")).get_fragments()) <= 2
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts(limit=50)
    assert any(a.key == "maintain-summary" and "health_images: version" in (a.data or "") for a in artifact)

    registry = tmp_path / "datasets.yaml"
    registry.write_text("[]\n")
    (dep,) = [d for d in prefect_yaml(str(registry), str(library))["deployments"] if d["name"] == "maintain"]
    assert dep["entrypoint"] == "flows/maintain.py:maintain" and dep["schedules"][0]["cron"] == MAINTAIN_SCHEDULE


def test_maintain_compacting_an_indexed_table_with_deleted_rows_keeps_the_catalog_going(lib, ds):
    """Lance's Python binding cannot build the transaction of such a compaction (a RewrittenIndex):
    the catalog records it as an unknown commit, and the writes and syncs after it go on."""
    from pinlake.catalog.sync import sync_library
    from pinlake.library.maintain import maintain_dataset

    maintain_dataset(ds.path, fragments=1)  # every table indexed
    items = ds.get_data("item", limit=4)
    for i, row in enumerate(items):  # a fragment each, and a deleted row in the indexed fragment
        Dataset(ds.path).update_data("item", [dict(row.model_dump(), image_type=f"edited {i}")])
    done, _, entry = maintain_dataset(ds.path, fragments=1)
    assert done["item"][1] < done["item"][0] and entry is not None
    item = items[0]
    sync_library(lib)
    Dataset(ds.path).update_data("item", [dict(item.model_dump(), image_type="after")])
    assert Dataset(ds.path).get_data("item", ids=[item.id])[0].image_type == "after"
    assert catalog_keys(lib) == table_versions(lib)


def test_maintain_notes_its_lake_compactions_for_this_lake_only(tmp_path, caplog):
    """An indexed lake with replaced rows compacted by maintain: pylance 14 cannot read that
    compaction's record, maintain's note (compactions.json, with the lake's identity) names it, so
    the rows read as kept. A note another lake left is not read; a damaged one is warned about,
    not used, and written anew by the next maintain."""
    import random

    import pinlake
    from pinlake.lake.lance_tables import COMPACTIONS_FILE
    from pinlake.library.maintain import maintain_lake
    from pinlake.storage import read_transaction

    lib = pinlake.connect(tmp_path / "library")
    lake = lib.get_datalake()
    rng = random.Random(3)

    def upload(names: list[str]) -> None:
        paths = []
        for _ in names:
            path = tmp_path / f"{rng.getrandbits(64):016x}.bin"
            path.write_bytes(rng.randbytes(32))
            paths.append(str(path))
        lake.upload_data(paths, object_names=names)

    upload([f"f/{i}.bin" for i in range(10)])
    maintain_lake(lib.path, fragments=1)  # indexes made
    upload([f"f/{i}.bin" for i in range(3)])  # three rows replaced: the compaction rewrites their fragment
    before = lake.version
    done, _ = maintain_lake(lib.path, fragments=1)
    assert "data" in done
    data = lake.store.open("data")
    unread = [v for v in range(before + 1, data.version + 1) if read_transaction(data, v) is None]
    assert len(unread) == 1 and lake.store.compactions("data") == {unread[0]}
    assert lake.rows_unchanged_since(before)
    note = lib.path / "_lake" / COMPACTIONS_FILE
    doc = json.loads(note.read_text())
    assert doc["lake_id"] == lake.store.identity()
    note.write_text(json.dumps({**doc, "lake_id": "another-lake"}))
    assert lake.store.compactions("data") == frozenset() and not lake.rows_unchanged_since(before)
    note.write_text("{not json")
    with caplog.at_level("WARNING", logger="pinlake.lake"):
        assert not lake.rows_unchanged_since(before)
    assert any(COMPACTIONS_FILE in r.getMessage() and "not used" in r.getMessage() for r in caplog.records)
    upload([f"f/{i}.bin" for i in range(3, 6)])
    maintain_lake(lib.path, fragments=1)  # written anew
    assert json.loads(note.read_text())["lake_id"] == lake.store.identity() and lake.store.compactions("data")
