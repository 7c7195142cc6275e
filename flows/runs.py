"""Recent flow runs from the Prefect API (for `pinlake runs`)."""

from __future__ import annotations

from typing import Any


def recent_runs(limit: int = 20, flow_name: str | None = None) -> list[dict[str, Any]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        flow_filter = FlowFilter(name=FlowFilterName(any_=[flow_name])) if flow_name else None
        runs = client.read_flow_runs(flow_filter=flow_filter, sort=FlowRunSort.START_TIME_DESC, limit=limit)
        names = {f.id: f.name for f in client.read_flows()}
    return [
        {
            "flow": names.get(r.flow_id, ""),
            "name": r.name,
            "id": str(r.id),
            "state": r.state_name,
            "start": r.start_time,
            "duration": r.total_run_time.total_seconds() if r.total_run_time else None,
            "parameters": r.parameters,
        }
        for r in runs
    ]
