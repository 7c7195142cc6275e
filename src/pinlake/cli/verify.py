"""`pinlake verify`: check a pins.yaml against the library."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("verify")
@handle_errors
def verify(
    pins_file: Path = typer.Argument(Path("pins.yaml"), help="The pins.yaml to check."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Check every pinned table version still exists and its content hash matches.

    Example: pinlake verify pins.yaml
    """
    from pinlake.library.pin import verify_pins  # lazy: CLI startup

    checks = verify_pins(pins_file, library_path(library))
    if as_json:
        echo_json(checks)
        return
    console.print(f"{pins_file}: {len(checks)} table version(s) verified, all match", soft_wrap=True)
