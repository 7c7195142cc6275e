"""Lock builds on a real Dask cluster (scheduler + 2 worker processes started by the module fixture):
same tables as the local build, retries, a worker killed mid-build, a coordinator that dies before
its commit, bad addresses, the CLI and the refresh build step."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lance
import pyarrow as pa
import pytest
from cluster_checks import whole_cluster
from dask_faults import gone
from lake_changes import upload_extra_image
from typer.testing import CliRunner

from pinlake.datasets.build import dask_build as distributed
from pinlake.datasets.versions import VersionLog
from pinlake.errors import BuildError, InputFileError, RunnerError
from pinlake.library.build import build_from_lock
from pinlake.recipes.lockfile import read_lock

TIMESTAMPS = ("created_at", "updated_at")


def table_contents(dataset) -> dict[str, pa.Table]:
    """Every table of the dataset's latest version, sorted by id, timestamps aside."""
    out = {}
    for t, v in dataset.state.tables.items():
        tab = lance.dataset(str(Path(dataset.path) / "db" / f"{t}.lance"), version=v).to_table()
        out[t] = tab.drop_columns([c for c in TIMESTAMPS if c in tab.column_names]).sort_by("id")
    return out


def build_times(dataset) -> set:
    """The distinct created_at / updated_at values over every table."""
    seen = set()
    for t, v in dataset.state.tables.items():
        tab = lance.dataset(str(Path(dataset.path) / "db" / f"{t}.lance"), version=v).to_table(columns=list(TIMESTAMPS))
        for c in TIMESTAMPS:
            seen |= set(tab.column(c).unique().to_pylist())
    return seen


def crashing_item(path: Path, marker: Path, mode: str) -> str:
    """A DatasetItem file whose import, inside a Dask worker, fails: ``exit-once`` kills the worker
    process the first time, ``exit-always`` every time, ``raise-once`` raises OSError once. The
    marker file (created atomically) records each import in a worker. Returns its FILE.py:Class."""
    path.write_text(
        "import os\n"
        "from pinlake.demo.data import HealthDatasetItem\n\n"
        f"MARKER, MODE = {str(marker)!r}, {mode!r}\n\n"
        "def _in_worker():\n"
        "    try:\n"
        "        from distributed import get_worker\n"
        "        get_worker()\n"
        "        return True\n"
        "    except Exception:\n"
        "        return False\n\n"
        "if _in_worker():\n"
        "    try:\n"
        "        os.close(os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY))\n"
        "        first = True\n"
        "    except FileExistsError:\n"
        "        first = False\n"
        "    with open(MARKER, 'a') as fh:\n"
        "        fh.write(f'{os.getpid()}\\n')\n"
        "    if MODE == 'exit-always' or (MODE == 'exit-once' and first):\n"
        "        with open(MARKER + '.died', 'a') as fh:\n"
        "            fh.write(f'{os.getpid()}\\n')\n"
        "        os._exit(1)\n"
        "    if MODE == 'raise-once' and first:\n"
        "        raise OSError('transient: the lake disk hiccupped')\n\n"
        "class CrashingItem(HealthDatasetItem):\n"
        "    pass\n"
    )
    return f"{path}:CrashingItem"


def assert_same_tables(dataset, reference) -> None:
    got, want = table_contents(dataset), table_contents(reference)
    assert sorted(got) == sorted(want)
    for t in want:
        assert got[t].num_rows == want[t].num_rows, t
        assert got[t].equals(want[t]), f"table {t!r} differs from the local build"


