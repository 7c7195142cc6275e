"""The fault matrix: kill real processes at the commit points of every write path, then check what a
reader sees and that running the command again converges.

``python -m bench faults [--scenarios a,b] [--every | --sample K] [--random R] [--out FILE]``

For each scenario a template workspace is made once; a clean run (with ``PINLAKE_FAULT_TRACE``)
counts the command's commit points and records the content it converges to. Then for each chosen
kill point k a fresh copy of the template runs the command with ``PINLAKE_FAULT_KILL_AT=k`` (the
process SIGKILLs itself right after its kth commit point, see :mod:`pinlake.util.faults`); ``--random R``
adds R kills at random times instead (a watcher sends SIGKILL after a random delay). After each kill:

- **unreadable**: the last logged version of any dataset does not read completely (its tables with
  the logged row counts and unique ids, its own info, schema, stats and preview, a view's media), or
  ``ls``, ``sql`` or the API fail for the library, or a pin made before the run no longer verifies;
- **stuck**: running the same command again fails;
- **lost rows**: after that rerun the content (sorted ids and a hash of the rows without timestamps,
  the lake's rows too) differs from the clean run's, or an id is duplicated, or the catalog misses a
  logged version.

The tests in ``tests/faults`` run a bounded sample of this; the full matrix goes in bench/RESULTS.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "pinlake"]
TIMESTAMPS = ("created_at", "updated_at")


# --- scenarios ----------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    #: makes the template workspace (a library and its inputs) in the given empty directory
    prepare: Callable[[Path], None]
    #: the command to kill, given the workspace
    argv: Callable[[Path], list[str]]
    #: exit codes a rerun may end with besides 0 (e.g. a create whose first run committed)
    rerun_ok: tuple[int, ...] = ()


def _assets(work: Path, name: str = "health_images", n_train: int = 6, n_test: int = 2) -> Path:
    from pinlake.demo.data import generate_health_images

    root = work / "assets" / name
    generate_health_images(root, n_train=n_train, n_test=n_test)
    return root


def _pin(work: Path, pin: str) -> None:
    from pinlake.library.pin import write_pin

    write_pin(pin, work / "pins.yaml", work / "library")


def _prepare_base(work: Path) -> None:
    """A library with a lake (the demo ingested) and health_images built from a folder, pinned at 1."""
    from pinlake.demo.lake import ingest_demo
    from pinlake.library import Library
    from pinlake.library.build import build_folder

    assets = _assets(work)
    lib = Library(work / "library").ensure()
    ingest_demo(lib.get_datalake(), assets)
    build_folder(lib, assets, "health_images", mode="create")
    _pin(work, "health_images@1")
    _assets(work, "other_images", n_train=4, n_test=2)


def _prepare_reingest(work: Path) -> None:
    """The base library whose lake also holds other_images (streamed in by `pinlake ingest`), one of
    which then changes: the next ingest writes a new version and replaces the earlier rows (new tag)."""
    from pinlake.library.ingest import ingest_step

    _prepare_base(work)
    folder = work / "assets" / "other_images"
    ingest_step(work / "library", [str(folder)], ["first"], None)
    changed = sorted((folder / "train").glob("*.jpg"))[0]
    changed.write_bytes(changed.read_bytes() + b"changed")


def _prepare_crud_version(work: Path) -> None:
    """The base library with a CRUD version on top (a version with no stats or preview yet)."""
    from pinlake.datasets.dataset import Dataset

    _prepare_base(work)
    ds = Dataset(work / "library" / "health_images")
    ds.delete_dataset_items([sorted(ds.to_arrow("item", columns=["id"]).column("id").to_pylist())[0]])


def _prepare_fragmented(work: Path) -> None:
    """The base library after several small writes, one row each: tables of many fragments to compact."""
    from pinlake.datasets.dataset import Dataset

    _prepare_base(work)
    ds = Dataset(work / "library" / "health_images")
    for i, item in enumerate(ds.get_data("item", limit=4)):
        ds.update_data("item", [{**item.model_dump(), "image_type": f"edit{i}"}])


def _prepare_create(work: Path) -> None:
    _prepare_base(work)


def _prepare_refresh(work: Path) -> None:
    _prepare_base(work)
    repo = Path(__file__).resolve().parents[1]
    reg = work / "recipes"
    reg.mkdir()
    shutil.copy(repo / "recipes" / "health_by_tag.py", reg / "health_by_tag.py")
    (reg / "datasets.yaml").write_text(
        "- name: health_by_tag\n  version: 1\n  description: faults\n  script_location: ./health_by_tag.py\n"
        "  dataset_item: pinlake.demo.data:HealthDatasetItem\n"
    )


def _prepare_unidentified_lake(work: Path) -> None:
    """The refresh's library, its lake as one last written before lakes recorded an identity: the
    refresh's lock records one first (commit point ``lake identity``)."""
    from pinlake.lake.lance_tables import IDENTITY_FILE
    from pinlake.layout import LAKE_DIR

    _prepare_refresh(work)
    (work / "library" / LAKE_DIR / IDENTITY_FILE).unlink()


