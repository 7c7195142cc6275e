"""Concurrent writers on a library in S3 (a real moto_server): dataset versions stay dense, none lost.

Two processes write to one dataset at once through their own handles (the S3 lease serialises
them); two threads append to one version log with no lease at all (Lance's conditional commit of
the log is the fence); a lease whose holder died is taken over after its ttl.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pinlake
from pinlake.datasets.versions import VersionLog
from pinlake.errors import BuildError
from pinlake.storage import S3Lease, location

WRITER = textwrap.dedent("""
    import sys
    import pinlake

    lib, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ds = pinlake.connect(lib).get_dataset("health")
    for i in range(n):
        ds.add_data("source", [{"id": f"{who}-{i}", "name": f"{who} {i}", "kind": "other"}])
    print("done", who)
""")


@pytest.fixture
def s3_dataset(bucket, tmp_path):
    from pinlake.demo.data import generate_health_images
    from pinlake.library.build import build_folder

    src = tmp_path / "health_images"
    generate_health_images(src, n_train=2, n_test=1)
    lib = f"s3://{bucket}/lib"
    build_folder(pinlake.connect(lib), src, "health")
    return lib


def test_two_processes_write_one_dataset(s3_dataset, s3_env, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    n = 4
    env = {**os.environ, **s3_env, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), s3_dataset, who, str(n)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for who in ("a", "b")
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    ds = pinlake.connect(s3_dataset).get_dataset("health")
    versions = [v.dataset_version for v in ds.versions()]
    assert versions == list(range(1, 2 + 2 * n))  # the build, then one per write: dense, no duplicates
    ids = set(ds.to_arrow("source", columns=["id"]).column("id").to_pylist())
    assert {f"{w}-{i}" for w in "ab" for i in range(n)} <= ids  # no write lost
    # each version names a distinct, increasing source table version
    source_versions = [v.tables["source"] for v in ds.versions()]
    assert source_versions == sorted(set(source_versions))
    assert not location(s3_dataset).joinpath("health", ".lock").exists()  # leases released


def test_log_commit_is_fenced_without_any_lock(s3_dataset):
    """Writers that skip the lease entirely still never commit the same number (Lance refuses stale log commits)."""
    log = VersionLog(location(s3_dataset) / "health")
    base = log.latest()
    results: list[int] = []
    refused: list[str] = []
    barrier = threading.Barrier(2)

    def writer(who: str) -> None:
        barrier.wait()
        for _ in range(3):
            try:
                results.append(log.append("test", base.tables, base.rows, {"pinlake.writer": who}).dataset_version)
            except BuildError as exc:
                refused.append(exc.message)

    threads = [threading.Thread(target=writer, args=(w,)) for w in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = [e.dataset_version for e in log.entries()]
    assert numbers == list(range(1, len(numbers) + 1))  # dense
    assert sorted(results) == numbers[1:]  # every success is in the log exactly once; nothing else is
    assert len(results) + len(refused) == 6
    assert all("another writer committed" in m for m in refused)


def test_dead_lease_is_taken_over(bucket, s3_env):
    path = location(f"s3://{bucket}/locks/.lock")
    dead = S3Lease(path, ttl=1.0, timeout=5)
    dead.acquire()
    dead._stop.set()  # the holder dies: no more renewals, no release
    t0 = time.monotonic()
    alive = S3Lease(path, ttl=1.0, timeout=10)
    alive.acquire()
    assert 0.5 < time.monotonic() - t0 < 8
    dead.release()  # a late release of the dead holder must not delete the new lease
    assert path.exists()
    alive.release()
    assert not path.exists()


def test_lease_excludes_while_renewed(bucket, s3_env):
    path = location(f"s3://{bucket}/locks/held.lock")
    holder = S3Lease(path, ttl=1.5, timeout=5)
    holder.acquire()
    try:
        waiter = S3Lease(path, ttl=1.5, timeout=3)
        from pinlake.errors import StorageError

        with pytest.raises(StorageError, match="timed out after 3s waiting for the lock"):
            waiter.acquire()  # the holder keeps renewing: never taken over
    finally:
        holder.release()
    assert not path.exists()


def test_stale_log_writer_is_refused(s3_dataset):
    """A writer that read the log before another commit (a lapsed lease) cannot commit over it."""
    from pinlake.storage import lance_dataset

    log = VersionLog(location(s3_dataset) / "health")
    base = log.latest()
    stale_read = lance_dataset(log.uri)  # what the stalled writer read
    log.append("other", base.tables, base.rows, {})  # meanwhile another writer commits version 2

    class Stalled(VersionLog):
        def _open(self):  # noqa: ANN202
            return stale_read

    with pytest.raises(BuildError, match="another writer committed a version"):
        Stalled(log.dataset_path).append("stale", base.tables, base.rows, {})
    assert [(e.dataset_version, e.operation) for e in log.entries()][-1] == (2, "other")
    assert len(log.entries()) == 2


def test_concurrent_lake_uploads_on_s3(bucket, s3_env, tmp_path):
    """Two Lake handles upload at once (each takes the lake's lease): no duplicate ids, nothing lost."""
    import numpy as np
    from PIL import Image

    from pinlake.lake import Lake

    folders = {}
    for who in "ab":
        d = tmp_path / who
        d.mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8 + i, 3), 40 if who == "a" else 90, np.uint8)).save(d / f"{who}{i}.png")
        (d / "shared.bin").write_bytes(b"same bytes in both uploads")
        folders[who] = sorted(str(p) for p in d.iterdir())
    root = f"s3://{bucket}/lib/_lake"
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def upload(who: str) -> None:
        try:
            barrier.wait()
            Lake(root).upload_data(folders[who], tags=[who])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(w,)) for w in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    data = Lake(root).to_arrow(all_versions=True)
    ids = data.column("id").to_pylist()
    assert len(ids) == len(set(ids))  # merge_insert under one lease at a time: no duplicate keys
    names = sorted(data.column("object_name").to_pylist())
    assert names == sorted({"a0.png", "a1.png", "a2.png", "b0.png", "b1.png", "b2.png", "shared.bin"})
