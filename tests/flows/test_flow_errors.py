"""A refresh or an ingest that fails (unreachable object store, missing bucket, dead Dask scheduler),
through the CLI, on a real Prefect server and with none configured: the engine's own error in one
``Error:`` line and its hint, exit code 1, no Prefect traceback; ``--verbose`` shows the traceback
and where the run is (its flow run's page, or that no flow run exists)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.policy import retry_delays

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEAD_DASK = "tcp://127.0.0.1:9"
HINTS = {  # the first words of each failure's hint, as the engine words it
    "endpoint": "Check PINLAKE_S3_ENDPOINT",
    "bucket": "Create the bucket first",
    "dask": "Start one with `dask scheduler`",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """A real moto_server on a free loopback port (stopped by its pid): an S3 endpoint with no buckets."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "moto_server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def s3_env(endpoint: str) -> dict[str, str]:
    return {
        "PINLAKE_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


@pytest.fixture
def images(tmp_path: Path) -> Path:
    from PIL import Image as PILImage

    folder = tmp_path / "drop"
    folder.mkdir()
    for i in range(2):
        PILImage.new("RGB", (8, 8), (i * 60, 0, 0)).save(folder / f"img{i}.png")
    return folder


def simple_registry(tmp_path: Path) -> Path:
    """A registry with the demo's health_by_tag entry (its recipe copied beside it)."""
    reg_dir = tmp_path / "recipes"
    reg_dir.mkdir()
    shutil.copy(REPO / "recipes" / "health_by_tag.py", reg_dir / "health_by_tag.py")
    (reg_dir / "datasets.yaml").write_text(
        "- name: health_by_tag\n  version: 1\n  description: test\n  script_location: ./health_by_tag.py\n"
        "  dataset_item: pinlake.demo.data:HealthDatasetItem\n"
    )
    return reg_dir / "datasets.yaml"


def dask_registry(registry: Path) -> Path:
    """The project's registry with its entry built on the dead Dask scheduler."""
    registry.write_text(registry.read_text() + f"  runner: dask\n  dask_address: {DEAD_DASK}\n")
    return registry


def run(args: list[str], server: str | None, tmp_path: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PREFECT_API_URL", "PREFECT_PROFILE", "PINLAKE_S3_ENDPOINT", "PINLAKE_LIBRARY", "PINLAKE_DASK_ADDRESS")
    }
    if server:
        env["PREFECT_API_URL"] = server
    else:
        env["PREFECT_HOME"] = str(tmp_path / "prefect-home-unused")
    env.update(extra_env or {})
    env["COLUMNS"] = "400"  # a long path in a message stays on its line whatever the console's wrapping
    return subprocess.run([sys.executable, "-m", "pinlake", *args], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)


def assert_one_line_error(proc: subprocess.CompletedProcess, failure: str, message: str) -> None:
    out = proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert [line for line in lines if line.startswith("Error:")] == [lines[0]], out[-3000:]
    assert message in " ".join(out.split()), out[-3000:]
    assert len(lines) == 2 and lines[1].startswith(HINTS[failure]), out[-3000:]  # the error, then its hint


def failing_case(failure: str, command: str, moto: str, project, images: Path, tmp_path: Path) -> tuple[list[str], dict[str, str], str]:
    """(CLI args, environment, expected message) of ``command`` (refresh / ingest) failing with ``failure``."""
    if failure == "dask":
        library, registry, _ = project()
        if command == "refresh":
            return (
                ["refresh", "health_by_tag", "--registry", str(dask_registry(registry)), "--library", str(library)],
                {},
                f"cannot reach the Dask scheduler at {DEAD_DASK}",
            )
        return (
            ["ingest", str(images), "--library", str(library), "--runner", "dask", "--dask-address", DEAD_DASK],
            {},
            f"cannot reach the Dask scheduler at {DEAD_DASK}",
        )
    endpoint = closed_endpoint() if failure == "endpoint" else moto
    library = "s3://no-such-bucket/lib"
    message = f"cannot reach {library} at {endpoint}" if failure == "endpoint" else f"bucket 'no-such-bucket' of {library} does not exist"
    if command == "refresh":
        return ["refresh", "health_by_tag", "--registry", str(simple_registry(tmp_path)), "--library", library], s3_env(endpoint), message
    return ["ingest", str(images), "--tag", "drop", "--library", library], s3_env(endpoint), message


CASES = [(f, c) for f in ("endpoint", "bucket", "dask") for c in ("refresh", "ingest")]


@pytest.mark.parametrize("failure,command", CASES)
def test_failure_without_a_server_is_one_line(failure, command, moto, project, images, tmp_path):
    args, env, message = failing_case(failure, command, moto, project, images, tmp_path)
    proc = run(args, None, tmp_path, env)
    assert_one_line_error(proc, failure, message)
    assert not (tmp_path / "prefect-home-unused").exists()  # no temporary Prefect server was started


@pytest.mark.parametrize("failure,command", CASES)
def test_failed_flow_run_on_a_server_is_one_line(failure, command, prefect_server, moto, project, images, tmp_path):
    args, env, message = failing_case(failure, command, moto, project, images, tmp_path)
    proc = run([*args, "--server"], prefect_server, tmp_path, env)
    assert_one_line_error(proc, failure, message)


def test_verbose_shows_the_traceback_and_the_flow_run(prefect_server, moto, project, images, tmp_path):
    args, env, message = failing_case("dask", "refresh", moto, project, images, tmp_path)
    proc = run([*args, "--server", "--verbose"], prefect_server, tmp_path, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" in out and message in out
    ui = prefect_server.removesuffix("/api")
    located = [line for line in proc.stderr.splitlines() if f"{ui}/runs/flow-run/" in line]
    assert located and located[0].startswith("Failed: flow run "), out[-3000:]
    from prefect.client.orchestration import get_client

    run_id = located[0].split("/runs/flow-run/")[1].strip()
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).state_name == "Failed"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0]