def test_dask_build_equals_local_build(dask_cluster, lake_project, local_build):
    lib, lock = lake_project
    res = build_from_lock(lib, lock, "on_dask", embed=True, runner="dask", dask_address=dask_cluster.scheduler_address, shards=5)
    ds = res.dataset
    assert (res.runner, res.shards, res.mode, ds.version) == ("dask", 5, "create", 1)
    assert_same_tables(ds, local_build)
    names = sorted({json.loads(line)["object_name"] for _, _, line in read_lock(lock, lib.get_datalake()).lines()})
    assert list(res.added) == names and len(res.added) == ds.num_items  # counted, then read from the lock here
    assert table_contents(ds)["image"].column("content").null_count == 0  # embedded bytes compared too
    assert len(build_times(ds)) == 1  # every shard stamps the coordinator's build time
    entry, ref = VersionLog(ds.path).latest(), VersionLog(local_build.path).latest()
    assert entry.operation == ref.operation == "build:create"
    assert set(entry.lineage) == set(ref.lineage) and entry.lock_hash == ref.lock_hash
    assert "5 shards on dask" in entry.message
    for t, v in entry.tables.items():  # one commit per table
        assert v == 1 and lance.dataset(str(ds.path / "db" / f"{t}.lance")).version == 1
        props = lance.dataset(str(ds.path / "db" / f"{t}.lance")).versions()[-1].get("transaction_properties") or {}
        assert not props or props.get("pinlake.lock_hash") == ref.lock_hash
    assert (ds.path / "stats.json").is_file() and ds.num_items == 40


def test_overwrite_then_unchanged(dask_cluster, lake_project, local_build):
    lib, lock = lake_project
    addr = dask_cluster.scheduler_address
    build_from_lock(lib, lock, "twice", runner="dask", dask_address=addr, compute_stats=False)
    res = build_from_lock(lib, lock, "twice", mode="overwrite", embed=True, runner="dask", dask_address=addr, shards=3, compute_stats=False)
    assert (res.mode, res.version, res.shards) == ("overwrite", 2, 3)
    assert_same_tables(res.dataset, local_build)
    again = build_from_lock(lib, lock, "twice", runner="dask", dask_address=addr)
    assert again.unchanged and again.version == 2


def test_transient_shard_error_is_retried(dask_cluster, lake_project, local_build, tmp_path):
    lib, lock = lake_project
    marker = tmp_path / "imports"
    item = crashing_item(tmp_path / "raise_once.py", marker, "raise-once")
    res = build_from_lock(
        lib,
        lock,
        "retried",
        dataset_item=item,
        embed=True,
        runner="dask",
        dask_address=dask_cluster.scheduler_address,
        shards=4,
        compute_stats=False,
    )
    assert res.version == 1
    assert len(marker.read_text().split()) >= 5  # 4 shards + the retried one
    assert_same_tables(res.dataset, local_build)


def test_worker_killed_mid_build_shard_recomputed(dask_cluster, lake_project, local_build, tmp_path):
    lib, lock = lake_project
    marker = tmp_path / "imports"
    item = crashing_item(tmp_path / "exit_once.py", marker, "exit-once")
    res = build_from_lock(
        lib,
        lock,
        "survivor",
        dataset_item=item,
        embed=True,
        runner="dask",
        dask_address=dask_cluster.scheduler_address,
        shards=4,
        compute_stats=False,
    )
    pids = marker.read_text().split()
    assert len(pids) >= 5 and len(set(pids)) >= 2  # the first worker died; its shard ran again elsewhere
    died = Path(f"{marker}.died").read_text().split()
    assert len(died) == 1 and gone(int(died[0]))  # that worker process exited
    assert res.version == 1
    assert_same_tables(res.dataset, local_build)


def test_worker_dying_every_time_fails_cleanly_previous_version_stays(dask_cluster, lake_project, tmp_path):
    lib, lock = lake_project
    addr = dask_cluster.scheduler_address
    first = build_from_lock(lib, lock, "victim", runner="dask", dask_address=addr, shards=2, compute_stats=False).dataset
    before = {t: lance.dataset(str(first.path / "db" / f"{t}.lance")).version for t in first.state.tables}
    item = crashing_item(tmp_path / "exit_always.py", tmp_path / "imports", "exit-always")
    with pytest.raises(BuildError) as exc:
        build_from_lock(lib, lock, "victim", mode="overwrite", dataset_item=item, runner="dask", dask_address=addr, shards=2)
    assert "shard" in exc.value.message and "resources." in exc.value.message and "died" in exc.value.message
    assert VersionLog(first.path).latest().dataset_version == 1
    assert {t: lance.dataset(str(first.path / "db" / f"{t}.lance")).version for t in before} == before  # nothing committed
    # and a failed create leaves no half dataset behind, on a cluster whose workers are back
    whole_cluster(dask_cluster)
    with pytest.raises(BuildError) as exc:
        build_from_lock(lib, lock, "never_made", dataset_item=item, runner="dask", dask_address=addr, shards=2)
    assert "died" in exc.value.message
    assert not lib.dataset_path("never_made").exists()


