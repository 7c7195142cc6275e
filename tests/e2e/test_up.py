"""`pinlake up` as a service manager runs it: start, then SIGTERM stops it and the Prefect server it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flows.runtime import QUIET, free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_up_sigterm_stops_its_server(tmp_path, prefect_home_seed):
    """Also: with no --prefect-home, the server's home is $PREFECT_HOME (its database and log there)."""
    prefect_home_seed(tmp_path / "home")
    port = free_port()
    env = {**os.environ, **QUIET, "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    log = open(tmp_path / "up.log", "w")  # noqa: SIM115 - the server writes it until the test stops it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinlake",
            "up",
            "--port",
            str(port),
            "--library",
            str(tmp_path / "library"),
            "--registry",
            str(REPO / "recipes" / "datasets.yaml"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not healthy(port):
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, "server never healthy"
            time.sleep(0.5)
        # at once, while the deployments are still being registered (before Prefect's runner has a handler)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while healthy(port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not healthy(port), "the Prefect server outlived `pinlake up`"
        assert f"http://127.0.0.1:{port}" in (tmp_path / "home" / "server.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
