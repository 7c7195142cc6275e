"""`pinlake pin`: record an exact dataset version in a pins.yaml."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("pin")
@handle_errors
def pin(
    pin: str = typer.Argument(..., help="DATASET@VERSION (or @TAG, @lock:HASH)."),
    to: Path = typer.Option(Path("pins.yaml"), "--to", help="pins.yaml to write or update."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Write the version, table versions and content hashes to a pins.yaml (kept by cleanup).

    Example: pinlake pin health_images@1 --to pins.yaml
    """
    from pinlake.library.pin import write_pin  # lazy: CLI startup

    out = write_pin(pin, to, library_path(library))
    if as_json:
        echo_json(out)
        return
    console.print(f"pinned {out['pin']} ({len(out['tables'])} tables) in {to}", soft_wrap=True)
