"""`pinlake serve`: the HTTP API and browser page over a library (FastAPI + uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from pinlake.cli.app import app, console, fail, handle_errors, library_path


@app.command("serve")
@handle_errors
def serve(
    library: Path | None = typer.Argument(None, help="Library root (default: $PINLAKE_LIBRARY or ./library).", envvar="PINLAKE_LIBRARY"),
    media_dir: Path | None = typer.Argument(None, help="Directory view urls resolve under (default: each dataset's media root)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, "--port", "-p", min=0, max=65535),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Serve the REST API (docs at /docs) and the browser page (at /).

    Example: pinlake serve ./library ./assets --host 127.0.0.1 --port 8000

    Writes need PINLAKE_API_TOKEN set here and sent as 'Authorization: Bearer <token>'.
    """
    root = library_path(library)
    if not root.is_dir():
        fail(f"library {root} does not exist", hint="Build a dataset first, e.g. `pinlake demo`.")
    if media_dir is not None and not media_dir.is_dir():
        fail(f"media dir {media_dir} does not exist")
    import uvicorn

    from pinlake.api.app import create_app  # lazy: CLI startup

    token = os.environ.get("PINLAKE_API_TOKEN") or None
    api = create_app(root, media_dir, token=token)
    writes = "enabled (bearer token)" if token else "disabled (set PINLAKE_API_TOKEN)"
    console.print(f"pinlake: serving {root} on http://{host}:{port}/ (docs at /docs); writes {writes}", highlight=False)
    uvicorn.run(api, host=host, port=port, log_level=log_level)
