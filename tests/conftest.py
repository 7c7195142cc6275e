"""Fixtures shared by every test folder: a demo lake + registry (``project``), one real Prefect server
per session (``prefect_server``, started on first use), one real Dask cluster per module
(``dask_cluster``: a scheduler and two worker processes on 127.0.0.1, whole again at each test) and
``concurrent_refreshes``.

The suite owns its environment, whatever the user's shell holds:

- at start-up (``pytest_configure``, before any test module imports Prefect) every ``PREFECT_*``,
  ``PINLAKE_*`` and ``AWS_*`` variable is removed; ``PREFECT_HOME`` and the profiles file go to a
  temporary directory of the session, with quiet Prefect settings and no ``PREFECT_API_URL`` (no
  server unless a test asks for ``prefect_server``), and a flow task's retries come 0.1 s apart
  (``PINLAKE_FLOW_RETRY_DELAYS``: as many retries as by default, without its 1 s and 5 s waits); the
  user's values come back at the end;
- each test runs in its own ``tmp_path`` (so the default ``./library`` is the test's own), and any
  ``PINLAKE_*`` / ``PREFECT_*`` variable a test or an in-process flow set is undone after it;
- ``prefect_server`` sets ``PREFECT_API_URL`` for the tests that request it only, and refreshes
  Prefect's settings (read once when Prefect is imported) when it sets and unsets it;
- a server in a fresh Prefect home starts from a copy of a database migrated once per run
  (``seed_prefect_home``, the ``prefect_home_seed`` fixture);
- when the lease test is collected, the session's server is first used together with a refresh
  slot whose holder was SIGKILLed (``dead_refresh_holder``), so that test waits only what is left
  of the 60 s lease.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from flows.runtime import QUIET

#: variables of the user's environment the suite never inherits (read by pinlake, Prefect and boto3)
OWNED_PREFIXES = ("PREFECT_", "PINLAKE_", "AWS_")
REPO = Path(__file__).resolve().parents[1]
#: the suite's PINLAKE_FLOW_RETRY_DELAYS (see flows.policy): two retries, as by default, sooner
SUITE_RETRY_DELAYS = "0.1,0.1"
_saved_env: dict[str, str] = {}
_session_dir: Path | None = None


def refresh_prefect_settings() -> None:
    """Make an already imported Prefect read its settings from ``os.environ`` again."""
    if "prefect.context" in sys.modules:
        sys.modules["prefect.context"].refresh_global_settings_context()


def pytest_configure(config: pytest.Config) -> None:
    global _session_dir
    _saved_env.update({k: v for k, v in os.environ.items() if k.startswith(OWNED_PREFIXES)})
    for key in _saved_env:
        del os.environ[key]
    _session_dir = Path(tempfile.mkdtemp(prefix="pinlake-tests-"))
    home = _session_dir / "prefect-home"
    home.mkdir()
    os.environ.update(QUIET)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_PROFILES_PATH"] = str(home / "profiles.toml")
    os.environ["PINLAKE_STATE_DIR"] = str(_session_dir / "state")  # remote lakes' state cache, not ~/.cache
    # a flow task that failed on I/O is still retried twice, without the 1 s and 5 s waits of the default
    os.environ["PINLAKE_FLOW_RETRY_DELAYS"] = SUITE_RETRY_DELAYS
    # where the run's Prefect database template is made (see seed_prefect_home): named by the xdist
    # controller (its workers get it through xdist), or by the test that starts a nested run
    global _template
    worker = getattr(config, "workerinput", None)
    given = worker["prefect_template"] if worker else config.getoption("prefect_template")
    _template = Path(given) if given else _session_dir / "prefect-template"
    refresh_prefect_settings()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--prefect-template",
        default=None,
        help="where a migrated Prefect database is made (or found) for the run's servers; a nested run gets its parent's",
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # xdist: the controller's template for each worker
    node.workerinput["prefect_template"] = str(_template)


_template: Path | None = None


def seed_prefect_home(home: Path) -> Path:
    """Put a migrated Prefect database (its blocks registered) into ``home``, a fresh Prefect home a
    test is about to start a server in; returns ``home``.

    A fresh database costs 7 s of Alembic migrations on a 2-core machine (a server in a fresh home
    starts in 10.5 s, in a seeded one in 4.5 s), and the suite starts a dozen servers. The first
    process that needs it starts one real `prefect server start` in a scratch home, and keeps a copy
    of its database (SQLite's backup API, taken after the server stopped); every seeded home gets a
    copy of that file, so each server still opens its own database, checks its migrations and
    registers its blocks at start (Prefect's memo of that registration names the database's path,
    so it is not copied). A home that already has a database is left alone."""
    home.mkdir(parents=True, exist_ok=True)
    if (home / "prefect.db").exists():
        return home
    assert _template is not None, "pytest_configure names the template"
    _template.parent.mkdir(parents=True, exist_ok=True)
    with open(_template.parent / f"{_template.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process makes it; the others wait, then copy
        if not (_template / "prefect.db").exists():
            _make_template(_template)
    shutil.copyfile(_template / "prefect.db", home / "prefect.db")
    return home


@pytest.fixture
def prefect_template_dir() -> Path:
    """The run's template database's folder, for a test that starts a nested run (``--prefect-template``)."""
    assert _template is not None
    return _template


def _make_template(template: Path) -> None:
    from flows.runtime import start_server, stop_server

    scratch = template.parent / f"{template.name}.scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    proc, _ = start_server(scratch)  # healthy once migrated and its blocks registered
    stop_server(proc)
    template.mkdir(exist_ok=True)
    staged = template / "prefect.db.part"
    with contextlib.closing(sqlite3.connect(scratch / "prefect.db")) as src, contextlib.closing(sqlite3.connect(staged)) as dst:
        src.backup(dst)
    staged.rename(template / "prefect.db")  # last: its presence means the template is whole
    shutil.rmtree(scratch, ignore_errors=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    for key in [k for k in os.environ if k.startswith(OWNED_PREFIXES)]:
        del os.environ[key]
    os.environ.update(_saved_env)
    if _session_dir is not None:
        shutil.rmtree(_session_dir, ignore_errors=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Print pytest-randomly's seed under -q too (its header line is hidden then): a failing order
    can be replayed with ``-p randomly --randomly-seed=N``."""
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and config.pluginmanager.hasplugin("randomly") and config.get_verbosity() < 0:
        reporter.write_line(f"Using --randomly-seed={config.getoption('randomly_seed')}")


#: a test that uses one of these (a Prefect server, a Dask cluster, a moto S3 server) is slow
SLOW_FIXTURES = {"prefect_server", "dask_cluster", "moto_endpoint", "moto_s3", "moto_factory"}


#: folders whose tests are all end-to-end (CLI processes, servers, killed processes)
E2E_DIRS = (REPO / "tests" / "e2e", REPO / "tests" / "faults")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every e2e test (marked, or in tests/e2e or tests/faults), and every test using a server or
    cluster fixture, is slow: the fast lane (``-m "not slow"``) leaves them out. Tests marked
    ``long`` are moved to the front, the lease test (:data:`DEAD_HOLDER_TEST`) to the end."""
    # the longest tests first (a stable sort: the shuffled order of the others is kept), so that on
    # two workers none starts last and runs alone; the lease test last, when the lease its fixture
    # started on the worker's first server test has run out (it waits what is left, its worker idle)
    items.sort(key=lambda item: (item.get_closest_marker("long") is None, getattr(item, "originalname", None) == DEAD_HOLDER_TEST))
    for item in items:
        if item.get_closest_marker("slow") is None and (
            item.get_closest_marker("e2e") is not None
            or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
            or any(d in item.path.parents for d in E2E_DIRS)
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def own_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The test runs in its tmp_path; PINLAKE_* / PREFECT_* / AWS_* changes it leaves behind are undone
    (e.g. PINLAKE_FLOW_RUN_ID, set by an in-process flow run)."""
    before = {k: v for k, v in os.environ.items() if k.startswith(OWNED_PREFIXES)}
    monkeypatch.chdir(tmp_path)
    yield
    after = {k: v for k, v in os.environ.items() if k.startswith(OWNED_PREFIXES)}
    if after != before:
        for key in after.keys() - before.keys():
            del os.environ[key]
        os.environ.update(before)
        if any(k.startswith("PREFECT_") for k, _ in after.items() ^ before.items()):
            refresh_prefect_settings()


def make_project(root: Path, n_train: int = 8, n_test: int = 4, recipe: str | None = None, library=None) -> tuple[Path, Path, Path]:
    """A library (default ``root/library``) with the demo lake ingested, plus a registry with one entry (health_by_tag)."""
    from pinlake.demo.data import generate_health_images
    from pinlake.demo.lake import ingest_demo
    from pinlake.library import Library

    assets = root / "assets" / "health_images"
    generate_health_images(assets, n_train=n_train, n_test=n_test)
    library = root / "library" if library is None else library
    ingest_demo(Library(library).ensure().get_datalake(), assets)
    reg_dir = root / "recipes"
    reg_dir.mkdir(parents=True)
    shutil.copy(REPO / "recipes" / "health_by_tag.py", reg_dir / "health_by_tag.py")
    if recipe is not None:
        (reg_dir / "health_by_tag.py").write_text(recipe)
    (reg_dir / "datasets.yaml").write_text(
        "- name: health_by_tag\n  version: 1\n  description: test\n  script_location: ./health_by_tag.py\n"
        '  schedule: "0 3 * * *"\n  dataset_item: pinlake.demo.data:HealthDatasetItem\n'
    )
    return library, reg_dir / "datasets.yaml", assets


@pytest.fixture
def project(tmp_path):
    """make_project bound to this test's tmp_path: project(**kw) -> (library, registry, assets)."""
    return lambda **kw: make_project(tmp_path, **kw)


@pytest.fixture(scope="session")
def prefect_server_session(tmp_path_factory):
    """A real `prefect server start` on a free loopback port (started once); yields (api url, its home)."""
    from flows.runtime import start_server, stop_server

    home = seed_prefect_home(tmp_path_factory.mktemp("prefect-home"))
    # expired concurrency leases are revoked every 2 s instead of 15 (test_dead_refresh_frees_the_dataset)
    proc, url = start_server(home, env_extra={"PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2"})
    try:
        yield url, home
    finally:
        stop_server(proc)


@pytest.fixture
def prefect_home_seed():
    """:func:`seed_prefect_home`, for a test that runs a Prefect server in a Prefect home of its own."""
    return seed_prefect_home


#: the test that reads ``dead_refresh_holder`` (tests/flows/test_prefect_server.py)
DEAD_HOLDER_TEST = "test_dead_refresh_frees_the_dataset_when_its_lease_runs_out"


@dataclasses.dataclass
class DeadHolder:
    """What ``dead_refresh_holder`` made and saw (``error``: why it could not, for the lease test to
    report; the other server tests go on)."""

    library: str = ""
    dataset: str = "doomed"
    killed_at: float = 0.0  #: time.monotonic() of the SIGKILL
    slots_after_kill: int | None = None  #: the limit's active slots, read from the server right after
    released_at: float | None = None  #: time.monotonic() when the server first showed the slot free
    watched: threading.Event = dataclasses.field(default_factory=threading.Event)  #: set when the watch ended
    error: str | None = None


def _slots(url: str, name: str) -> int:
    with urllib.request.urlopen(f"{url}/v2/concurrency_limits/{name}", timeout=30) as reply:
        return int(json.load(reply)["active_slots"])


def _watch_release(url: str, dead: DeadHolder, every: float = 0.5, give_up: float = 300) -> None:
    """Record when the dead holder's slot shows free on the server (its lease revoked)."""
    try:
        while time.monotonic() - dead.killed_at < give_up:
            if _slots(url, f"pinlake-refresh-{dead.dataset}") == 0:
                dead.released_at = time.monotonic()
                return
            time.sleep(every)
    except Exception as exc:  # noqa: BLE001 - reported by the lease test, which reads it
        dead.error = f"watching the slot: {type(exc).__name__}: {exc}"
    finally:
        dead.watched.set()


@pytest.fixture(scope="session")
def dead_refresh_holder(prefect_server_session, tmp_path_factory) -> DeadHolder:
    """A process that held a dataset's refresh slot on the session's server, SIGKILLed (a lost
    machine); the slot's 60 s lease runs out on its own, and a thread records when the server shows
    it free.

    Made when the session's server is first used (``prefect_server`` asks for it when the lease test
    is collected: on each xdist worker, as either may run that test), so the lease test, wherever it
    comes in the run, waits only what is left of the lease instead of a whole minute with its worker
    idle. A failure here is recorded for the lease test; the other server tests are not stopped by it."""
    url, home = prefect_server_session
    dead = DeadHolder(library=str(tmp_path_factory.mktemp("dead-holder")))
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(home), "PREFECT_PROFILES_PATH": str(home / "profiles.toml")}
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom flows.refresh import one_refresh_at_a_time\n"
            f"with one_refresh_at_a_time({dead.library!r}, {dead.dataset!r}):\n    print('held', flush=True)\n    time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(REPO),
    )
    try:
        assert holder.stdout is not None
        ready, _, _ = select.select([holder.stdout], [], [], 120)
        said = holder.stdout.readline().strip() if ready else "(nothing within 120 s)"
    finally:
        holder.kill()
        holder.wait()
    dead.killed_at = time.monotonic()
    if said != "held":
        dead.error = f"the holder did not take the slot: {said or f'exit {holder.returncode}'}"
        dead.watched.set()
        return dead
    try:
        dead.slots_after_kill = _slots(url, f"pinlake-refresh-{dead.dataset}")
    except Exception as exc:  # noqa: BLE001 - reported by the lease test
        dead.error = f"reading the slot: {type(exc).__name__}: {exc}"
        dead.watched.set()
        return dead
    threading.Thread(target=_watch_release, args=(url, dead), daemon=True, name="dead-holder-watch").start()
    return dead


