"""`pinlake refresh`: refresh one dataset (or all): the Prefect flow on the configured server, else the
same engine steps in this process without Prefect."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, fail, handle_errors, library_path
from pinlake.integrations.prefect import load_prefect, resolve_registry, run_flow, run_here, unchanged_on_server, use_server


@app.command("refresh")
@handle_errors
def refresh(
    dataset: str | None = typer.Argument(None, help="Registry entry to refresh."),
    all_: bool = typer.Option(False, "--all", help="Refresh every entry of the registry."),
    registry: Path | None = typer.Option(None, "--registry", "-r", help="recipes/datasets.yaml to read."),
    local: bool | None = typer.Option(
        None,
        "--local/--server",
        help="Run the steps here without Prefect (default when no server is configured) or as a flow run on the configured server (PREFECT_API_URL).",
    ),
    as_json: bool = typer.Option(False, "--json"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="On failure show the traceback (Prefect's logs too) and where the run is."),
    library: Path | None = LibraryOption,
) -> None:
    """Refresh a dataset: recipe → lock → build → stats → preview → catalog → tag (no-op if the lock is unchanged).

    With a `channel:` in the registry entry the new version is checked first: it is published on the
    channel when its checks pass, else quarantined (exit 1, the failed checks named).

    Example: pinlake refresh health_by_tag --registry recipes/datasets.yaml
    """
    if not dataset and not all_:
        fail("name a dataset or pass --all", "Try `pinlake datasets ls` to see the registry.")
    reg = str(resolve_registry(registry))
    lib = str(library_path(library).resolve())
    server = use_server(None if local is None else ("local" if local else "server"))
    if dataset:
        from pinlake.library.refresh import registry_entry  # lazy: CLI startup

        registry_entry(reg, dataset)  # unknown names fail here, before any run starts
    results = _on_server(lib, reg, dataset, all_, verbose) if server else _here(lib, reg, dataset, all_, verbose)
    failed = [r for r in results if r.get("status") == "quarantined" and not r["unchanged"]]
    if as_json:
        echo_json(results)
    else:
        for r in results:
            status = f", {r['status']}" if r.get("status") else ""
            if r["unchanged"]:
                console.print(f"[yellow]unchanged[/] {r['dataset']}: lock {r['lock_hash'][:12]} is already version {r['version']}{status}")
            elif r in failed:
                console.print(f"[red]quarantined[/] {r['message']}")
            else:
                console.print(
                    f"[green]refreshed[/] {r['dataset']}: version {r['version']} (lock {r['lock_hash'][:12]}, tag {r.get('tag')}){status}"
                )
    if failed:
        raise typer.Exit(1)


def _on_server(lib: str, reg: str, dataset: str | None, all_: bool, verbose: bool) -> list[dict]:
    """The `refresh` / `refresh-all` flow on the server; a no-op of one dataset is recorded over REST."""
    if dataset and not all_:
        fast = unchanged_on_server(lib, reg, dataset)  # no-op: no Prefect import, run recorded over REST
        if fast is not None:
            return [fast]
    load_prefect()  # a PREFECT_* setting Prefect refuses: one line
    from flows.refresh import refresh as refresh_flow  # lazy: CLI startup; quiet Prefect settings are set before Prefect loads
    from flows.refresh import refresh_all  # lazy: CLI startup

    if all_:
        return run_flow(refresh_all, lib, reg, verbose=verbose)
    return [run_flow(refresh_flow, dataset, lib, reg, verbose=verbose)]


def _here(lib: str, reg: str, dataset: str | None, all_: bool, verbose: bool) -> list[dict]:
    """The refresh chain in this process (no Prefect import, no server): one dataset, or each in turn."""
    from pinlake.library.refresh import refresh_dataset, registry_names  # lazy: CLI startup

    names = registry_names(reg) if all_ else [dataset]
    return [run_here(refresh_dataset, lib, reg, name, verbose=verbose) for name in names]
