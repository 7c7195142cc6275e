"""The ingest flow into a library on S3 (a real moto_server) through a real Prefect server: the files
land in the lake in the bucket, and the pinlake.lake.updated event names the S3 library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image


def test_ingest_flow_into_an_s3_library(prefect_server, bucket, s3_env, tmp_path):
    from pinlake.lake import Lake

    folder = tmp_path / "drop"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8 + i, 8, 3), 40 * i, np.uint8)).save(folder / f"img{i}.png")
    lib = f"s3://{bucket}/lib"
    proc = subprocess.run(
        [sys.executable, "-m", "pinlake", "ingest", str(folder), "--tag", "drop", "--library", lib, "--server", "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["data"] == 3 and not out["errors"] and out["lake_version"] == 1
    lake = Lake(f"{lib}/_lake")
    assert sorted(d.filename for d in lake.list_data()) == ["img0.png", "img1.png", "img2.png"]
    props = lake.store.open("data").read_transaction(lake.version).transaction_properties
    assert props["pinlake.flow_run_id"]

    import time

    import httpx

    deadline = time.monotonic() + 20
    while True:  # events reach the server's store asynchronously
        r = httpx.post(f"{prefect_server}/events/filter", json={"filter": {"event": {"name": ["pinlake.lake.updated"]}}}, timeout=30)
        ours = [e for e in r.json().get("events", []) if e["resource"].get("pinlake.library") == lib]
        if ours or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ours and ours[0]["resource"]["prefect.resource.id"] == f"pinlake.lake.{lib}"
