"""`pinlake up`: a local Prefect server with the UI on 127.0.0.1, serving pinlake's deployments."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, handle_errors, library_path
from pinlake.integrations.prefect import load_prefect, point_prefect_at, resolve_registry
from pinlake.util import interrupt
from pinlake.util.prefect_profile import prefect_home


@app.command("up")
@handle_errors
def up(
    port: int = typer.Option(4200, "--port"),
    registry: Path | None = typer.Option(None, "--registry", "-r"),
    home: Path | None = typer.Option(
        None, "--prefect-home", help="The server's database and log (default: $PREFECT_HOME, else ~/.prefect)."
    ),
    library: Path | None = LibraryOption,
) -> None:
    """Start a Prefect server (UI at http://127.0.0.1:PORT) and serve the refresh deployments until Ctrl-C or SIGTERM.

    Example: pinlake up --port 4200
    """
    from flows.policy import retry_delays  # lazy: CLI startup
    from flows.runtime import configure, start_server, stop_server  # lazy: CLI startup

    retry_delays()  # a bad PINLAKE_FLOW_RETRY_DELAYS is reported before a server is started for nothing
    home = home or prefect_home()
    configure(home)
    load_prefect()  # a PREFECT_* setting Prefect refuses (the server would too): one line, before the server starts
    reg = str(resolve_registry(registry))
    # SIGTERM (systemd, docker stop, kill) stops like Ctrl-C, so the server below is stopped too
    signal.signal(signal.SIGTERM, interrupt.on_interrupt)
    proc, url = start_server(home, port)
    try:  # from here on a SIGTERM (KeyboardInterrupt) stops the server: nothing may run between the start and the try
        point_prefect_at(url)
        console.print(f"[green]Prefect server[/] {url.removesuffix('/api')} (UI); export PREFECT_API_URL={url}", soft_wrap=True)
        from flows.serve import main as serve_main  # lazy: CLI startup

        serve_main(["--library", str(library_path(library)), "--registry", reg])
    finally:
        stop_server(proc)