@pytest.mark.parametrize("delays", ["0.1,0.1,0.1", ""])
def test_io_error_is_retried_after_each_delay(delays, prefect_server, moto, project, images, tmp_path):
    """The object store cannot be reached: the task that met it ran once more after each delay of
    PINLAKE_FLOW_RETRY_DELAYS (three: four attempts, not the default's three; empty: one), then the
    run failed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    args, env, message = failing_case("endpoint", "refresh", moto, project, images, tmp_path)
    env["PINLAKE_FLOW_RETRY_DELAYS"] = delays
    proc = run([*args, "--server", "--verbose"], prefect_server, tmp_path, env)
    assert proc.returncode == 1 and message in " ".join(proc.stderr.split()), proc.stderr[-3000:]
    located = [line for line in proc.stderr.splitlines() if "/runs/flow-run/" in line]
    assert located, proc.stderr[-3000:]
    run_id = located[0].split("/runs/flow-run/")[1].strip()
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    attempts = 1 + len(retry_delays(delays))
    assert [t.run_count for t in tasks if t.state_name == "Failed"] == [attempts], [(t.name, t.state_name, t.run_count) for t in tasks]


def test_bad_retry_delays_setting_is_one_line(prefect_server, images, tmp_path):
    """PINLAKE_FLOW_RETRY_DELAYS that is not a list of seconds: the flow command says so in one line."""
    proc = run(
        ["ingest", str(images), "--library", str(tmp_path / "library"), "--server"],
        prefect_server,
        tmp_path,
        {"PINLAKE_FLOW_RETRY_DELAYS": "1,soon"},
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert lines[0] == "Error: PINLAKE_FLOW_RETRY_DELAYS='1,soon' is not a list of seconds", lines
    assert lines[1].startswith("Set it to comma-separated seconds") and len(lines) == 2, lines
    assert not (tmp_path / "library").exists()  # nothing ran


def test_verbose_without_a_server_shows_the_traceback(moto, project, images, tmp_path):
    args, env, message = failing_case("endpoint", "ingest", moto, project, images, tmp_path)
    proc = run([*args, "--verbose"], None, tmp_path, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" in out and message in out
    assert "Failed: ran in this process without Prefect" in out and "no flow run" in out
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0]


@pytest.mark.parametrize("command", ["refresh", "ingest"])
def test_configured_server_that_does_not_answer_is_one_line(command, images, tmp_path):
    """PREFECT_API_URL names a port where nothing listens: the flow cannot start; one line says so."""
    api = f"http://127.0.0.1:{free_port()}/api"
    if command == "refresh":
        args = ["refresh", "health_by_tag", "--registry", str(simple_registry(tmp_path)), "--library", str(tmp_path / "library")]
    else:
        args = ["ingest", str(images), "--library", str(tmp_path / "library")]
    proc = run(args, api, tmp_path, {"PREFECT_HOME": str(tmp_path / "prefect-home")})
    out = proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in out, out[-3000:]
    assert len(lines) == 2 and lines[0].startswith(f"Error: cannot reach the Prefect server at {api}"), out[-3000:]
    assert "--local" in lines[1]


def test_temporary_server_that_does_not_start_in_time_is_one_line(tmp_path):
    """No server configured: the demo starts a temporary local Prefect server for its flows; when it
    does not answer within PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (here 1 s, a fresh
    database takes longer), one Error line names the wait and the hint says how to give it longer or
    go without."""
    args = ["demo", "--library", str(tmp_path / "library"), "--assets", str(tmp_path / "assets")]
    proc = run(
        args, None, tmp_path, {"PREFECT_HOME": str(tmp_path / "fresh-home"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1"}
    )
    out = proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in out, out[-3000:]
    assert lines[-2] == "Error: the temporary local Prefect server did not start within 1 s", out[-3000:]
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in lines[-1] and "--no-flows" in lines[-1], out[-3000:]


def test_temporary_server_that_exits_is_one_line_naming_its_log(tmp_path):
    """The demo's temporary server cannot open its database (a directory that does not exist): it
    exits at once, and one Error line says so with its exit code; the hint names its log, which
    holds the server's own reason."""
    home = tmp_path / "home"
    args = ["demo", "--library", str(tmp_path / "library"), "--assets", str(tmp_path / "assets")]
    bad_db = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'prefect.db'}"
    proc = run(args, None, tmp_path, {"PREFECT_HOME": str(home), "PREFECT_API_DATABASE_CONNECTION_URL": bad_db})
    out = proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in out, out[-3000:]
    assert lines[-2].startswith("Error: the temporary local Prefect server exited with code "), out[-3000:]
    assert str(home / "temporary-server.log") in lines[-1] and "--no-flows" in lines[-1], out[-3000:]
    assert "unable to open database file" in (home / "temporary-server.log").read_text()


@pytest.mark.parametrize("command", ["serve", "up"])
def test_bad_retry_delays_stop_serving_before_it_starts(command, tmp_path):
    """`python -m flows.serve` and `pinlake up` with a bad PINLAKE_FLOW_RETRY_DELAYS: one line and its
    hint, exit 1, and `pinlake up` starts no Prefect server for nothing."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PINLAKE_FLOW_RETRY_DELAYS"] = "1,,5"
    if command == "serve":
        argv = [sys.executable, "-m", "flows.serve", "--library", str(tmp_path / "library")]
    else:
        argv = [sys.executable, "-m", "pinlake", "up", "--port", str(free_port()), "--prefect-home", str(tmp_path / "home")]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert lines[0] == "Error: PINLAKE_FLOW_RETRY_DELAYS='1,,5' is not a list of seconds", lines
    assert lines[1].startswith("Set it to comma-separated seconds") and len(lines) == 2, lines
    assert not (tmp_path / "home").exists()  # no server was started in it