def test_data_error_names_shard_file_and_line_without_retries(dask_cluster, lake_project, tmp_path):
    lib, lock = lake_project
    marker = tmp_path / "imports"
    crashing_item(tmp_path / "bad_item.py", marker, "count")
    src = (tmp_path / "bad_item.py").read_text() + "\n\nclass BadItem(HealthDatasetItem):\n    image_type: int\n"
    (tmp_path / "bad_item.py").write_text(src)
    with pytest.raises(InputFileError) as exc:
        build_from_lock(
            lib,
            lock,
            "bad",
            dataset_item=f"{tmp_path / 'bad_item.py'}:BadItem",
            runner="dask",
            dask_address=dask_cluster.scheduler_address,
            shards=2,
        )
    msg = exc.value.message
    assert msg.startswith("shard ") and ".jsonl:" in msg and "image_type" in msg
    assert len(marker.read_text().split()) <= 3  # shards ran once each (no retries of a data error)
    assert not lib.dataset_path("bad").exists()


def test_coordinator_dying_before_commit_changes_nothing(dask_cluster, lake_project, local_build, monkeypatch):
    lib, lock = lake_project
    addr = dask_cluster.scheduler_address
    build_from_lock(lib, lock, "steady", runner="dask", dask_address=addr, compute_stats=False)
    path = lib.dataset_path("steady")
    before = {t: lance.dataset(str(path / "db" / f"{t}.lance")).version for t in VersionLog(path).latest().tables}

    def die(*args, **kwargs):  # the coordinator process is killed after its shards finished
        raise KeyboardInterrupt("coordinator killed before its commit")

    monkeypatch.setattr(distributed, "commit_build", die)
    with pytest.raises(KeyboardInterrupt):
        build_from_lock(lib, lock, "steady", mode="overwrite", runner="dask", dask_address=addr, shards=3)
    assert VersionLog(path).latest().dataset_version == 1
    assert {t: lance.dataset(str(path / "db" / f"{t}.lance")).version for t in before} == before
    assert len(list((path / "db" / "item.lance" / "data").iterdir())) > 1  # the shards did write, uncommitted
    monkeypatch.undo()
    res = build_from_lock(
        lib, lock, "steady", mode="overwrite", runner="dask", dask_address=addr, shards=3, embed=True, compute_stats=False
    )
    assert res.version == 2
    assert_same_tables(res.dataset, local_build)


def test_a_name_locked_twice_is_refused_as_the_local_build_refuses_it(dask_cluster, lake_project, tmp_path):
    """A recipe with overlapping splits (``disjoint=False``) locks a name twice: one item each cannot
    be made. The local build refuses it at its first duplicate id; a Dask build, whose shards check
    their own ids only, refuses it before any shard runs, naming the name; nothing is written."""
    from pinlake.errors import ValidationError
    from pinlake.recipes.lockfile import lock_recipe

    lib, _ = lake_project
    recipe = tmp_path / "overlap.py"
    recipe.write_text(
        "import pinlake\n@pinlake.recipe(disjoint=False)\ndef overlap(client):\n"
        "    t = client.select(\"object_name LIKE 'health/%'\", columns=['id'], order_by=['object_name'])\n"
        "    return {'all': t, 'few': t.slice(0, 2)}\n"
    )
    lock = lock_recipe(recipe, lib.get_datalake(), locks_dir=tmp_path / "locks")
    first = json.loads(read_lock(lock.path, lib.get_datalake()).file("few").read_text().splitlines()[0])["object_name"]
    with pytest.raises(ValidationError, match="already has a row with id"):
        build_from_lock(lib, lock.path, "overlap_local", compute_stats=False)
    with pytest.raises(ValidationError, match=f"names {first!r} more than once \\(2 names"):
        build_from_lock(lib, lock.path, "overlap_dask", runner="dask", dask_address=dask_cluster.scheduler_address, compute_stats=False)
    assert not VersionLog(lib.dataset_path("overlap_dask")).exists()