def _prepare_incremental_refresh(work: Path) -> None:
    """The refresh's library after one refresh, then one image uploaded again with new bytes and one
    tag removed: the next refresh locks the row-wise recipe from the previous lock (its changes file
    beside it) and builds the new version from the recorded changes."""
    from pinlake.library import Library
    from pinlake.library.refresh import refresh_dataset

    _prepare_refresh(work)
    refresh_dataset(work / "library", work / "recipes" / "datasets.yaml", "health_by_tag")
    lake = Library(work / "library").get_datalake()
    names = sorted(lake.select("object_name LIKE 'health/%'", columns=["object_name"])["object_name"].to_pylist())
    image = sorted((work / "assets" / "health_images" / "train").glob("*.jpg"))[0]
    changed = work / "assets" / "changed.jpg"
    changed.write_bytes(image.read_bytes() + b"changed")
    lake.upload_data([str(changed)], tags=["mri"], object_names=[names[0]], metadata={"image_type": "mri"})
    lake.list_data(object_names=[names[1]]).remove_tags(["mri", "xray", "microscope", "dermatology"])


def _prepare_export(work: Path, fmt: str) -> None:
    """The base library plus an export of health_images@1 in ``fmt`` to import."""
    from pinlake.library.pin import open as open_pin

    _prepare_base(work)
    open_pin("health_images@1", library=work / "library").export(fmt, work / fmt, media="copy")


def _prepare_coco(work: Path) -> None:
    _prepare_export(work, "coco")


def _import_argv(fmt: str) -> Callable[[Path], list[str]]:
    """``pinlake build <the export> --format fmt --name <fmt>_import`` (YOLO: its data.yaml; VOC: its root)."""
    return lambda w: [*CLI, "build", str(w / fmt), "--format", fmt, "--name", f"{fmt}_import", "--library", str(w / "library")]


#: a registry channel with checks the demo passes (a publish) or cannot pass (a quarantine)
GATE = "  channel: prod\n  checks:\n    min_items: {min_items}\n    no_split_leakage: true\n    boxes_inside_images: true\n"


def _prepare_gated(work: Path, min_items: int = 2) -> None:
    _prepare_refresh(work)
    registry = work / "recipes" / "datasets.yaml"
    registry.write_text(registry.read_text() + GATE.format(min_items=min_items))


CRUD_SCRIPT = textwrap.dedent("""
    # one batch: relabel an item, delete an item's boxes, add a box; written to be idempotent, as a
    # retried job would be (the same ids every run), so a rerun after a kill converges. A second
    # argument "derived": the version's stats are merged from the previous version's at its commit
    import sys
    from pinlake.datasets import Dataset, stats_delta
    stats_delta.MAX_CHANGED_FRACTION = 1.0  # 8 items: merge whatever the share of rows changed
    ds = Dataset(sys.argv[1])
    ids = sorted(ds.to_arrow("item", columns=["id"]).column("id").to_pylist())
    template = ds.get_data("bbox", item_ids=[ids[2]])[0]
    with ds.batch("fault suite", derived=sys.argv[2:] == ["derived"]):
        ds.update_data("item", [{**ds.get_data("item", ids=[ids[1]])[0].model_dump(), "image_type": "edited"}])
        ds.delete_data("bbox", [b.id for b in ds.get_data("bbox", item_ids=[ids[0]])])
        if not ds.get_data("bbox", ids=["fault-added"]):
            ds.add_data("bbox", [{**template.model_dump(), "id": "fault-added", "confidence": 0.5}])
""")

REFRESH_SCRIPT = textwrap.dedent("""
    # what `pinlake refresh health_by_tag` runs with no Prefect server: the refresh flow's chain in this
    # process, under the dataset's refresh lock
    import sys
    from pinlake.library.refresh import refresh_dataset
    refresh_dataset(sys.argv[1], sys.argv[2], "health_by_tag")
""")


