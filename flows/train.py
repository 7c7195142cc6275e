"""train(dataset, channel): the downstream flow a publish starts (a stub of a training job).

A deployment of it per gated registry entry (see :mod:`flows.deployments`) is triggered by the
``pinlake.dataset.published`` event a refresh emits when a candidate passes its checks: it opens
``name@channel``, the version that was just published, reads its items, and records itself in
``catalog.consumers`` as the run that used that version. A real training job starts the same way;
it needs no Prefect import to read the pin (``pinlake.open``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

import pinlake
from flows.policy import RESULT_READ


@flow(name="train", **RESULT_READ)
def train(dataset: str, channel: str = "prod", library: str = "library") -> dict[str, Any]:
    """Open ``dataset@channel`` read-only, count its items per split and record this run as its consumer."""
    run = f"prefect-flow-run:{flow_run.id}"
    pinned = pinlake.open(f"{dataset}@{channel}", library=library, run=run)
    splits = pinned.to_arrow("item", columns=["split"]).column("split").value_counts().to_pylist()
    items = {str(s["values"]): int(s["counts"]) for s in splits}
    get_run_logger().info("train on %s@%s = version %s: %s", dataset, channel, pinned.version, items)
    return {"dataset": dataset, "channel": channel, "version": pinned.version, "items": items, "run": run}
