"""The demo as flows: generate files → ingest into the lake → refresh every registry entry → refresh again (no-op)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from flows.ingest import LAKE_UPDATED, lake_resource_id
from flows.policy import RESULT_READ
from flows.refresh import refresh_all
from pinlake.demo.data import DEMO_NAME, generate_health_images
from pinlake.demo.lake import ingest_demo
from pinlake.library import Library


@task(name="generate-demo-files", cache_policy=NO_CACHE)
def generate_task(assets: str) -> str:
    return str(generate_health_images(Path(assets) / DEMO_NAME).root)


@task(name="ingest-demo", cache_policy=NO_CACHE)
def ingest_task(library: str, folder: str) -> dict[str, Any]:
    lake = Library(library).ensure().get_datalake()
    before = lake.version if lake.count() else None
    result = ingest_demo(lake, folder)
    return {"lake_version": result.lake_version, "previous_lake_version": before, "uploaded": result.uploaded}


@flow(name="demo", **RESULT_READ)
def demo(library: str, assets: str, registry: str) -> dict[str, Any]:
    folder = generate_task(assets)
    ingested = ingest_task(library, folder)
    if ingested["lake_version"] != ingested["previous_lake_version"]:
        emit_event(
            event=LAKE_UPDATED,
            resource={"prefect.resource.id": lake_resource_id(library)},
            payload={"lake_version": ingested["lake_version"], "tags": [], "library": library},
        )
    first = refresh_all(library, registry)
    second = refresh_all(library, registry)
    return {"ingest": ingested, "first": first, "second": second}