STATS_SCRIPT = textwrap.dedent("""
    # what `pinlake stats` and `pinlake preview` do, in one process: the latest version's files made after its commit
    import sys
    from pinlake.library.preview import recompute_preview
    from pinlake.library.stats import recompute_stats
    from pinlake.library import Library
    ds = Library(sys.argv[1]).get_dataset("health_images")
    recompute_stats(ds)
    recompute_preview(ds)
""")

SCENARIOS = {
    "lake upload": Scenario(
        "lake upload",
        _prepare_base,
        lambda w: [
            *CLI,
            "lake",
            "upload",
            str(w / "assets" / "other_images"),
            "--tag",
            "other",
            "--object-prefix",
            "other",
            "--library",
            str(w / "library"),
        ],
    ),
    # the streamed folder ingest over a lake it changes: earlier rows replaced (a Lance Update) in
    # the same commit as the new rows' fragments
    "lake re-ingest": Scenario(
        "lake re-ingest",
        _prepare_reingest,
        lambda w: [*CLI, "ingest", str(w / "assets" / "other_images"), "--tag", "again", "--local", "--library", str(w / "library")],
    ),
    "build create": Scenario(
        "build create",
        _prepare_create,
        lambda w: [
            *CLI,
            "build",
            str(w / "assets" / "other_images"),
            "--name",
            "other",
            "--mode",
            "create",
            "--library",
            str(w / "library"),
        ],
        rerun_ok=(1,),
    ),
    "build overwrite": Scenario(
        "build overwrite",
        _prepare_base,
        lambda w: [
            *CLI,
            "build",
            str(w / "assets" / "other_images"),
            "--name",
            "health_images",
            "--mode",
            "overwrite",
            "--url-prefix",
            "/health_images",
            "--library",
            str(w / "library"),
        ],
    ),
    "crud batch": Scenario(
        "crud batch", _prepare_base, lambda w: [sys.executable, "-c", CRUD_SCRIPT, str(w / "library" / "health_images")]
    ),
    # the same batch with its stats, features values and preview made at its commit (the stats merged
    # from the previous version's and the changed rows: datasets/stats_delta.py)
    "crud batch derived": Scenario(
        "crud batch derived",
        _prepare_base,
        lambda w: [sys.executable, "-c", CRUD_SCRIPT, str(w / "library" / "health_images"), "derived"],
    ),
    "stats and preview": Scenario(
        "stats and preview", _prepare_crud_version, lambda w: [sys.executable, "-c", STATS_SCRIPT, str(w / "library")]
    ),
    "refresh": Scenario(
        "refresh",
        _prepare_refresh,
        lambda w: [sys.executable, "-c", REFRESH_SCRIPT, str(w / "library"), str(w / "recipes" / "datasets.yaml")],
    ),
    # the same refresh of a lake without an identity: its lock records one, under the lake's write lock
    "refresh of an unidentified lake": Scenario(
        "refresh of an unidentified lake",
        _prepare_unidentified_lake,
        lambda w: [sys.executable, "-c", REFRESH_SCRIPT, str(w / "library"), str(w / "recipes" / "datasets.yaml")],
    ),
    # a refresh after a change: the row-wise recipe's lock made from the previous lock, the build from its changes
    "incremental refresh": Scenario(
        "incremental refresh",
        _prepare_incremental_refresh,
        lambda w: [sys.executable, "-c", REFRESH_SCRIPT, str(w / "library"), str(w / "recipes" / "datasets.yaml")],
    ),
    # an annotation import: a build from a COCO file (the builder's write path, the format's reader)
    "coco import": Scenario(
        "coco import",
        _prepare_coco,
        lambda w: [
            *CLI,
            "build",
            str(w / "coco" / "annotations" / "train.json"),
            "--format",
            "coco",
            "--images",
            str(w / "coco" / "images" / "train"),
            "--name",
            "coco_import",
            "--library",
            str(w / "library"),
        ],
        rerun_ok=(1,),
    ),
    "yolo import": Scenario("yolo import", lambda w: _prepare_export(w, "yolo"), _import_argv("yolo"), rerun_ok=(1,)),
    "voc import": Scenario("voc import", lambda w: _prepare_export(w, "voc"), _import_argv("voc"), rerun_ok=(1,)),
    # compaction: each table's compact_files, the dataset version naming them, then the lake and the catalog
    "maintain": Scenario(
        "maintain", _prepare_fragmented, lambda w: [*CLI, "maintain", "--fragments", "1", "--library", str(w / "library")]
    ),
    # write–audit–publish: build the candidate, then catalog.checks, the publications row, the channel's tags
    "gated refresh": Scenario(
        "gated refresh",
        _prepare_gated,
        lambda w: [sys.executable, "-c", REFRESH_SCRIPT, str(w / "library"), str(w / "recipes" / "datasets.yaml")],
    ),
    "quarantine": Scenario(
        "quarantine",
        lambda w: _prepare_gated(w, min_items=10_000),
        lambda w: [sys.executable, "-c", REFRESH_SCRIPT, str(w / "library"), str(w / "recipes" / "datasets.yaml")],
    ),
}


