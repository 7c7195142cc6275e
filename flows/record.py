"""Record a no-op refresh on the Prefect server as a completed `refresh` flow run, without importing Prefect.

``import prefect`` alone costs 1–2 s here, more than the whole no-op refresh is allowed to take. When
the engine's fast check (:func:`pinlake.library.refresh_stamp.quick_unchanged`) finds the dataset current,
the CLI records the run through the server's REST API (standard library only): the `refresh` flow
(created if missing, as Prefect does), a flow run with the same parameters as a real one, taken
Running → Completed so it has a start and an end, and the same summary artifact the flow's no-op path
writes. The run carries the tag ``unchanged``.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from typing import Any

FLOW_NAME = "refresh"


def _call(api: str, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if os.environ.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['PREFECT_API_KEY']}"
    elif os.environ.get("PREFECT_API_AUTH_STRING"):
        headers["Authorization"] = "Basic " + base64.b64encode(os.environ["PREFECT_API_AUTH_STRING"].encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api.rstrip("/") + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def record_unchanged_run(api: str, parameters: dict[str, Any], summary: str, artifact_key: str) -> str:
    """Create a Completed `refresh` flow run with ``parameters`` and its summary artifact; returns its id."""
    flow = _call(api, "POST", "/flows/", {"name": FLOW_NAME})
    dataset = parameters.get("dataset", "")
    run = _call(
        api,
        "POST",
        "/flow_runs/",
        {
            "flow_id": flow["id"],
            "name": f"{dataset}-unchanged",
            "parameters": parameters,
            "tags": ["unchanged"],
            "state": {"type": "RUNNING", "name": "Running"},
        },
    )
    _call(
        api,
        "POST",
        f"/flow_runs/{run['id']}/set_state",
        {
            "state": {"type": "COMPLETED", "name": "Completed", "message": f"{dataset} unchanged"},
            "force": False,
        },
    )
    _call(
        api,
        "POST",
        "/artifacts/",
        {"key": artifact_key, "type": "markdown", "data": summary, "description": f"Refresh of {dataset}", "flow_run_id": run["id"]},
    )
    return str(run["id"])
