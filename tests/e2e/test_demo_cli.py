"""End to end: the README's main job and the dataset CLI, as a new user runs them (subprocesses)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image as PILImage

pytestmark = pytest.mark.e2e


def run(args, cwd, check=True):
    env = {**os.environ, "PREFECT_HOME": str(Path(cwd) / ".prefect")}
    for key in ("PINLAKE_LIBRARY", "PREFECT_API_URL"):
        env.pop(key, None)  # embedded defaults: ./library and a temporary local Prefect server
    proc = subprocess.run([sys.executable, "-m", "pinlake", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"pinlake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def temporary_servers(home: Path) -> list[int]:
    """The pids of `prefect server start` processes serving the Prefect home ``home``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # not a process, gone, or not ours
            continue
        if b"prefect\0server\0start" in cmd and f"PREFECT_HOME={home}".encode() in env:
            pids.append(int(proc.name))
    return pids


@pytest.mark.long
def test_demo_then_cli(tmp_path: Path, prefect_home_seed):
    prefect_home_seed(tmp_path / ".prefect")
    out = run(["demo"], tmp_path).stdout
    # the flows ran on a temporary server over the Prefect home's database, stopped when the demo ended
    assert temporary_servers(tmp_path / ".prefect") == []
    with sqlite3.connect(tmp_path / ".prefect" / "prefect.db") as db:
        runs = dict(db.execute("SELECT flow.name, count(*) FROM flow_run JOIN flow ON flow.id = flow_run.flow_id GROUP BY flow.name"))
        limits = [name for (name,) in db.execute("SELECT name FROM concurrency_limit_v2")]
    assert runs.get("demo") == 1 and runs.get("refresh-all") == 2 and runs.get("refresh") == 4, runs
    # its refreshes took file locks (freed when a process dies), not slots that wait out a lease
    assert not [n for n in limits if n.startswith("pinlake-refresh-")], limits
    ds_dir = tmp_path / "library" / "health_images"
    assert "health_images" in out and "preview.png" in out
    # the flows ran end to end, then the second refresh changed nothing
    assert "refresh health_by_tag: version 1" in out and "refresh basel_trial: version 1" in out
    assert "refresh again health_by_tag: unchanged, no new version" in out
    # the demo registry gates health_by_tag on prod: its checks passed and the channel moved
    assert "refresh health_by_tag: version 1 (lock" in out and "published on prod" in out
    assert json.loads(run(["versions", "health_by_tag", "--json"], tmp_path).stdout)[0]["status"] == "published"
    assert "lineage health_by_tag@1: lake v" in out and "SQL SELECT" in out
    for name in ("health_by_tag", "basel_trial"):
        assert (tmp_path / "library" / name / "preview.png").is_file()
    for name in ("info.json", "schema.json", "features_values.json", "stats.json", "preview.png"):
        assert (ds_dir / name).is_file(), name
    with PILImage.open(ds_dir / "preview.png") as im:
        assert im.width > 200
    listing = json.loads(run(["ls", "--json"], tmp_path).stdout)
    by_name = {d["name"]: d for d in listing}
    assert by_name["health_images"]["items"] == 32 and by_name["health_by_tag"]["versions"] == 1
    info = json.loads(run(["info", "health_images", "--json"], tmp_path).stdout)
    assert info["splits"] == {"train": 24, "test": 8} and info["tables"]["bbox"]["group"] == "annotations"
    rows = json.loads(run(["show", "health_images", "bbox", "--limit", "3", "--json"], tmp_path).stdout)
    assert len(rows) == 3 and len(rows[0]["coords"]) == 4
    stats = json.loads(run(["stats", "health_images", "--json"], tmp_path).stdout)
    assert stats["num_items"] == 32
    assert "Wrote" in run(["preview", "health_images"], tmp_path).stdout


@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGINT, True), (signal.SIGHUP, True), (signal.SIGTERM, False), (signal.SIGKILL, False)],
    ids=["ctrl-c", "terminal-closed", "kill", "kill-9"],
)
def test_a_demo_stopped_leaves_no_server(sig, group, tmp_path: Path, prefect_home_seed):
    """The demo starts its temporary Prefect server first, in the terminal's process group: Ctrl-C
    (SIGINT to the group), a closed terminal (SIGHUP, which ends the demo before it can clean up) or
    a `kill` of the demo alone (SIGTERM) while the folder is built or the server starts ends both.
    The first two reach the server itself (they check it shares the group); the `kill` case checks
    that the demo stops it, and `kill -9` of the demo alone that the server stops when the demo is
    gone (Linux)."""
    home = tmp_path / ".prefect"
    prefect_home_seed(home)
    env = {k: v for k, v in os.environ.items() if k not in ("PINLAKE_LIBRARY", "PREFECT_API_URL")}
    env["PREFECT_HOME"] = str(home)
    demo = subprocess.Popen(
        [sys.executable, "-m", "pinlake", "demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not temporary_servers(home) and demo.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        servers = temporary_servers(home)
        assert servers and demo.poll() is None, demo.communicate()[0][-3000:]
        (os.killpg if group else os.kill)(demo.pid, sig)
        out = demo.communicate(timeout=60)[0]
        deadline = time.monotonic() + 30
        while temporary_servers(home) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert temporary_servers(home) == [], out[-3000:]
        assert demo.returncode != 0 and "Traceback" not in out, out[-3000:]
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        for pid in temporary_servers(home):
            os.kill(pid, signal.SIGKILL)


def test_build_cli_and_errors(tmp_path: Path):
    from pinlake.demo.data import generate_health_images

    generate_health_images(tmp_path / "src" / "scans", n_train=4, n_test=2)
    out = run(["build", "src/scans", "--name", "scans", "--library", "lib"], tmp_path).stdout
    assert "Built" in out and "version 1" in out
    # create again: refused, with a hint
    again = run(["build", "src/scans", "--name", "scans", "--library", "lib"], tmp_path, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr and "overwrite" in again.stderr
    assert "Traceback" not in again.stderr
    over = run(["build", "src/scans", "--name", "scans", "--library", "lib", "--mode", "overwrite"], tmp_path).stdout
    assert "version 2" in over
    missing = run(["info", "nope", "--library", "lib"], tmp_path, check=False)
    assert missing.returncode == 1 and "no dataset 'nope'" in missing.stderr and "scans" in missing.stderr
    bad_table = run(["show", "scans", "boxes", "--library", "lib"], tmp_path, check=False)
    assert bad_table.returncode == 1 and "unknown table 'boxes'" in bad_table.stderr
