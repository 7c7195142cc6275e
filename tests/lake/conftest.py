import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pinlake.lake import Lake


@pytest.fixture
def lake(tmp_path):
    return Lake(tmp_path / "lake")


@pytest.fixture
def files(tmp_path):
    """Small files of each kind: png, jpeg, tiff, npy, csv, tsv."""
    d = tmp_path / "files"
    d.mkdir()
    Image.fromarray(np.full((20, 30, 3), 100, np.uint8)).save(d / "small.png")
    Image.fromarray(np.full((150, 200, 3), 30, np.uint8)).save(d / "big.jpg")
    Image.fromarray(np.arange(64 * 48, dtype=np.uint8).reshape(48, 64)).save(d / "cells.tif")
    np.save(d / "arr.npy", np.arange(12, dtype=np.int32).reshape(3, 4))
    (d / "table.csv").write_text("x,y\n1,2\n3,4\n")
    (d / "table.tsv").write_text("a\tb\n5\t6\n")
    return d


@pytest.fixture
def moto_s3(monkeypatch):
    """A real moto_server on a free port; yields its endpoint; stopped by pid."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    for key, value in {
        "PINLAKE_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