@pytest.fixture
def prefect_server(prefect_server_session, request):
    """The session's Prefect server for this test: PREFECT_API_URL (and its PREFECT_HOME) set in
    ``os.environ`` and in Prefect's settings, then unset after the test (which other tests never see)."""
    if any(getattr(item, "originalname", None) == DEAD_HOLDER_TEST for item in request.session.items):
        request.getfixturevalue("dead_refresh_holder")  # its lease starts running out now (see there)
    url, home = prefect_server_session
    keys = ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_PROFILES_PATH")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({"PREFECT_API_URL": url, "PREFECT_HOME": str(home), "PREFECT_PROFILES_PATH": str(home / "profiles.toml")})
    refresh_prefect_settings()
    try:
        yield url
    finally:
        try:
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=5)
            EventsWorker.drain_all(timeout=5)
        except Exception:  # noqa: BLE001 - draining is best effort; what is left is dropped with the workers
            pass
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        refresh_prefect_settings()


@pytest.fixture(scope="module")
def dask_local_cluster():
    """LocalCluster(2 worker processes); a task whose worker dies twice fails (allowed-failures=1).

    The workers' statistical profiler is off: it calls ``sys._current_frames()`` every 10 ms, which
    on CPython before 3.11.9 / 3.12.3 can deadlock a worker when a garbage collection inside it frees
    a ``threading.local`` (python/cpython#106883; a shard then hangs until the scheduler drops the
    worker, about 10 minutes)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 1, "distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0", silence_logs=50)
    try:
        yield cluster
    finally:
        try:
            cluster.close()
        except KeyError as exc:
            # dask/distributed#5407: the cluster's worker-status watch is told a worker left that it
            # never listed (a worker these tests killed came back under a new address) and raises,
            # after SpecCluster closed its workers and scheduler: check they are closed, as close() would
            assert str(exc).startswith("'tcp://"), exc
            closed = {"closing", "closed", "failed"}
            assert all(w.status.name in closed for w in cluster.workers.values()), cluster.workers
            assert cluster.scheduler is None or cluster.scheduler.status.name in closed, cluster.scheduler.status


@pytest.fixture
def dask_cluster(dask_local_cluster):
    """The module's cluster with both its workers running: a test that killed workers leaves the
    next one a whole cluster (see ``whole_cluster``)."""
    from cluster_checks import whole_cluster

    whole_cluster(dask_local_cluster)
    return dask_local_cluster


@pytest.fixture
def concurrent_refreshes():
    """run(dataset, registry, library, env) -> the JSON results of two `pinlake refresh --server`
    processes started at once (as two machines would), both required to succeed."""
    import json
    import subprocess
    import sys

    def run(dataset: str, registry, library, env: dict[str, str]) -> list[dict]:
        args = [
            sys.executable,
            "-m",
            "pinlake",
            "refresh",
            dataset,
            "--registry",
            str(registry),
            "--library",
            str(library),
            "--server",
            "--json",
        ]
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            results.append(json.loads(out)[0])
        return results

    return run
