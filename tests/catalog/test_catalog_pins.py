"""Versions, tags, restore, diff, pins, lineage, cleanup, SQL: engine and CLI."""

import json
import subprocess
import sys

import lance
import pyarrow as pa
import pytest

import pinlake
from pinlake.datasets.versions import VersionLog
from pinlake.errors import InvalidQueryError, NotFoundError, PinlakeError, ValidationError
from pinlake.library.restore import restore_version
from pinlake.library.tag import tag_version
from pinlake.storage import lance_dataset
from pinlake.storage.lance_io import LANCE_HINT, head_version


def test_open_pins_and_errors(lib, ds, make_versions):
    changed, deleted = make_versions(ds)
    tag_version(ds.path, 1, "v1.0")
    p = pinlake.open("health_images@1", library=lib)
    assert p.version == 1 and len(p) == 32
    assert pinlake.open("health_images@v1.0", library=lib).version == 1
    assert pinlake.open("health_images", library=lib).version == 3
    assert (
        pinlake.open("health_images", version=2, library=lib).to_arrow("item", filter=f"id = '{changed}'").column("image_type")[0].as_py()
        == "changed"
    )
    assert p.to_arrow("item", columns=["id"], filter=f"id = '{deleted}'").num_rows == 1
    assert p.take("image", [0, 2]).num_rows == 2
    assert sum(b.num_rows for b in p.to_batches("bbox", batch_size=10)) == p.num_rows("bbox")
    assert len(list(p.items(batch_size=10))) == 32
    assert p.to_pandas("item").shape[0] == 32
    with pytest.raises(NotFoundError, match="no version 9") as e:
        pinlake.open("health_images@9", library=lib)
    assert "1, 2, 3" in e.value.hint
    with pytest.raises(NotFoundError, match="no tag 'nope'") as e:
        pinlake.open("health_images@nope", library=lib)
    assert "v1.0" in e.value.hint
    with pytest.raises(NotFoundError, match="no dataset 'other'") as e:
        pinlake.open("other@1", library=lib)
    assert "health_images" in e.value.hint
    with pytest.raises(ValidationError, match="already has a tag"):
        tag_version(ds.path, 2, "v1.0")


def test_restore_diff_cli(lib, ds, cli, make_versions, tmp_path):
    changed, deleted = make_versions(ds)
    res = cli("restore", "health_images", "1", "--library", lib)
    assert res.exit_code == 0 and "new version 4" in res.output
    assert pinlake.open("health_images@4", library=lib).to_arrow("item").num_rows == 32
    res = cli("diff", "health_images", "1", "4", "--json", "--library", lib)
    assert all(c == {"added": 0, "removed": 0, "changed": 0} for c in json.loads(res.output)["tables"].values())
    out = tmp_path / "ids.arrow"
    res = cli("diff", "health_images", "1", "3", "--json", "--ids-out", out, "--library", lib)
    data = json.loads(res.output)
    assert data["tables"]["item"] == {"added": 0, "removed": 1, "changed": 1}
    assert data["tables"]["image"]["removed"] == 1 and data["tables"]["source"]["removed"] == 0
    ids = pa.ipc.open_file(str(out)).read_all().to_pylist()
    assert {"table": "item", "change": "changed", "id": changed} in ids
    assert {"table": "item", "change": "removed", "id": deleted} in ids
    res = cli("versions", "health_images", "--json", "--library", lib)
    ops = [v["operation"] for v in json.loads(res.output)]
    assert ops[0] == "build:create" and ops[-1] == "restore" and len(ops) == 4
    assert cli("versions", "health_images", "--library", lib).exit_code == 0
    res = cli("tag", "health_images", "7", "x", "--library", lib)
    assert res.exit_code == 1 and "no version 7" in res.output and "Traceback" not in res.output


def test_pins_yaml_verify_and_tamper(lib, ds, cli, make_versions, tmp_path):
    make_versions(ds)
    pins = tmp_path / "pins.yaml"
    assert cli("pin", "health_images@2", "--to", pins, "--library", lib).exit_code == 0
    res = cli("verify", pins, "--library", lib)
    assert res.exit_code == 0 and "all match" in res.output
    text = pins.read_text()
    import yaml

    data = yaml.safe_load(text)
    data["datasets"]["health_images"]["tables"]["bbox"]["sha256"] = "0" * 64
    pins.write_text(yaml.safe_dump(data))
    res = cli("verify", pins, "--library", lib)
    assert res.exit_code == 1 and "'health_images' table 'bbox'" in res.output and "hash mismatch" in res.output
    assert "Traceback" not in res.output


