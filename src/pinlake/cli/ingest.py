"""`pinlake ingest`: the ingest flow on the configured server (lake upload / bucket import, then a
pinlake.lake.updated event), else the same upload step in this process without Prefect."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path
from pinlake.integrations.prefect import load_prefect, run_flow, run_here, use_server


@app.command("ingest")
@handle_errors
def ingest(
    paths: list[str] = typer.Argument(..., help="Files, folders, or s3://bucket/prefix to import by reference."),
    tag: list[str] = typer.Option([], "--tag", "-t"),
    source: str | None = typer.Option(None, "--source", "-s"),
    object_prefix: str | None = typer.Option(None, "--object-prefix", help="Logical folder for the object names."),
    local: bool | None = typer.Option(
        None,
        "--local/--server",
        help="Upload here without Prefect (default when no server is configured) or as a flow run on the configured server (PREFECT_API_URL), which emits the event.",
    ),
    runner: str = typer.Option("local", "--runner", help="local (threads) or dask (hash and write files on a Dask cluster)."),
    dask_address: str | None = typer.Option(None, "--dask-address", envvar="PINLAKE_DASK_ADDRESS", help="Scheduler of --runner dask."),
    as_json: bool = typer.Option(False, "--json"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="On failure show the traceback (Prefect's logs too) and where the run is."),
    library: Path | None = LibraryOption,
) -> None:
    """Ingest files into the lake; on a Prefect server as a flow run that emits pinlake.lake.updated on success.

    Example: pinlake ingest ./scans --tag mri --source camera-one

    Example: pinlake ingest /shared/scans --tag mri --runner dask --dask-address tcp://127.0.0.1:8786
    """
    lib = str(library_path(library).resolve())
    files, tags = list(paths), list(tag) or None
    if use_server(None if local is None else ("local" if local else "server")):
        load_prefect()  # a PREFECT_* setting Prefect refuses: one line
        from flows.ingest import ingest as ingest_flow  # lazy: CLI startup; quiet Prefect settings are set before Prefect loads

        result = run_flow(ingest_flow, files, tags, source, lib, object_prefix, runner, dask_address, verbose=verbose)
    else:
        from pinlake.library.ingest import ingest_step  # lazy: CLI startup; the flow's one task, without the artifacts and the event

        result = run_here(ingest_step, lib, files, tags, source, object_prefix, runner, dask_address, verbose=verbose)
    if as_json:
        echo_json(result)
        return
    console.print(f"[green]ingested[/] {result['data']} data; lake version {result['previous_lake_version']} → {result['lake_version']}")
    for e in result["errors"]:
        console.print(f"[red]failed[/] {e['path']}: {e['reason']}")