def test_a_lock_naming_resources_not_in_the_lake_is_refused_before_any_shard_runs(dask_cluster, lake_project, tmp_path):
    """The coordinator checks the whole lock against the lake once (each shard checking its own
    lines scanned the lake's ids once a shard): a lock of another lake is refused as the local
    build refuses it, naming the resources, and no shard runs."""
    import pinlake
    from pinlake.recipes.errors import LockfileError

    _, lock = lake_project
    other = pinlake.connect(tmp_path / "other")
    marker = tmp_path / "imports"
    item = crashing_item(tmp_path / "item.py", marker, "count")
    with pytest.raises(LockfileError, match=r"names \d+ resource\(s\) no longer in the lake") as exc:
        build_from_lock(other, lock, "elsewhere", dataset_item=item, runner="dask", dask_address=dask_cluster.scheduler_address)
    assert not exc.value.message.startswith("shard ")
    assert not marker.exists()  # no worker loaded the item: no shard ran
    assert not VersionLog(other.dataset_path("elsewhere")).exists()


def test_lock_names_are_counted_before_any_shard_and_a_line_without_one_is_named(tmp_path):
    """The coordinator counts a lock's distinct names (no Dask needed): the names are read again,
    sorted, on first use; a line with no object name (a lock not written by pinlake) is an error
    naming the lock, not an index error."""
    from pinlake.errors import ValidationError
    from pinlake.recipes.lockfile import Lock

    (tmp_path / "resources.train.jsonl").write_text('{"id":"a","object_name":"y"}\n{"id":"b","object_name":"x"}\n')
    lock = Lock(tmp_path, {"splits": {"train": 2}}, ["train"])
    names = distributed.distinct_names(lock, 2)
    assert len(names) == 2 and list(names) == ["x", "y"]
    (tmp_path / "resources.train.jsonl").write_text('{"id":"a"}\n{"id":"b","object_name":"x"}\n')
    with pytest.raises(ValidationError, match="has 1 line\\(s\\) without an object_name"):
        distributed.distinct_names(lock, 2)


def test_bad_address_fails_fast_naming_it(lake_project):
    lib, lock = lake_project
    t0 = time.perf_counter()
    with pytest.raises(RunnerError) as exc:
        build_from_lock(lib, lock, "nowhere", runner="dask", dask_address="tcp://127.0.0.1:9")
    assert time.perf_counter() - t0 < 5
    assert "tcp://127.0.0.1:9" in exc.value.message and "dask scheduler" in exc.value.hint
    with pytest.raises(RunnerError, match="needs --dask-address"):
        build_from_lock(lib, lock, "nowhere", runner="dask")
    with pytest.raises(RunnerError, match="unknown runner"):
        build_from_lock(lib, lock, "nowhere", runner="spark")
    with pytest.raises(RunnerError, match="unknown scheme"):
        build_from_lock(lib, lock, "nowhere", runner="dask", dask_address="http://127.0.0.1:8786")
    assert not lib.dataset_path("nowhere").exists()