#: rows per table of the demo dataset (version 1); version 2 changes one item's image_type only
DEMO_ROWS = {"item": 32, "image": 32, "objects": 89, "bbox": 89, "keypoints": 89, "source": 1}


def _rows(version: int, lib) -> dict[str, int]:
    p = pinlake.open(f"health_images@{version}", library=lib)
    return {t: p.to_arrow(t).num_rows for t in p.tables}


def test_cleanup_keeps_tagged_pinned_latest(lib, ds, cli, make_versions, tmp_path):
    make_versions(ds)  # versions 2, 3
    restore_version(ds.path, 2)  # version 4
    # version 3 lost one item, with its image and its one object (bbox, keypoints); version 4 is version 2 again
    assert _rows(3, lib) == {**DEMO_ROWS, "item": 31, "image": 31, "objects": 88, "bbox": 88, "keypoints": 88}
    tag_version(ds.path, 1, "v1.0")
    pinlake.library.pin.write_pin("health_images@2", tmp_path / "pins.yaml", lib)
    # the item table's hint left at the version dataset version 2 names, as two writers killed after
    # their manifests leave it: once the cleanup removes the versions after it, only the cleanup can
    # tell the hint is behind
    item = ds.path / "db" / "item.lance"
    kept = VersionLog(ds.path).get(2).tables["item"]
    head = lance.dataset(item).version
    assert kept < head
    (item / "_versions" / LANCE_HINT).write_text(json.dumps({"version": kept}))
    res = cli("cleanup", "health_images", "--older-than", "0s", "--json", "--library", lib)
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert kept + 1 in report["tables"]["item"]["removed"]  # the gap
    assert head_version(item) in (None, head) and lance_dataset(item).version == head
    assert sum(len(t["removed"]) for t in report["tables"].values()) > 0
    for v in (1, 2, 4):  # tagged, pinned, latest: every table still reads in full
        assert _rows(v, lib) == DEMO_ROWS, v
    with pytest.raises(NotFoundError, match="cleaned up"):
        pinlake.open("health_images@3", library=lib)
    assert cli("verify", tmp_path / "pins.yaml", "--library", lib).exit_code == 0
    cleanups = pinlake.sql("SELECT count(*) AS n FROM catalog.cleanups", library=lib).column("n")[0].as_py()
    assert cleanups == len(report["tables"])
    removed = pinlake.sql("SELECT count(*) AS n FROM catalog.versions WHERE removed", library=lib).column("n")[0].as_py()
    assert removed == sum(len(t["removed"]) for t in report["tables"].values())
    res = cli("versions", "health_images", "--json", "--library", lib)
    assert [v["available"] for v in json.loads(res.output)] == [True, True, False, True]


def test_lineage_consumers_and_openlineage(lib, ds, cli, tmp_path):
    pinlake.open("health_images@1", library=lib, run="train-resnet")
    pinlake.open("health_images@1", library=lib, record_use=True)
    out = tmp_path / "ol.jsonl"
    res = cli("lineage", "health_images@1", "--openlineage", out, "--library", lib)
    assert res.exit_code == 0 and "train-resnet" in res.output and "item@1" in res.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == 3
    for e in events:
        assert {"eventType", "eventTime", "run", "job", "inputs", "outputs", "producer", "schemaURL"} <= set(e)
        assert e["job"]["namespace"] == "pinlake" and len(e["run"]["runId"]) == 36
    assert {o["name"] for o in events[0]["outputs"]} >= {"health_images/item", "health_images/image"}
    assert pinlake.sql("SELECT run FROM catalog.consumers", library=lib).column("run").to_pylist()[0] == "train-resnet"


