"""`pinlake ingest`: the ingest flow (lake upload / bucket import, then a pinlake.lake.updated event)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("ingest")
@handle_errors
def ingest(
    paths: List[str] = typer.Argument(..., help="Files, folders, or s3://bucket/prefix to import by reference."),
    tag: List[str] = typer.Option([], "--tag", "-t"),
    source: Optional[str] = typer.Option(None, "--source", "-s"),
    object_prefix: Optional[str] = typer.Option(None, "--object-prefix", help="Logical folder for the object names."),
    local: Optional[bool] = typer.Option(None, "--local/--server"),
    runner: str = typer.Option("local", "--runner", help="local (threads) or dask (hash and write files on a Dask cluster)."),
    dask_address: Optional[str] = typer.Option(None, "--dask-address", envvar="PINLAKE_DASK_ADDRESS", help="Scheduler of --runner dask."),
    as_json: bool = typer.Option(False, "--json"),
    library: Optional[Path] = LibraryOption,
) -> None:
    """Ingest files into the lake as a Prefect flow run; emits pinlake.lake.updated on success.

    Example: pinlake ingest ./scans --tag mri --source camera-one

    Example: pinlake ingest /shared/scans --tag mri --runner dask --dask-address tcp://127.0.0.1:8786
    """
    from pinlake.flows_bridge import quiet_flows, use_server

    use_server(None if local is None else ("local" if local else "server"))
    with quiet_flows():
        from flows.ingest import ingest as ingest_flow

        result = ingest_flow(list(paths), list(tag) or None, source, str(library_path(library).resolve()), object_prefix,
                             runner, dask_address)
    if as_json:
        echo_json(result)
        return
    console.print(f"[green]ingested[/] {result['data']} data; lake version {result['previous_lake_version']} → {result['lake_version']}")
    for e in result["errors"]:
        console.print(f"[red]failed[/] {e['path']}: {e['reason']}")