def test_without_dask_installed_the_error_says_how_to_get_it(lake_project, monkeypatch):
    import sys

    lib, lock = lake_project
    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` sees when it is not installed
    with pytest.raises(RunnerError) as exc:
        build_from_lock(lib, lock, "nowhere", runner="dask", dask_address="tcp://127.0.0.1:8786")
    assert exc.value.hint == 'pip install "pinlake[dask]"'


def test_cli_build_on_dask(dask_cluster, lake_project, local_build):
    from pinlake.cli import _register, app

    _register()
    lib, lock = lake_project
    cli = CliRunner()
    r = cli.invoke(
        app,
        [
            "build",
            "--lock",
            str(lock),
            "--name",
            "from_cli",
            "--embed",
            "--runner",
            "dask",
            "--dask-address",
            dask_cluster.scheduler_address,
            "--shards",
            "3",
            "-L",
            str(lib.path),
        ],
    )
    out = " ".join(r.output.split())
    assert r.exit_code == 0, r.output
    assert "from_cli version 1" in out and "3 shards on dask" in out
    assert_same_tables(lib.get_dataset("from_cli"), local_build)
    r = cli.invoke(
        app, ["build", "--lock", str(lock), "--name", "x", "--runner", "dask", "--dask-address", "tcp://127.0.0.1:9", "-L", str(lib.path)]
    )
    assert r.exit_code == 1 and "tcp://127.0.0.1:9" in " ".join(r.output.split()) and "Traceback" not in r.output
    r = cli.invoke(app, ["build", "--help"])
    assert "--runner dask --dask-address tcp://127.0.0.1:8786" in " ".join(r.output.split())


@pytest.fixture
def flow_project(tmp_path, dask_cluster):
    """A small demo lake plus a registry whose one entry builds on the test's Dask cluster."""
    from pinlake.demo.data import generate_health_images
    from pinlake.demo.lake import ingest_demo
    from pinlake.library import Library

    repo = Path(__file__).resolve().parents[2]
    assets = tmp_path / "assets"
    generate_health_images(assets, n_train=6, n_test=2)
    library = tmp_path / "library"
    ingest_demo(Library(library).ensure().get_datalake(), assets)
    reg = tmp_path / "recipes"
    reg.mkdir()
    (reg / "health_by_tag.py").write_text((repo / "recipes" / "health_by_tag.py").read_text())
    (reg / "datasets.yaml").write_text(
        "- name: health_by_tag\n  version: 1\n  description: test\n  script_location: ./health_by_tag.py\n"
        f"  dataset_item: pinlake.demo.data:HealthDatasetItem\n  runner: dask\n  dask_address: {dask_cluster.scheduler_address}\n"
    )
    return library, reg / "datasets.yaml", assets


def test_refresh_flow_build_task_on_dask(dask_cluster, flow_project, tmp_path):
    """The refresh flow's build task on the cluster (the registry entry says runner: dask), then an
    incremental refresh through the same task: only the diff is written, on the coordinator."""
    import inspect

    from flows.deployments import prefect_yaml
    from flows.refresh import build_task, refresh, refresh_all
    from pinlake.library import refresh as engine
    from pinlake.library.lock import lock_step

    assert {"runner", "dask_address", "shards"} <= set(inspect.signature(refresh.fn).parameters)
    assert {"runner", "dask_address"} <= set(inspect.signature(refresh_all.fn).parameters)
    library, registry, assets = flow_project
    addr = dask_cluster.scheduler_address
    params = prefect_yaml(str(registry), str(library))["deployments"][0]["parameters"]
    assert (params["runner"], params["dask_address"]) == ("dask", addr)  # scheduled runs build on the cluster
    lock = lock_step(library, registry, "health_by_tag")
    build = build_task.fn(str(library), str(registry), "health_by_tag", lock, None)  # runner from the registry
    assert (build.version, build.runner, build.rows["item"]) == (1, "dask", 8) and build.shards >= 2
    assert f"{build.shards} shards on dask" in engine.summary_markdown(library, "health_by_tag", build, lock)
    upload_extra_image(library, assets, tmp_path)
    lock2 = lock_step(library, registry, "health_by_tag")
    build2 = build_task.fn(str(library), str(registry), "health_by_tag", lock2, 1, "dask", addr)
    assert (build2.version, build2.mode, build2.added, build2.runner) == (2, "incremental", 1, "local")


def test_registry_refuses_an_unknown_runner(tmp_path):
    from pinlake.errors import InputFileError as RegistryError
    from pinlake.library.registry import Registry

    (tmp_path / "datasets.yaml").write_text("- name: x\n  script_location: ./x.py\n  runner: spark\n")
    with pytest.raises(RegistryError) as exc:
        Registry(tmp_path / "datasets.yaml")
    assert "'runner'" in exc.value.message and "spark" in exc.value.message
