"""`pinlake refresh`: run the refresh flow of one dataset (or all) through Prefect."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, fail, handle_errors, library_path


@app.command("refresh")
@handle_errors
def refresh(
    dataset: Optional[str] = typer.Argument(None, help="Registry entry to refresh."),
    all_: bool = typer.Option(False, "--all", help="Refresh every entry of the registry."),
    registry: Optional[Path] = typer.Option(None, "--registry", "-r", help="recipes/datasets.yaml to read."),
    local: Optional[bool] = typer.Option(None, "--local/--server", help="Temporary local Prefect (default when PREFECT_API_URL is unset) or the configured server."),
    as_json: bool = typer.Option(False, "--json"),
    library: Optional[Path] = LibraryOption,
) -> None:
    """Refresh a dataset: recipe → lock → build → stats → preview → catalog → tag (no-op if the lock is unchanged).

    Example: pinlake refresh health_by_tag --registry recipes/datasets.yaml
    """
    from pinlake.flows_bridge import quiet_flows, resolve_registry, unchanged_on_server, use_server

    if not dataset and not all_:
        fail("name a dataset or pass --all", "Try `pinlake datasets ls` to see the registry.")
    reg = str(resolve_registry(registry))
    lib = str(library_path(library).resolve())
    use_server(None if local is None else ("local" if local else "server"))
    fast = None
    if dataset:
        from pinlake.refresh import registry_entry

        registry_entry(reg, dataset)  # unknown names fail here, before Prefect starts
        if not all_:
            fast = unchanged_on_server(lib, reg, dataset)  # no-op: no Prefect import, run recorded over REST
    if fast is not None:
        results = [fast]
    else:
        with quiet_flows():
            from flows.refresh import refresh as refresh_flow
            from flows.refresh import refresh_all

            results = refresh_all(lib, reg) if all_ else [refresh_flow(dataset, lib, reg)]
    if as_json:
        echo_json(results)
        return
    for r in results:
        if r["unchanged"]:
            console.print(f"[yellow]unchanged[/] {r['dataset']}: lock {r['lock_hash'][:12]} is already version {r['version']}")
        else:
            console.print(f"[green]refreshed[/] {r['dataset']}: version {r['version']} (lock {r['lock_hash'][:12]}, tag {r.get('tag')})")
