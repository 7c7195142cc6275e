"""ingest(paths_or_prefix, tags, source) and process(processing, selection) as Prefect flows."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from flows.policy import RESULT_READ, RETRY
from flows.runtime import library_id, mark_lineage
from pinlake.library.ingest import ingest_step, process_step

LAKE_UPDATED = "pinlake.lake.updated"


def lake_resource_id(library: str) -> str:
    return f"pinlake.lake.{library_id(library)}"


@task(name="upload", **RETRY, cache_policy=NO_CACHE)
def upload_task(
    library: str,
    paths: list[str],
    tags: list[str] | None,
    source: str | None,
    object_prefix: str | None,
    runner: str = "local",
    dask_address: str | None = None,
) -> dict[str, Any]:
    return ingest_step(library, paths, tags, source, object_prefix, runner, dask_address)


@flow(name="ingest", **RESULT_READ)
def ingest(
    paths_or_prefix: list[str],
    tags: list[str] | None = None,
    source: str | None = None,
    library: str = "library",
    object_prefix: str | None = None,
    runner: str = "local",
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Upload files / import a bucket prefix; per-file errors in an artifact; emits pinlake.lake.updated.

    ``runner="dask"`` hashes and writes the files on the Dask scheduler at ``dask_address``
    (one commit in this task); the default hashes them on threads here."""
    mark_lineage()
    result = upload_task(str(library), list(paths_or_prefix), tags, source, object_prefix, runner, dask_address)
    if result["errors"]:
        create_table_artifact(result["errors"], key="ingest-errors", description="files that failed to ingest")
    create_markdown_artifact(
        f"# Ingest\n\n- data: {result['data']}\n- lake version: {result['previous_lake_version']} → {result['lake_version']}\n"
        f"- tags: {', '.join(result['tags']) or 'none'}\n- errors: {len(result['errors'])}\n",
        key="ingest-summary",
    )
    if result["lake_version"] != result["previous_lake_version"]:
        emit_event(
            event=LAKE_UPDATED,
            resource={"prefect.resource.id": lake_resource_id(str(library)), "pinlake.library": library_id(library)},
            payload={"lake_version": result["lake_version"], "tags": result["tags"], "library": str(library)},
        )
        get_run_logger().info("emitted %s (lake version %s)", LAKE_UPDATED, result["lake_version"])
    return result


@task(name="processing", cache_policy=NO_CACHE)
def processing_task(
    library: str, processing: str, q: str | None, tags: list[str] | None, parameters: dict[str, Any] | None
) -> dict[str, Any]:
    return process_step(library, processing, q, tags, parameters)


@flow(name="process", **RESULT_READ)
def process(
    processing: str, q: str | None = None, tags: list[str] | None = None, parameters: dict[str, Any] | None = None, library: str = "library"
) -> dict[str, Any]:
    """Run a lake processing (e.g. image-stats, auto-tag) over a selection (q / tags)."""
    mark_lineage()
    result = processing_task(str(library), processing, q, tags, parameters)
    create_markdown_artifact(
        f"# Processing {processing}\n\n" + "\n".join(f"- {k}: {v}" for k, v in result.items() if k != "errors"), key="processing-summary"
    )
    return result
