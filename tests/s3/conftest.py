"""A real moto_server on 127.0.0.1 (a subprocess, stopped by pid) and an s3:// library on it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV_KEYS = ("PINLAKE_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "PINLAKE_LIBRARY")


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def start_moto(extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(extra_env or {})},
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    stop(proc)
    pytest.fail("moto_server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    proc, endpoint = start_moto()
    try:
        yield endpoint
    finally:
        stop(proc)


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment pointing pinlake at the moto server (also returned for subprocesses)."""
    env = {
        "PINLAKE_S3_ENDPOINT": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    """A fresh bucket per test."""
    import boto3

    name = f"pinlake-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_env["PINLAKE_S3_ENDPOINT"], region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def moto_factory() -> Iterator:
    """Start extra moto servers (e.g. one that checks credentials); all stopped at the end.
    ``start.kill(endpoint)`` stops one early (a store that dies mid-command)."""
    procs: dict[str, subprocess.Popen] = {}

    def start(extra_env: dict[str, str] | None = None) -> str:
        proc, endpoint = start_moto(extra_env)
        procs[endpoint] = proc
        return endpoint

    start.kill = lambda endpoint: stop(procs[endpoint])  # type: ignore[attr-defined]
    yield start
    for proc in procs.values():
        if proc.poll() is None:
            stop(proc)
