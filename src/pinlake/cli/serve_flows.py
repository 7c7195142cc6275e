"""`pinlake serve-flows`: serve the refresh deployments against the configured Prefect server."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, handle_errors, library_path
from pinlake.integrations.prefect import load_prefect, resolve_registry, use_server


@app.command("serve-flows")
@handle_errors
def serve_flows(registry: Path | None = typer.Option(None, "--registry", "-r"), library: Path | None = LibraryOption) -> None:
    """Serve one refresh deployment per registry entry (cron + lake-updated trigger) until Ctrl-C.

    Example: PREFECT_API_URL=http://127.0.0.1:4200/api pinlake serve-flows --registry recipes/datasets.yaml
    """
    use_server("server")
    load_prefect()  # a PREFECT_* setting Prefect refuses: one line
    from flows.serve import main  # lazy: CLI startup

    main(["--library", str(library_path(library)), "--registry", str(resolve_registry(registry))])