# --- what a reader sees --------------------------------------------------------------------------
def _rows_digest(table) -> tuple[str, list[str]]:  # noqa: ANN001 - a pyarrow Table
    keep = [c for c in table.column_names if c not in TIMESTAMPS and c != "content"]
    t = table.select(keep)
    ids = t.column("id").to_pylist() if "id" in keep else []
    rows = sorted(json.dumps(r, sort_keys=True, default=str) for r in t.to_pylist())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest(), sorted(ids)


def content(library: Path) -> dict[str, str]:
    """Per dataset table (latest version) and lake table: a digest of sorted rows without timestamps,
    and the names of the indexes the latest version's tables (and the lake's) have."""
    import lance

    from pinlake.datasets.dataset import Dataset
    from pinlake.datasets.tables import table_uri
    from pinlake.datasets.versions import VersionLog
    from pinlake.library import Library
    from pinlake.library.versions import channel_state

    lib = Library(library)
    out: dict[str, str] = {}
    for name in lib.dataset_names():
        ds = Dataset(lib.path / name)
        state = channel_state(lib.path / name)
        verdicts = {v: d["event"] for v, d in sorted(state.decisions.items())}
        out[f"{name}@channels"] = json.dumps({"gate": state.channel, "published": state.published, "verdicts": verdicts}, sort_keys=True)
        for t in ds.tables:
            digest, ids = _rows_digest(ds.to_arrow(t))
            out[f"{name}.{t}"] = digest
            if len(ids) != len(set(ids)):
                out[f"{name}.{t}.duplicate_ids"] = str(len(ids) - len(set(ids)))
        latest = VersionLog(lib.path / name).latest()
        for t, v in sorted(latest.tables.items()) if latest is not None else ():  # the indexes the version names
            out[f"{name}.{t}@indexes"] = _index_names(lance.dataset(table_uri(lib.path / name, t), version=v))
    data = lib.lake_path / "data.lance"
    if (data / "_versions").is_dir():
        t = lance.dataset(str(data)).to_table(columns=["object_name", "sha256", "version", "tags", "source", "metadata"])
        out["_lake.data"] = _rows_digest(t)[0]
    for table in ("data", "objects"):
        if (lib.lake_path / f"{table}.lance" / "_versions").is_dir():
            out[f"_lake.{table}@indexes"] = _index_names(lance.dataset(str(lib.lake_path / f"{table}.lance")))
    return out


def _index_names(ds: Any) -> str:
    return ",".join(sorted(ix.name for ix in ds.describe_indices()))


