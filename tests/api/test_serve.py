"""`pinlake serve` starts the real server; hit it over a socket with urllib."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, port: int, token: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PINLAKE_API_TOKEN": token or ""}
    exe = Path(sys.executable).with_name("pinlake")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from pinlake.cli import main; main()"]
    proc = subprocess.Popen(
        [*cmd, "serve", str(root / "library"), str(root / "assets"), "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read().decode()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError("server did not come up in 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.e2e
def test_pinlake_serve_subprocess(demo_root: Path):
    port = free_port()
    proc = start_server(demo_root, port)
    try:
        base = f"http://127.0.0.1:{port}"
        rows = json.load(urllib.request.urlopen(f"{base}/views/health_images/image/?limit=2&skip=0"))
        assert len(rows) == 2 and rows[0]["table_info"] == {"name": "image", "group": "views", "base_schema": "Image"}
        assert urllib.request.urlopen(f"{base}/docs").status == 200
        req = urllib.request.Request(f"{base}/media/health_images/train/mri-train-000.jpg", headers={"Range": "bytes=0-1"})
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 206 and resp.read() == b"\xff\xd8"
        # raw '..' over a real socket (urllib does not normalise it)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /media/../library/health_images/info.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = s.recv(200)
        assert head.startswith(b"HTTP/1.1 404"), head
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(urllib.request.Request(f"{base}/items/health_images/?ids=x", method="DELETE"))
        assert exc.value.code == 401
    finally:
        stop_server(proc)
