"""`pinlake restore`: a new dataset version equal to an old one."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, handle_errors, library_path


@app.command("restore")
@handle_errors
def restore(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    version: str = typer.Argument(..., help="Dataset version to restore (number, tag or lock:HASH)."),
    library: Path | None = LibraryOption,
) -> None:
    """Make a new version equal to an old one (recorded; nothing is deleted).

    Example: pinlake restore health_images 1
    """
    from pinlake.library.restore import restore_version  # lazy: CLI startup
    from pinlake.library.versions import dataset_path  # lazy: CLI startup

    entry = restore_version(dataset_path(dataset, library_path(library)), version)
    console.print(f"restored {dataset} to version {version}: new version [bold]{entry.dataset_version}[/]")
