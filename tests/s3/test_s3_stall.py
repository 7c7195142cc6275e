"""A store that stops answering (paused, not dead) fails a command within a bound derived from
PINLAKE_S3_TIMEOUT, with one clear error: a loopback socket that accepts connections and never
replies, and a real moto_server paused with SIGSTOP in the middle of an upload. An endpoint whose
host name does not resolve is named as such."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import pinlake.storage as storage
from pinlake.cli import _register, app
from pinlake.errors import StorageError

_register()
runner = CliRunner()
T = 1.0  # PINLAKE_S3_TIMEOUT of the stalled commands


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    """Each test starts with no endpoint known to be unresponsive (the state is per process)."""
    getattr(storage, "_UNRESPONSIVE", {}).clear()
    yield
    getattr(storage, "_UNRESPONSIVE", {}).clear()


def start_moto() -> tuple[subprocess.Popen, str]:
    """A moto_server of this test alone (it gets paused), as in conftest.py."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("moto_server did not start")


class Stalled:
    """A loopback socket that accepts every connection, reads the request and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[str] = []
        self.times: list[float] = []  # time.monotonic() of each request
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            first = conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError:
            return
        if first:
            self.times.append(time.monotonic())
            self.requests.append(first)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def stalled(s3_env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stalled]:
    server = Stalled()
    monkeypatch.setenv("PINLAKE_S3_ENDPOINT", server.endpoint)
    monkeypatch.setenv("PINLAKE_S3_TIMEOUT", str(T))
    yield server
    server.close()


def flat(output: str) -> str:
    return " ".join(output.split())


def invoke(*args: str) -> tuple[float, object]:
    """Run the CLI; returns the time it ended and its result."""
    res = runner.invoke(app, list(args))
    return time.monotonic(), res


def test_endpoint_that_never_answers_fails_after_two_attempts(stalled: Stalled):
    ended, res = invoke("ls", "--library", "s3://bkt/lib")
    out = flat(res.output)
    assert res.exit_code == 1, res.output
    assert len(stalled.requests) == 2, stalled.requests  # "two attempts", not three
    assert ended - stalled.times[0] < 2 * T + 1, ended - stalled.times[0]
    assert (f"Error: cannot reach s3://bkt/lib at {stalled.endpoint}: timed out (no answer within 1s, twice; PINLAKE_S3_TIMEOUT)") in out
    assert "Traceback" not in res.output


def test_upload_to_an_endpoint_that_never_answers_stops_after_two_attempts(stalled: Stalled, tmp_path: Path):
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    ended, res = invoke("lake", "upload", str(img), "--library", "s3://bkt/lib")
    assert res.exit_code == 1, res.output
    assert len(stalled.requests) == 2, stalled.requests  # the lease PUT, twice; nothing waits after it
    # a PUT with a body also waits up to 1 s for "100 Continue" before sending it (botocore)
    assert ended - stalled.times[0] < 2 * (T + 1) + 1.5, ended - stalled.times[0]
    assert "timed out (no answer within 1s, twice; PINLAKE_S3_TIMEOUT)" in flat(res.output)
    assert "Traceback" not in res.output


def test_lance_request_that_gets_no_answer_is_bounded_and_remembered(stalled: Stalled):
    t0 = time.monotonic()
    with pytest.raises((OSError, ValueError)) as exc:
        storage.lance_dataset("s3://bkt/lib/t.lance", version=3)  # one HEAD of the manifest
    assert time.monotonic() - t0 < 2 * T + 1, time.monotonic() - t0  # the request timeout is T, not 6T
    err = storage.lance_storage_error(exc.value)
    assert err is not None and "no answer within 1s (PINLAKE_S3_TIMEOUT)" in err.message and "\n" not in err.message
    # the store is known not to answer: the next call fails at once instead of waiting again
    seen = len(stalled.requests)
    t0 = time.monotonic()
    with pytest.raises(StorageError, match="not answering"):
        storage.lance_dataset("s3://bkt/lib/t.lance", version=3)
    with pytest.raises(StorageError, match="not answering"):
        storage.check_reachable(storage.location("s3://bkt/other"))
    assert time.monotonic() - t0 < T and len(stalled.requests) == seen  # refused without a request


def test_host_that_does_not_resolve_is_named(s3_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PINLAKE_S3_ENDPOINT", "http://no-such-host.invalid:9000")
    monkeypatch.setenv("PINLAKE_S3_TIMEOUT", "2")
    started = time.monotonic()
    ended, res = invoke("ls", "--library", "s3://bkt/lib")
    out = flat(res.output)
    assert res.exit_code == 1, res.output
    assert (
        "Error: cannot reach s3://bkt/lib at http://no-such-host.invalid:9000: the host name 'no-such-host.invalid' does not resolve"
    ) in out
    assert "connection refused" not in out and "Traceback" not in res.output
    assert "PINLAKE_S3_ENDPOINT" in out
    assert ended - started < 10


@pytest.mark.e2e
def test_lance_write_to_a_paused_moto_fails_within_the_bound(s3_env, monkeypatch: pytest.MonkeyPatch):
    """SIGSTOP of a real moto_server, then an append to a Lance table on it: Lance lists the table's
    versions (up to 6 times, each bounded by PINLAKE_S3_TIMEOUT) and gives up within 6 x T + backoff,
    not after minutes; every later call to that store fails at once."""
    import pyarrow as pa

    proc, endpoint = start_moto()
    try:
        monkeypatch.setenv("PINLAKE_S3_ENDPOINT", endpoint)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="paused")
        uri = "s3://paused/lib/t.lance"
        storage.lance_write(pa.table({"a": [1]}), uri)
        monkeypatch.setenv("PINLAKE_S3_TIMEOUT", str(T))
        os.kill(proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises((OSError, ValueError)) as exc:
            storage.lance_write(pa.table({"a": [2]}), uri, mode="append")
        elapsed = time.monotonic() - t0
        print(f"Lance append failed {elapsed:.1f}s after SIGSTOP of moto")
        assert elapsed < 8 * T + 5, elapsed
        err = storage.lance_storage_error(exc.value)
        assert err is not None and "\n" not in err.message
        assert err.message.startswith("object storage failed during the operation: GET ")
        assert err.message.endswith("no answer within 1s (PINLAKE_S3_TIMEOUT)"), err.message
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="not answering"):
            storage.location("s3://paused/lib").is_dir()
        with pytest.raises(StorageError, match="not answering"):
            storage.lance_dataset(uri)
        assert time.monotonic() - t0 < T  # refused without a request (one would wait T)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.e2e
def test_moto_paused_mid_upload_fails_within_the_bound(s3_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """SIGSTOP of a real moto_server in the middle of `lake upload` (its data written, its commit to come): it fails
    within 8 x PINLAKE_S3_TIMEOUT (+ backoff) of the stop, with one line naming the request."""
    proc, endpoint = start_moto()
    stopped_at: list[float] = []
    try:
        monkeypatch.setenv("PINLAKE_S3_ENDPOINT", endpoint)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="paused")
        images = tmp_path / "imgs"
        images.mkdir()
        rng = np.random.default_rng(0)
        for i in range(30):
            Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(images / f"i{i:02d}.png")
        first = runner.invoke(app, ["lake", "upload", str(images / "i00.png"), "--library", "s3://paused/lib"])
        assert first.exit_code == 0, first.output

        data = "lib/_lake/objects.lance/data/"
        before = s3.list_objects_v2(Bucket="paused", Prefix=data)["KeyCount"]

        def pause_when_the_upload_wrote_its_data() -> None:
            """SIGSTOP once the new objects' data file is in the bucket: the Lance commit comes next."""
            watcher = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if watcher.list_objects_v2(Bucket="paused", Prefix=data)["KeyCount"] > before:
                    os.kill(proc.pid, signal.SIGSTOP)
                    stopped_at.append(time.monotonic())
                    return
                time.sleep(0.01)

        monkeypatch.setenv("PINLAKE_S3_TIMEOUT", str(T))
        watcher = threading.Thread(target=pause_when_the_upload_wrote_its_data, daemon=True)
        watcher.start()
        res = runner.invoke(app, ["lake", "upload", str(images), "--library", "s3://paused/lib"])
        ended = time.monotonic()
        watcher.join(timeout=5)
        assert stopped_at, "the upload never wrote its data"
        out = flat(res.output)
        assert res.exit_code == 1, res.output
        assert "Traceback" not in res.output and "rust" not in out
        assert out.startswith("Error: ") and "no answer within 1s" in out and "PINLAKE_S3_TIMEOUT" in out, out
        print(f"upload failed {ended - stopped_at[0]:.1f}s after SIGSTOP of moto: {out}")
        assert ended - stopped_at[0] < 8 * T + 5, ended - stopped_at[0]
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)