def problems_after_kill(work: Path) -> list[str]:
    """What a reader of the library finds wrong (empty: everything reads)."""
    from fastapi.testclient import TestClient

    from pinlake.api.app import create_app
    from pinlake.datasets.dataset import Dataset
    from pinlake.library import Library
    from pinlake.library.info import list_datasets
    from pinlake.library.pin import verify_pins
    from pinlake.library.sql import sql

    out: list[str] = []
    lib = Library(work / "library")

    def check(what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - every failure is a finding of the matrix
            out.append(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

    for name in lib.dataset_names():

        def read(name: str = name) -> None:
            ds = Dataset(lib.path / name)
            for t in ds.tables:
                ids = ds.to_arrow(t, columns=["id"]).column("id")
                if len(ids) != ds.state.rows.get(t, len(ids)) or len(set(ids.to_pylist())) != len(ids):
                    raise AssertionError(f"table {t}: {len(ids)} rows, log says {ds.state.rows.get(t)}")
            for f in ("info.json", "schema.json"):
                if ds.version_file(f) is None:
                    raise AssertionError(f"version {ds.version} has no {f}")
            if ds.state.operation.startswith("build"):
                stats = ds.stats or {}
                if stats.get("dataset_version") != ds.version or not ds.preview_path.is_file():
                    raise AssertionError(f"version {ds.version} (a build) has no stats or preview of its own")
            if "image" in ds.tables:
                view = ds.get_data("image", limit=1)[0]
                ds.read_media(view)

        check(f"read {name}", read)
    check("ls", lambda: list_datasets(lib))
    check("sql", lambda: sql("SELECT count(*) FROM catalog.versions", lib.path))
    for name in lib.dataset_names():
        check(f"sql {name}", lambda name=name: sql(f'SELECT count(*) FROM "{name}".item', lib.path, at={name: "latest"}))
        check(f"channels {name}", lambda name=name: _channels_serve_published(lib.path / name))
    client = TestClient(create_app(lib.path), raise_server_exceptions=False)
    check("api /datasets", lambda: _ok(client.get("/datasets")))
    for name in lib.dataset_names():
        check(f"api /datasets/{name}", lambda name=name: _ok(client.get(f"/datasets/{name}")))
    if (work / "pins.yaml").is_file():
        check("verify pins", lambda: verify_pins(work / "pins.yaml", lib.path))
    check("lake", lambda: lib.get_datalake().list_data(limit=5))
    return out


def _channels_serve_published(path: Path) -> None:
    """Every channel names a version whose verdict is published, and it reads."""
    from pinlake.library.pin import open as open_pin
    from pinlake.library.versions import channel_state

    state = channel_state(path)
    for channel, version in state.published.items():
        if state.decisions[version]["event"] != "published":
            raise AssertionError(f"channel {channel} names version {version}, which is {state.decisions[version]['event']}")
        pinned = open_pin(f"{path.name}@{channel}", library=path.parent)
        if pinned.version != version:
            raise AssertionError(f"{path.name}@{channel} opens {pinned.version}, the catalog says {version}")
        pinned.to_arrow("item", columns=["id"])


def _ok(resp) -> None:  # noqa: ANN001 - an httpx response
    if resp.status_code != 200:
        raise AssertionError(f"HTTP {resp.status_code}: {resp.text[:200]}")


def catalog_gaps(library: Path) -> list[str]:
    """Logged dataset versions the catalog does not have."""
    from pinlake.catalog.store import Catalog
    from pinlake.datasets.versions import VersionLog
    from pinlake.library import Library

    lib = Library(library)
    out = []
    for name in lib.dataset_names():
        have = {k[1] for k in Catalog(lib.path).keys("dataset_versions", name)}
        missing = [e.dataset_version for e in VersionLog(lib.path / name).entries() if e.dataset_version not in have]
        if missing:
            out.append(f"catalog misses {name} versions {missing}")
    return out


# --- running ---------------------------------------------------------------------------------------
def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINLAKE_", "PREFECT_"))}
    env.update(extra)
    return env


def _run(argv: list[str], env: dict[str, str], timeout: float = 300, kill_after: float | None = None) -> subprocess.CompletedProcess:
    if kill_after is None:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@dataclass
class Outcome:
    scenario: str
    point: str
    killed: bool
    unreadable: list[str] = field(default_factory=list)
    stuck: str = ""
    lost: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unreadable or self.stuck or self.lost)


@dataclass
class Baseline:
    template: Path
    points: list[str]
    content: dict[str, str]
    seconds: float
    #: locks the clean run made from a previous lock (their manifest names a ``parent``)
    delta_locks: int = 0


def _run_dir(root: Path) -> Path:
    """Where the template is made and every run of a scenario happens, one at a time: the paths a
    library records (a lock's lake, a registry's recipes) are those of the run's copy, so a lock made
    from the previous one is made as it would be in place."""
    return root / "run"


def baseline(scenario: Scenario, root: Path) -> Baseline:
    """Make the template and run the command once cleanly, counting its commit points."""
    run = _run_dir(root)
    run.mkdir(parents=True)
    scenario.prepare(run)
    template = run.rename(root / "template")
    shutil.copytree(template, run, symlinks=True)
    trace = root / "trace.txt"
    t0 = time.perf_counter()
    proc = _run(scenario.argv(run), _env(PINLAKE_FAULT_TRACE=str(trace)))
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{scenario.name}: the clean run failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    points = trace.read_text().splitlines() if trace.is_file() else []
    converged = content(run / "library")
    made = [json.loads(p.read_text()) for p in (run / "library" / "_locks").glob("*/lock.json")]
    shutil.rmtree(run)
    return Baseline(template, points, converged, seconds, sum("parent" in m for m in made))


def kill_once(scenario: Scenario, base: Baseline, root: Path, *, at: int | None = None, after_s: float | None = None) -> Outcome:
    """Copy the template, kill the command at commit point ``at`` (or after ``after_s`` seconds),
    check what a reader sees, rerun, compare with the clean run (at the clean run's path)."""
    work = _run_dir(root)
    shutil.copytree(base.template, work, symlinks=True)
    label = f"#{at} {base.points[at - 1]}" if at is not None else f"after {after_s:.2f}s"
    try:
        env = _env(**({"PINLAKE_FAULT_KILL_AT": str(at)} if at is not None else {}))
        proc = _run(scenario.argv(work), env, kill_after=after_s)
        killed = proc.returncode == -signal.SIGKILL
        outcome = Outcome(scenario.name, label, killed)
        outcome.unreadable = problems_after_kill(work)
        again = _run(scenario.argv(work), _env())
        said = " ".join((again.stdout + again.stderr).split())  # the CLI's console may wrap long lines
        if again.returncode != 0 and not (again.returncode in scenario.rerun_ok and "already exists" in said):
            lines = (again.stdout + again.stderr).strip().splitlines()
            outcome.stuck = lines[-1] if lines else f"exit {again.returncode}"
            return outcome
        now = content(work / "library")
        outcome.lost = [k for k in sorted(set(now) | set(base.content)) if now.get(k) != base.content.get(k)]
        outcome.lost += catalog_gaps(work / "library")
        outcome.unreadable += [f"after rerun: {p}" for p in problems_after_kill(work)]
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_matrix(
    names: list[str],
    *,
    every: bool = True,
    sample: int = 0,
    random_kills: int = 0,
    seed: int = 0,
    log: Callable[[str], None] = print,
    root: Path | None = None,
) -> list[Outcome]:
    rng = random.Random(seed)
    outcomes: list[Outcome] = []
    own = root is None
    root = Path(tempfile.mkdtemp(prefix="pinlake-faults-")) if root is None else root
    try:
        for name in names:
            scenario = SCENARIOS[name]
            sroot = root / name.replace(" ", "-")
            base = baseline(scenario, sroot)
            n = len(base.points)
            ks = list(range(1, n + 1)) if every else sorted(rng.sample(range(1, n + 1), min(sample, n)))
            log(f"{name}: {n} commit points, clean run {base.seconds:.1f}s; killing at {ks}")
            for k in ks:
                o = kill_once(scenario, base, sroot, at=k)
                outcomes.append(o)
                log(f"  {o.point}: {'ok' if o.ok else 'FAIL'} {o.unreadable or ''} {o.stuck or ''} {o.lost or ''}")
            for _ in range(random_kills):
                o = kill_once(scenario, base, sroot, after_s=rng.uniform(0.3, max(0.4, base.seconds)))
                outcomes.append(o)
                log(f"  {o.point}: {'ok' if o.ok else 'FAIL'} killed={o.killed} {o.unreadable or ''} {o.stuck or ''} {o.lost or ''}")
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    """The matrix as markdown: per write path, runs (one per kill point or random kill), how many were
    really killed (a random kill may come after the command ended), and the findings."""
    lines = ["| write path | runs | killed | recovered | stuck | unreadable | lost or duplicated rows |", "|---|---|---|---|---|---|---|"]
    for name in SCENARIOS:
        os_ = [o for o in outcomes if o.scenario == name]
        if not os_:
            continue
        lines.append(
            f"| {name} | {len(os_)} | {sum(o.killed for o in os_)} | {sum(o.ok for o in os_)} "
            f"| {sum(bool(o.stuck) for o in os_)} | {sum(bool(o.unreadable) for o in os_)} | {sum(bool(o.lost) for o in os_)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench faults")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    ap.add_argument("--sample", type=int, default=0, help="kill at K random commit points per scenario instead of every one")
    ap.add_argument("--random", type=int, default=0, help="also kill R times per scenario at a random moment")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.scenarios.split(",") if n.strip()]
    bad = set(names) - set(SCENARIOS)
    if bad:
        ap.error(f"unknown scenarios: {', '.join(sorted(bad))}")
    outcomes = run_matrix(
        names, every=a.sample == 0, sample=a.sample, random_kills=a.random, seed=a.seed, log=lambda m: print(m, flush=True)
    )
    print()
    print(table(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


__all__ = ["SCENARIOS", "run_matrix", "kill_once", "baseline", "table", "content", "problems_after_kill", "main"]
