"""A distributed build of a library on S3 (a real moto_server): two Dask worker processes read the lock
and the lake from the bucket and write their fragments there; the coordinator commits. Same tables
as the local build of the same lock."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _set_env(env: dict[str, str]) -> None:
    os.environ.update(env)


def test_dask_build_of_an_s3_library_equals_the_local_build(dask_cluster, bucket, s3_env, tmp_path):
    from pinlake.datasets.tables import table_uri
    from pinlake.demo.data import generate_health_images
    from pinlake.demo.lake import ingest_demo
    from pinlake.library import Library
    from pinlake.library.build import build_from_lock
    from pinlake.recipes.lockfile import lock_recipe
    from pinlake.storage import lance_dataset

    with dask_cluster.get_client() as client:  # the workers need the same storage settings as this process
        client.run(_set_env, s3_env)
    lib = Library(f"s3://{bucket}/lib")
    generate_health_images(tmp_path / "assets", n_train=10, n_test=4)
    ingest_demo(lib.get_datalake(), tmp_path / "assets")
    lock = lock_recipe(REPO / "recipes" / "health_by_tag.py", lib.get_datalake(), locks_dir=lib.locks_path)
    assert str(lock.path).startswith("s3://")

    local = build_from_lock(lib, str(lock.path), "local", embed=True, compute_stats=False).dataset
    res = build_from_lock(
        lib,
        str(lock.path),
        "on_dask",
        embed=True,
        runner="dask",
        dask_address=dask_cluster.scheduler_address,
        shards=3,
        compute_stats=False,
    )
    assert (res.runner, res.version) == ("dask", 1) and len(res.timings["workers"]) >= 1
    for t, v in local.state.tables.items():
        want = lance_dataset(table_uri(local.path, t), version=v).to_table().drop_columns(["created_at", "updated_at"]).sort_by("id")
        got = lance_dataset(table_uri(res.dataset.path, t), version=res.dataset.state.tables[t]).to_table()
        got = got.drop_columns(["created_at", "updated_at"]).sort_by("id")
        assert got.equals(want), f"table {t!r} differs"


def test_dask_ingest_into_an_s3_lake(dask_cluster, bucket, s3_env, tmp_path):
    """Files on a filesystem every worker sees; the lake in the bucket: workers write the object
    fragments into S3, the coordinator commits once. Same rows and bytes as a local upload."""
    from pinlake.demo.data import generate_health_images
    from pinlake.lake import Lake

    with dask_cluster.get_client() as client:
        client.run(_set_env, s3_env)
    generate_health_images(tmp_path / "assets", n_train=10, n_test=4)
    files = sorted(p for p in (tmp_path / "assets").rglob("*.jpg"))
    names = [p.relative_to(tmp_path / "assets").as_posix() for p in files]
    local = Lake(tmp_path / "local")
    local.upload_data([str(p) for p in files], tags=["mri"], object_names=names)
    lake = Lake(f"s3://{bucket}/lib/_lake")
    lake.upload_data(
        [str(p) for p in files], tags=["mri"], object_names=names, runner="dask", dask_address=dask_cluster.scheduler_address, tasks=3
    )

    def rows(lk):
        return lk.store.open("data").to_table().drop_columns(["id", "created_at"]).sort_by("object_name")

    assert rows(lake).equals(rows(local))
    ds = lake.store.open("objects")
    assert ds.count_rows() == len(files) and len(ds.versions()) == 1
    assert ds.read_transaction(ds.version).transaction_properties["pinlake.runner"] == "dask"
    for name, path in zip(names[:3], files[:3]):
        assert lake.find_data(object_name=name).get_bytes() == path.read_bytes()
