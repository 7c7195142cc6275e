"""OpenLineage export: the lineage of a dataset version as RunEvent JSON lines.

Hand-written events in the OpenLineage 2-0-2 RunEvent shape (no client library needed): one
COMPLETE event for the run that built the version (inputs: lake version, lock; outputs: every
table at its Lance version) and one COMPLETE event per recorded consumer (input: the pin).
HTTP transport is not provided: send the file with any OpenLineage-compatible tool.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from pinlake.provenance import code_version

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
PRODUCER = "https://github.com/pinlake/pinlake"
NAMESPACE = "pinlake"


def _run_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pinlake:{value}"))


def _ds(namespace: str, name: str, facets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "facets": facets or {}}


def _event(time: str, run_id: str, job: str, inputs: list, outputs: list, run_facets: dict | None = None) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": time if time.endswith("Z") or "+" in time else time + "Z",
        "run": {"runId": _run_id(run_id), "facets": run_facets or {}},
        "job": {"namespace": NAMESPACE, "name": job, "facets": {}},
        "inputs": inputs,
        "outputs": outputs,
        "producer": f"{PRODUCER}/tree/{code_version()}",
        "schemaURL": SCHEMA_URL,
    }


def openlineage_events(chain: dict[str, Any]) -> list[dict[str, Any]]:
    """RunEvents for a lineage chain from :func:`pinlake.library.lineage.lineage_of`."""
    ns = f"file://{chain['library'] or ''}"
    name, v = chain["dataset"], chain["dataset_version"]
    version = chain["version"]
    inputs = []
    if chain["lake"]["version"]:
        inputs.append(_ds(ns, f"_lake/data@{chain['lake']['version']}", {"version": {"datasetVersion": str(chain["lake"]["version"])}}))
    if chain["lock"]["hash"]:
        inputs.append(_ds(ns, f"_locks/{chain['lock']['hash']}"))
    outputs = [_ds(ns, f"{name}/{table}", {"version": {"datasetVersion": str(tv)}}) for table, tv in sorted(version["tables"].items())]
    events = [
        _event(
            version["created_at"],
            version["run_id"] or f"{name}@{v}",
            f"{name}/{version['operation']}",
            inputs,
            outputs,
            {"pinlake": {"dataset_version": v, "flow_run_id": version["flow_run_id"], "lock_hash": chain["lock"]["hash"]}},
        )
    ]
    pinned_inputs = [_ds(ns, f"{name}/{t}", {"version": {"datasetVersion": str(tv)}}) for t, tv in sorted(version["tables"].items())]
    for c in chain["consumers"]:
        events.append(
            _event(
                c["used_at"],
                c["run"],
                f"consumer/{c['run']}",
                pinned_inputs,
                [],
                {"pinlake": {"pin": c["pin"], "user": c["user"], "host": c["host"]}},
            )
        )
    return events


def write_openlineage(chain: dict[str, Any], out: str | Path) -> int:
    events = openlineage_events(chain)
    Path(out).write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
    return len(events)