def test_sql_queries_and_refusals(lib, ds, cli, make_versions):
    make_versions(ds)
    tag_version(ds.path, 1, "v1.0")
    res = cli("sql", "SELECT split, count(*) AS n FROM health_images.item GROUP BY split ORDER BY split", "--json", "--library", lib)
    got = json.loads(res.output)
    assert [r["split"] for r in got] == ["test", "train"] and sum(r["n"] for r in got) == 31
    res = cli("sql", "SELECT count(*) AS n FROM health_images.item", "--at", "health_images=v1.0", "--csv", "--library", lib)
    assert res.output.split() == ['"n"', "32"] or res.output.split() == ["n", "32"]
    shas = pinlake.sql("SELECT sha256 FROM health_images.image", library=lib).column("sha256").to_pylist()
    q = f"SELECT '{ds.name}' AS dataset FROM health_images.image WHERE sha256 = '{shas[0]}'"
    assert pinlake.sql(q, library=lib).column("dataset").to_pylist() == [ds.name] * shas.count(shas[0])
    cats = pinlake.sql(
        """
        WITH a AS (SELECT category, count(*) n FROM health_images.objects GROUP BY ALL)
        SELECT * FROM a ORDER BY category""",
        library=lib,
        at={"health_images": 1},
    )
    assert sum(cats.column("n").to_pylist()) == 89
    assert cli("sql", "SELECT * FROM catalog.pins", "--library", lib).exit_code == 0
    for bad in [
        "INSERT INTO catalog.versions VALUES (1)",
        "COPY (SELECT 1) TO 'x.csv'",
        "ATTACH 'x.db'",
        "SELECT 1; DROP TABLE x",
        "INSTALL httpfs",
        "PRAGMA version",
        "SET threads = 1",
        "UPDATE EXTENSIONS",  # a statement type DuckDB's Python enum does not name
    ]:
        with pytest.raises(InvalidQueryError, match="read-only"):
            pinlake.sql(bad, library=lib)
    res = cli("sql", "SELEC 1", "--library", lib)
    assert res.exit_code == 1 and "syntax error" in res.output and "Traceback" not in res.output
    res = cli("sql", "SELECT * FROM nope", "--library", lib)
    assert res.exit_code == 1 and "nope" in res.output


def test_reading_a_pin_does_not_import_prefect(lib):
    code = (
        f"import pinlake, sys; p = pinlake.open('health_images@1', library={str(lib)!r}); p.to_arrow('item'); "
        "assert 'prefect' not in sys.modules, 'prefect imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_torch_adapter_without_torch(lib):
    pytest.importorskip("PIL")
    try:
        import torch  # noqa: F401

        pytest.skip("torch installed")
    except ImportError:
        pass
    from pinlake.integrations.torch import PinnedDataset, _Items

    with pytest.raises(PinlakeError, match="needs PyTorch"):
        PinnedDataset("health_images@1", library=lib)
    items = _Items("health_images@1", library=lib, transform=lambda im: im.size)
    assert len(items) == 32
    size, target = items.load(0)
    assert isinstance(size, tuple) and target["id"] == items.ids[0] and "objects" in target
    batch = items.load_many([5, 0, 5, 31])  # a DataLoader batch: order kept, repeats allowed
    assert [t["id"] for _, t in batch] == [items.ids[i] for i in (5, 0, 5, 31)]
    assert batch == [items.load(i) for i in (5, 0, 5, 31)]


def test_torch_adapter_batches_lake_media(project):
    """A dataset built from a lock (views are lake:// urls): a batch decodes the same images as one
    fetch per index, with the bytes of the whole batch read from the lake at once."""
    pytest.importorskip("PIL")
    from pinlake.integrations.torch import _Items
    from pinlake.library import refresh as engine
    from pinlake.library.lock import lock_step

    library, registry, _ = project()
    lock = lock_step(library, registry, "health_by_tag")
    engine.build_step(library, registry, "health_by_tag", lock.lock_dir)
    items = _Items("health_by_tag@1", library=library, transform=lambda im: (im.size, im.tobytes()[:64]))
    assert len(items) == 12  # the 8 + 4 demo files the recipe selects
    assert items.pinned.dataset.get_dataset_items(items.ids[0]).image.url.startswith("lake://")
    reads = []
    lake = items.pinned.dataset._lake
    real = lake.read_objects
    lake.read_objects = lambda shas: reads.append(len(shas)) or real(shas)
    batch = items.load_many([3, 1, 0])
    assert reads == [3]  # one lake read for the batch
    assert [t["id"] for _, t in batch] == [items.ids[i] for i in (3, 1, 0)]
    singles = [items.load(i) for i in (3, 1, 0)]
    assert [b[0] for b in batch] == [s[0] for s in singles] and all(b[0][0][0] > 0 for b in batch)
