"""A library on S3 (a real moto_server), end to end through the CLI: lake upload → recipe lock →
build from the lock → stats/preview on S3 → versions/tag/diff/restore → catalog → sql → pinned open."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import pinlake
from pinlake.cli import _register, app

_register()
runner = CliRunner()

RECIPE = """
import pinlake


@pinlake.recipe()
def small(client):
    out = {"train": [], "test": []}
    for i, d in enumerate(sorted(client.list_data(), key=lambda d: d.object_name)):
        out["test" if i % 3 == 0 else "train"].append(d)
    return out
"""


def cli(*args: str) -> str:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def jpegs(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        Image.fromarray(np.full((12 + i, 20, 3), 30 * i % 255, np.uint8)).save(folder / f"img{i:02d}.jpg")
    return folder


def keys(s3_env: dict[str, str], bucket: str, prefix: str) -> set[str]:
    s3 = boto3.client("s3", endpoint_url=s3_env["PINLAKE_S3_ENDPOINT"], region_name="us-east-1")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :] for p in pages for o in p.get("Contents", [])}


def test_cli_end_to_end_on_s3(bucket, s3_env, tmp_path, monkeypatch):
    lib = f"s3://{bucket}/lib"
    images = jpegs(tmp_path / "imgs", 6)
    (tmp_path / "meta.json").write_text(json.dumps({"image_type": "xray"}))
    recipe = tmp_path / "small.py"
    recipe.write_text(RECIPE)

    out = cli("lake", "upload", str(images), "--metadata-file", str(tmp_path / "meta.json"), "--tag", "xr", "--library", lib)
    assert "uploaded 6 file(s); lake version 1" in out
    cli("datasets", "lock", "--file", str(recipe), "--library", lib)
    (lock_hash,) = {k.split("/")[0] for k in keys(s3_env, bucket, "lib/_locks/")}
    assert {"lock.json", "resources.train.jsonl", "resources.test.jsonl"} <= {k.split("/")[1] for k in keys(s3_env, bucket, "lib/_locks/")}

    out = cli("build", "--lock", f"{lib}/_locks/{lock_hash}", "--name", "small", "--library", lib)
    assert "Built small version 1" in out
    files = keys(s3_env, bucket, "lib/small/")
    for name in ("stats.json", "preview.png", "info.json", "schema.json", "features_values.json"):
        assert name in files, sorted(files)
    assert any(k.startswith("_versions.lance/_versions/") for k in files)
    assert not any(k == ".lock" for k in files)  # the lease is released
    s3 = boto3.client("s3", endpoint_url=s3_env["PINLAKE_S3_ENDPOINT"], region_name="us-east-1")
    stats = json.loads(s3.get_object(Bucket=bucket, Key="lib/small/stats.json")["Body"].read())
    assert stats["dataset_version"] == 1 and stats["items_per_split"] == {"train": 4, "test": 2}
    png = s3.get_object(Bucket=bucket, Key="lib/small/preview.png")["Body"].read()
    assert png.startswith(b"\x89PNG")

    # a new image: lock again, incremental build → version 2; diff, tag, restore
    jpegs(images, 1, start=6)
    cli("lake", "upload", str(images), "--metadata-file", str(tmp_path / "meta.json"), "--library", lib)
    cli("datasets", "lock", "--file", str(recipe), "--library", lib)
    new_hash = ({k.split("/")[0] for k in keys(s3_env, bucket, "lib/_locks/")} - {lock_hash}).pop()
    out = cli("build", "--lock", f"{lib}/_locks/{new_hash}", "--name", "small", "--library", lib)
    assert "Built small version 2" in out and "(incremental): +1 ~0 -0" in out
    diff = json.loads(cli("diff", "small", "1", "2", "--json", "--library", lib))
    assert diff["tables"]["item"] == {"added": 1, "removed": 0, "changed": 0}
    cli("tag", "small", "1", "first", "--library", lib)
    cli("restore", "small", "first", "--library", lib)
    versions = json.loads(cli("versions", "small", "--json", "--library", lib))
    assert [v["dataset_version"] for v in versions] == [1, 2, 3]
    assert versions[0]["tags"] == ["first"] and versions[2]["operation"] == "restore"
    assert all(v["available"] for v in versions)

    # catalog and SQL (DuckDB over the Lance tables on S3)
    cli("catalog", "sync", "--library", lib)
    rows = json.loads(cli("sql", "SELECT split, count(*) AS n FROM small.item GROUP BY split ORDER BY split", "--json", "--library", lib))
    assert rows == [{"split": "test", "n": 2}, {"split": "train", "n": 4}]  # version 3 = restore of 1
    rows = json.loads(cli("sql", "SELECT count(*) AS n FROM small.item", "--at", "small=2", "--json", "--library", lib))
    assert rows == [{"n": 7}]
    lineage = json.loads(
        cli(
            "sql",
            "SELECT dataset_version, lock_hash FROM catalog.lineage WHERE dataset = 'small' ORDER BY dataset_version",
            "--json",
            "--library",
            lib,
        )
    )
    assert [r["dataset_version"] for r in lineage] == [1, 2, 3] and lineage[0]["lock_hash"] == lock_hash
    assert json.loads(cli("sql", "SELECT count(*) AS n FROM lake.data", "--json", "--library", lib)) == [{"n": 7}]

    # pinned reads with the library from the environment
    monkeypatch.setenv("PINLAKE_LIBRARY", lib)
    pinned = pinlake.open("small@1")
    assert pinned.version == 1 and len(pinned) == 6
    assert sorted(pinned.to_arrow("item", columns=["split"]).column("split").to_pylist()) == ["test"] * 2 + ["train"] * 4
    assert len(pinlake.open("small@2")) == 7 and pinlake.open("small@first").version == 1
    item = pinlake.open("small@2").dataset.get_dataset_items(limit=1)[0]
    assert pinned.dataset.read_media(item.image)[:2] == b"\xff\xd8"  # JPEG bytes from the lake on S3

    # the HTTP API over the same library: datasets, preview and lake objects come from S3
    from fastapi.testclient import TestClient

    from pinlake.api.app import create_app

    client = TestClient(create_app(lib), raise_server_exceptions=False)
    (d,) = client.get("/datasets/").json()
    assert d["name"] == "small" and d["num_items"] == 6 and d["latest_version"] == 3
    assert client.get("/datasets/small/preview.png").content.startswith(b"\x89PNG")
    r = client.get(f"/objects/{item.image.sha256}")
    assert r.status_code == 200 and r.content == pinned.dataset.read_media(item.image)


def test_folder_build_on_s3(bucket, s3_env, tmp_path):
    from pinlake.demo.data import generate_health_images

    src = tmp_path / "health_images"
    generate_health_images(src, n_train=3, n_test=2)
    lib = f"s3://{bucket}/folder-lib"
    out = cli("build", str(src), "--name", "health", "--library", lib)
    assert "Built health version 1: 5 items" in out
    out = cli("build", str(src), "--name", "health", "--mode", "overwrite", "--library", lib)
    assert "Built health version 2" in out
    files = keys(s3_env, bucket, "folder-lib/health/")
    assert {"stats.json", "preview.png", "info.json", "schema.json", "features_values.json"} <= files
    assert any(k.startswith("folder-lib/_catalog/") for k in keys(s3_env, bucket, ""))  # catalogued on S3
    rows = json.loads(cli("sql", "SELECT dataset_version FROM catalog.lineage ORDER BY 1", "--json", "--library", lib))
    assert rows == [{"dataset_version": 1}, {"dataset_version": 2}]
    ds = pinlake.connect(lib).get_dataset("health")
    assert ds.version == 2 and ds.num_items == 5 and ds.stats["dataset_version"] == 2


def test_s3_library_is_not_a_local_path(bucket, s3_env, tmp_path, monkeypatch):
    """Nothing lands on local disk: the library exists only in the bucket."""
    monkeypatch.chdir(tmp_path)
    lib = pinlake.connect(f"s3://{bucket}/x")
    lake = lib.get_datalake()
    lake.upload_data(str(jpegs(tmp_path / "i", 1) / "img00.jpg"))
    assert not (tmp_path / "s3:").exists() and not any(p.name.startswith("s3") for p in tmp_path.iterdir())
    assert "x/_lake/data.lance/_versions/" in "".join(sorted(keys(s3_env, bucket, "")))


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:1"])
def test_unreachable_endpoint_is_one_clear_error(endpoint, s3_env, monkeypatch):
    import time

    monkeypatch.setenv("PINLAKE_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("PINLAKE_S3_TIMEOUT", "3")
    t0 = time.monotonic()
    res = runner.invoke(app, ["ls", "--library", "s3://nowhere/lib"])
    assert res.exit_code == 1
    assert time.monotonic() - t0 < 10
    assert "cannot reach s3://nowhere/lib at http://127.0.0.1:1: connection refused" in res.output
    assert "PINLAKE_S3_ENDPOINT" in res.output and "Traceback" not in res.output


def test_wrong_credentials_are_one_clear_error(s3_env, moto_factory, monkeypatch):
    endpoint = moto_factory({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})  # this server checks credentials
    monkeypatch.setenv("PINLAKE_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong")
    res = runner.invoke(app, ["versions", "small", "--library", "s3://guarded/lib"])
    assert res.exit_code == 1
    assert f"access to s3://guarded/lib at {endpoint} denied" in res.output
    assert "AWS_ACCESS_KEY_ID" in res.output and "Traceback" not in res.output


def test_missing_bucket_is_named(s3_env):
    res = runner.invoke(app, ["ls", "--library", "s3://no-such-bucket-here/lib"])
    assert res.exit_code == 1 and "bucket 'no-such-bucket-here'" in res.output and "Traceback" not in res.output


def test_materialize_a_lock_stored_on_s3(bucket, s3_env, tmp_path):
    """`pinlake materialize -f s3://…/resources.train.jsonl`: the lockfile and the lake are in the
    bucket; files come out locally with their locked sha256, and a parquet of the rows."""
    import hashlib

    import pyarrow.parquet as pq

    lib = f"s3://{bucket}/mat"
    images = jpegs(tmp_path / "imgs", 6)
    recipe = tmp_path / "small.py"
    recipe.write_text(RECIPE)
    cli("lake", "upload", str(images), "--library", lib)
    cli("datasets", "lock", "--file", str(recipe), "--library", lib)
    (lock_hash,) = {k.split("/")[0] for k in keys(s3_env, bucket, "mat/_locks/")}
    lockfile = f"{lib}/_locks/{lock_hash}/resources.train.jsonl"
    out = cli("materialize", "-f", lockfile, "-m", "folder", "-m", "parquet", "--out", str(tmp_path / "export"))
    assert "folder: 4 file(s)" in out
    files = sorted((tmp_path / "export" / "train").iterdir())
    assert len(files) == 4
    for f in files:
        assert hashlib.sha256(f.read_bytes()).digest() == hashlib.sha256((images / f.name).read_bytes()).digest()
    (parquet,) = list((tmp_path / "export").glob("*.parquet"))
    assert pq.read_table(parquet).num_rows == 4
    # a missing lockfile on S3 is named
    res = runner.invoke(
        app, ["materialize", "-f", f"{lib}/_locks/{lock_hash}/resources.val.jsonl", "-m", "folder", "--out", str(tmp_path / "x")]
    )
    assert res.exit_code == 1 and "resources.val.jsonl" in res.output and "does not exist" in res.output


def test_store_dying_mid_command_is_one_clear_error(s3_env, moto_factory, monkeypatch, tmp_path):
    """The endpoint dies in the middle of an upload (after the lake was opened and the files hashed):
    one error naming the failed request and the endpoint, no traceback."""
    import boto3

    import pinlake.lake.upload as up

    endpoint = moto_factory()
    monkeypatch.setenv("PINLAKE_S3_ENDPOINT", endpoint)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="fragile")
    images = jpegs(tmp_path / "imgs", 4)
    cli("lake", "upload", str(images / "img00.jpg"), "--library", "s3://fragile/lib")
    real = up._process

    def dying(*args, **kwargs):
        moto_factory.kill(endpoint)
        return real(*args, **kwargs)

    monkeypatch.setattr(up, "_process", dying)
    res = runner.invoke(app, ["lake", "upload", str(images), "--library", "s3://fragile/lib"])
    out = " ".join(res.output.split())
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "rust" not in out
    assert f"Error: object storage failed during the operation: GET {endpoint}/fragile/lib/_lake/objects.lance/" in out
    assert "error sending request" in out and "run the same command again" in out


def test_lance_storage_errors_are_recognised_and_others_left_alone():
    from pinlake.storage import lance_storage_error

    raw = (
        "External error: LanceError(IO): Generic N/A error: LanceError(IO): Generic S3 error: Error performing GET "
        "http://127.0.0.1:44665/b/lib/_lake/objects.lance/data/00.lance in 226.9ms, after 2 retries, max_retries: 2, "
        "retry_timeout: 10s  - HTTP error: error sending request, /home/runner/work/lance/rust/lance-io/src/object_reader.rs:335:56"
    )
    err = lance_storage_error(OSError(raw))
    assert err is not None
    assert err.message == (
        "object storage failed during the operation: GET "
        "http://127.0.0.1:44665/b/lib/_lake/objects.lance/data/00.lance: error sending request"
    )
    assert lance_storage_error(ValueError("invalid literal for int()")) is None
    assert lance_storage_error(KeyError("LanceError(IO)")) is None


def test_ranged_read_of_an_object(bucket, s3_env):
    from pinlake.storage import location

    obj = location(f"s3://{bucket}/ranges/data.bin")
    obj.write_bytes(bytes(range(256)) * 4)
    assert obj.read_range(10, 20) == bytes(range(10, 20))
    assert obj.read_range(250, 262) == bytes(range(250, 256)) + bytes(range(6))
    assert obj.read_range(5, 5) == b""
    with pytest.raises(FileNotFoundError):
        location(f"s3://{bucket}/ranges/missing.bin").read_range(0, 4)


def test_maintain_on_s3_compacts_and_indexes_the_lake_and_a_dataset(bucket, s3_env, tmp_path):
    """`pinlake maintain` on an S3 library: the lake's and the dataset's tables are compacted and
    indexed on the bucket, and what was pinned before reads the same after."""
    import lance

    from pinlake.storage import storage_options

    lib = f"s3://{bucket}/lib"
    images = jpegs(tmp_path / "imgs", 6)
    (tmp_path / "meta.json").write_text(json.dumps({"image_type": "xray"}))
    for name in sorted(p.name for p in images.iterdir()):  # one upload per file: a fragment each
        cli("lake", "upload", str(images / name), "--metadata-file", str(tmp_path / "meta.json"), "--library", lib)
    assert "_lake/lake.json" in keys(s3_env, bucket, "lib/")  # the lake's identity, on the bucket
    recipe = tmp_path / "small.py"
    recipe.write_text(RECIPE)
    cli("datasets", "lock", "--file", str(recipe), "--library", lib)
    (lock_hash,) = {k.split("/")[0] for k in keys(s3_env, bucket, "lib/_locks/")}
    cli("build", "--lock", f"{lib}/_locks/{lock_hash}", "--name", "small", "--library", lib)
    before = sorted(pinlake.open("small@1", library=lib).to_arrow("item", columns=["id", "split"]).to_pylist(), key=str)
    opts = storage_options(lib)
    assert len(lance.dataset(f"{lib}/_lake/data.lance", storage_options=opts).get_fragments()) == 6

    report = json.loads(cli("maintain", "--fragments", "1", "--json", "--library", lib))
    assert report["lake_indexes"] == {"data": ["id_idx", "object_name_idx"], "objects": ["sha256_idx"]}
    assert report["versions"] == {"small": 2} and "item" in report["indexes"]["small"]
    data = lance.dataset(f"{lib}/_lake/data.lance", storage_options=opts)
    assert len(data.get_fragments()) == 1
    assert {ix.name for ix in data.describe_indices()} == {"id_idx", "object_name_idx"}
    item = lance.dataset(f"{lib}/small/db/item.lance", storage_options=opts)
    assert "id_idx" in {ix.name for ix in item.describe_indices()}
    # the index answers lookups on the bucket, and the pinned version reads as before
    lake = pinlake.connect(lib).get_datalake()
    name = lake.list_data()[0].object_name
    assert lake.get_resource(name).object_name == name
    assert sorted(pinlake.open("small@1", library=lib).to_arrow("item", columns=["id", "split"]).to_pylist(), key=str) == before
    assert sorted(pinlake.open("small@2", library=lib).to_arrow("item", columns=["id", "split"]).to_pylist(), key=str) == before
    ids = [r["id"] for r in before[:2]]
    assert sorted(i.id for i in pinlake.open("small@2", library=lib).dataset.get_data("item", ids=ids)) == sorted(ids)
