"""Lake ingest on a real Dask cluster (scheduler + 2 worker processes started by the module fixture):
the same lake as a local upload, dedup, versions on change, per-file errors, retries, a worker
killed mid-ingest, a worker dying every time, a file changed between the two phases, the CLI and the
ingest flow's runner."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from dask_faults import faulty_workers, gone
from typer.testing import CliRunner

from pinlake.errors import InputFileError, RunnerError
from pinlake.lake import ErrorManager, Lake
from pinlake.lake.dask_ingest import ingest_on_dask
from pinlake.lake.upload import local_items

#: data columns that differ between two uploads of the same files (fresh ids, commit times)
VOLATILE = ["id", "created_at"]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """40 demo images (JPEG) in train/ and test/ folders, plus one duplicate of the first."""
    from pinlake.demo.data import generate_health_images

    root = tmp_path_factory.mktemp("dask-ingest")
    generate_health_images(root / "assets", n_train=30, n_test=10)
    files = sorted(p for p in (root / "assets").rglob("*") if p.is_file() and p.suffix in (".jpg", ".png", ".jpeg"))
    assert len(files) >= 20
    shutil.copy(files[0], root / "assets" / "copy-of-first.jpg")
    return root / "assets"


def tree(folder: Path) -> tuple[list[str], list[str]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png", ".jpeg"))
    return [str(f) for f in files], [f.relative_to(folder).as_posix() for f in files]


def data_table(lake: Lake) -> pa.Table:
    return lake.store.open("data").to_table().drop_columns(VOLATILE).sort_by([("object_name", "ascending"), ("version", "ascending")])


def objects_table(lake: Lake) -> pa.Table:
    """Every object with its bytes, by sha256."""
    ds = lake.store.open("objects")
    t = ds.to_table(columns=["sha256", "size", "uri"], with_row_id=True).sort_by("sha256")
    blobs = ds.take_blobs("blob", ids=t["_rowid"].to_pylist())
    content = [b.readall() for b in blobs]
    return t.drop_columns(["_rowid"]).append_column("content", pa.array(content, pa.binary()))


def commit_props(lake: Lake, table: str) -> dict:
    ds = lake.store.open(table)
    return ds.read_transaction(ds.version).transaction_properties or {}


def test_dask_ingest_equals_local_upload(dask_cluster, images, tmp_path):
    paths, names = tree(images)
    local = Lake(tmp_path / "local")
    local.upload_data(paths, tags=["scan"], source="camera", object_names=names, metadata={"site": "basel"})
    lake = Lake(tmp_path / "dask")
    out = lake.upload_data(
        paths,
        tags=["scan"],
        source="camera",
        object_names=names,
        metadata={"site": "basel"},
        runner="dask",
        dask_address=dask_cluster.scheduler_address,
        tasks=5,
    )
    assert len(out) == len(paths)
    assert data_table(lake).equals(data_table(local))
    objs = objects_table(lake)
    assert objs.equals(objects_table(local))
    assert objs.num_rows == len(paths) - 1  # the copy is deduplicated: one object, two resources
    assert lake.find_data(object_name="copy-of-first.jpg").get_bytes() == Path(paths[0]).read_bytes()
    props = commit_props(lake, "objects")
    assert props["pinlake.operation"] == "lake.upload" and props["pinlake.runner"] == "dask"
    assert int(props["pinlake.hash_tasks"]) == 5 and int(props["pinlake.write_tasks"]) >= 1
    assert len(lake.store.open("objects").versions()) == 1  # one commit for every object of the call


def test_reingest_writes_only_new_bytes_and_versions_changed_files(dask_cluster, images, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(images, work)
    paths, names = tree(work)
    lake = Lake(tmp_path / "lake")
    addr = dask_cluster.scheduler_address
    lake.upload_data(paths, object_names=names, runner="dask", dask_address=addr, use_state=False)
    v1, objects_before = lake.version, lake.store.open("objects").count_rows()
    Path(paths[3]).write_bytes(Path(paths[3]).read_bytes() + b"\0changed")
    rows, report = ingest_on_dask(
        lake.store,
        local_items(paths, [None] * len(paths), names),
        tags=[],
        source=None,
        error_manager=None,
        fill_metadata=False,
        operation="lake.upload",
        address=addr,
        use_state=False,
    )
    assert (report.hashed, report.objects) == (len(paths), 1)  # every file hashed, one new object written
    assert lake.version == v1 + 1
    assert lake.store.open("objects").count_rows() == objects_before + 1
    changed = lake.find_data(object_name=names[3])
    assert changed.version == 2 and changed.get_bytes().endswith(b"\0changed")
    assert lake.find_data(object_name=names[4]).version == 1
    # unchanged bytes again: no new lake version
    lake.upload_data(paths, object_names=names, runner="dask", dask_address=addr, use_state=False)
    assert lake.version == v1 + 1


def test_bad_files_are_reported_or_refused_and_nothing_is_lost(dask_cluster, images, tmp_path):
    paths, names = tree(images)
    lake = Lake(tmp_path / "lake")
    addr = dask_cluster.scheduler_address
    lake.upload_data(paths[:5], object_names=names[:5], runner="dask", dask_address=addr)
    before = (lake.version, lake.store.open("objects").count_rows())
    bad = [str(tmp_path / "missing.jpg"), str(tmp_path)]
    with pytest.raises(InputFileError, match="missing.jpg") as exc:
        lake.upload_data(paths[5:10] + bad, object_names=names[5:10] + ["a.jpg", "b.jpg"], runner="dask", dask_address=addr)
    assert "file not found" in exc.value.message
    assert (lake.version, lake.store.open("objects").count_rows()) == before  # nothing written
    em = ErrorManager()
    out = lake.upload_data(
        paths[5:10] + bad, object_names=names[5:10] + ["a.jpg", "b.jpg"], runner="dask", dask_address=addr, error_manager=em
    )
    assert sorted(e.path for e in em.errors) == sorted(bad)
    assert {e.reason for e in em.errors} == {"file not found", "is a directory, not a file"}
    assert len(out) == 5 and lake.count() == 10


def test_transient_task_error_is_retried(dask_cluster, images, tmp_path):
    paths, names = tree(images)
    marker = tmp_path / "calls"
    lake = Lake(tmp_path / "lake")
    with faulty_workers(dask_cluster, "pinlake.lake.ingest_tasks", "load_chunk", str(marker), "raise-once"):
        lake.upload_data(paths, object_names=names, runner="dask", dask_address=dask_cluster.scheduler_address, tasks=3)
    assert len(marker.read_text().split()) == 4  # 3 hash tasks + the retried one
    assert lake.count() == len(paths)


def test_worker_killed_mid_ingest_task_recomputed(dask_cluster, images, tmp_path):
    paths, names = tree(images)
    marker = tmp_path / "calls"
    local = Lake(tmp_path / "local")
    local.upload_data(paths, object_names=names)
    lake = Lake(tmp_path / "lake")
    with faulty_workers(dask_cluster, "pinlake.lake.ingest_tasks", "load_chunk", str(marker), "exit-once"):
        lake.upload_data(paths, object_names=names, runner="dask", dask_address=dask_cluster.scheduler_address, tasks=4)
    died = Path(f"{marker}.died").read_text().split()
    assert len(died) == 1 and gone(int(died[0]))
    assert data_table(lake).equals(data_table(local)) and objects_table(lake).equals(objects_table(local))


def test_worker_dying_every_time_fails_cleanly_lake_unchanged(dask_cluster, images, tmp_path):
    paths, names = tree(images)
    lake = Lake(tmp_path / "lake")
    addr = dask_cluster.scheduler_address
    lake.upload_data(paths[:3], object_names=names[:3], runner="dask", dask_address=addr)
    before = (lake.version, lake.store.open("objects").version)
    with (
        faulty_workers(dask_cluster, "pinlake.lake.ingest_tasks", "write_objects", str(tmp_path / "calls"), "exit-always"),
        pytest.raises(InputFileError) as exc,
    ):
        lake.upload_data(paths, object_names=names, runner="dask", dask_address=addr, tasks=2)
    assert exc.value.message.startswith("write task") and "died" in exc.value.message
    assert "unchanged" in exc.value.hint
    assert (lake.version, lake.store.open("objects").version) == before
    assert lake.count() == 3


def test_file_changed_between_hash_and_write_is_refused(dask_cluster, images, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(images, work)
    paths, names = tree(work)
    lake = Lake(tmp_path / "lake")
    victim = Path(paths[2])

    def change_after_hashing(n: int) -> None:  # called as the (single) hash task finishes
        victim.write_bytes(victim.read_bytes() + b"edited")

    with pytest.raises(InputFileError, match="changed while it was being ingested") as exc:
        lake.upload_data(
            paths, object_names=names, runner="dask", dask_address=dask_cluster.scheduler_address, tasks=1, progress=change_after_hashing
        )
    assert str(victim) in exc.value.message
    assert lake.store.open_or_none("data") is None and lake.store.open_or_none("objects") is None


def test_bad_address_and_bad_runner_fail_fast(tmp_path, images):
    paths, names = tree(images)
    lake = Lake(tmp_path / "lake")
    with pytest.raises(RunnerError, match="127.0.0.1:9"):
        lake.upload_data(paths[:2], object_names=names[:2], runner="dask", dask_address="tcp://127.0.0.1:9")
    with pytest.raises(RunnerError, match="needs --dask-address"):
        lake.upload_data(paths[:2], object_names=names[:2], runner="dask")
    with pytest.raises(RunnerError, match="unknown runner"):
        lake.upload_data(paths[:2], object_names=names[:2], runner="spark")
    assert lake.store.open_or_none("data") is None


def test_cli_upload_on_dask(dask_cluster, images, tmp_path):
    from pinlake.cli import _register, app

    _register()
    lib = tmp_path / "library"
    res = CliRunner().invoke(
        app,
        [
            "lake",
            "upload",
            str(images),
            "--tag",
            "scan",
            "--runner",
            "dask",
            "--dask-address",
            dask_cluster.scheduler_address,
            "--tasks",
            "3",
            "-L",
            str(lib),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "hashed and written on dask" in " ".join(res.output.split())
    lake = Lake(lib / "_lake")
    assert lake.count() == len([p for p in images.rglob("*") if p.is_file()])  # every file, metadata.jsonl too
    assert lake.list_data(limit=1)[0].tags == ["scan"]
    bad = CliRunner().invoke(
        app, ["lake", "upload", str(images), "--runner", "dask", "--dask-address", "tcp://127.0.0.1:9", "-L", str(lib)]
    )
    assert bad.exit_code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in " ".join(bad.output.split())
    assert "Traceback" not in bad.output


def test_ingest_flow_on_dask_through_a_prefect_server(prefect_server, dask_cluster, images, tmp_path):
    """`pinlake ingest --server --runner dask`: a real flow run whose upload task hashes and writes on
    the cluster; the run is Completed and the commit's lineage names it and the runner."""
    import inspect
    import json
    import subprocess
    import sys

    from flows.ingest import ingest

    assert {"runner", "dask_address"} <= set(inspect.signature(ingest.fn).parameters)
    lib = tmp_path / "library"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinlake",
            "ingest",
            str(images),
            "--tag",
            "scan",
            "--library",
            str(lib),
            "--server",
            "--runner",
            "dask",
            "--dask-address",
            dask_cluster.scheduler_address,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["data"] == len([p for p in images.rglob("*") if p.is_file()]) and not result["errors"]
    props = commit_props(Lake(lib / "_lake"), "objects")
    assert props["pinlake.runner"] == "dask" and props["pinlake.flow_run_id"]
