"""`pinlake deploy`: keep infra/prefect.yaml in sync with recipes/datasets.yaml."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, handle_errors, library_path
from pinlake.integrations.prefect import resolve_registry


@app.command("deploy")
@handle_errors
def deploy(
    registry: Path | None = typer.Option(None, "--registry", "-r"),
    out: Path = typer.Option(Path("infra/prefect.yaml"), "--out", "-o", help="prefect.yaml to write."),
    print_only: bool = typer.Option(False, "--print", help="Print the YAML instead of writing it."),
    work_pool: str = typer.Option("pinlake-process", "--work-pool"),
    library: Path | None = LibraryOption,
) -> None:
    """Generate the deployments (one refresh per registry entry: its cron + the lake-updated trigger).

    Example: pinlake deploy --print
    Then: prefect work-pool create pinlake-process --type process && prefect deploy --all --prefect-file infra/prefect.yaml
    """
    from flows.deployments import (  # lazy: CLI startup; flows.deployments imports no Prefect at module level
        prefect_yaml,
        write_prefect_yaml,
    )  # lazy: CLI startup

    reg = str(resolve_registry(registry))
    lib = str(library_path(library).resolve())
    if print_only:
        import yaml

        typer.echo(yaml.safe_dump(prefect_yaml(reg, lib, work_pool), sort_keys=False))
        return
    write_prefect_yaml(out, reg, lib, work_pool)
    console.print(f"[green]Wrote[/] {out}", soft_wrap=True)
