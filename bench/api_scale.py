"""The API's listing and a page of views with many datasets and concurrent clients.

``python -m bench.api_scale [--datasets 100] [--clients 20] [--requests 400] [--src DIR]``

Builds the demo once and copies its dataset to ``--datasets`` datasets of one library (outside the
measure), starts ``pinlake serve`` on it (a real uvicorn process; ``--src``: another checkout's
``src`` to run instead, for a before/after), then ``--clients`` threads send ``--requests``
requests in all to each endpoint: ``GET /datasets/`` and ``GET /views/<dataset>/image/?limit=50``
(a dataset drawn at random per request). Prints p50, p99 and the mean per endpoint, in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_library(root: Path, n: int) -> list[str]:
    from pinlake.demo.run import run_demo

    run_demo(root / "library", root / "assets")
    names = []
    for i in range(n - 1):
        name = f"ds_{i:03d}"
        shutil.copytree(root / "library" / "health_images", root / "library" / name)
        names.append(name)
    return ["health_images", *names]


def serve(root: Path, port: int, src: Path | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINLAKE_", "PREFECT_"))}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, "-c", "from pinlake.cli import main; main()", "serve", str(root / "library"), str(root / "assets")]
    proc = subprocess.Popen([*cmd, "--port", str(port), "--log-level", "warning"], env=env, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not come up in 60 s")


def load(url_of: object, clients: int, requests: int) -> list[float]:
    times: list[float] = []
    lock = threading.Lock()
    left = [requests]

    def worker() -> None:
        rng = random.Random(threading.get_ident())
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            url = url_of(rng)  # type: ignore[operator]
            t = time.perf_counter()
            with urllib.request.urlopen(url, timeout=60) as r:
                r.read()
            with lock:
                times.append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return times


def summary(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "n": len(ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--src", type=Path, default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pinlake-api-scale-"))
    try:
        names = make_library(root, args.datasets)
        port = free_port()
        proc = serve(root, port, args.src)
        try:
            base = f"http://127.0.0.1:{port}"
            urllib.request.urlopen(f"{base}/datasets/", timeout=120).read()  # warm
            report = {
                "datasets": args.datasets,
                "clients": args.clients,
                "GET /datasets/": summary(load(lambda rng: f"{base}/datasets/", args.clients, args.requests)),
                "GET /views/{ds}/image/?limit=50": summary(
                    load(lambda rng: f"{base}/views/{rng.choice(names)}/image/?limit=50", args.clients, args.requests)
                ),
            }
        finally:
            proc.kill()
            proc.wait()
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
