"""`pinlake tag`: name a dataset version."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, handle_errors, library_path


@app.command("tag")
@handle_errors
def tag(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    version: str = typer.Argument(..., help="Dataset version (number, tag or lock:HASH)."),
    name: str = typer.Argument(..., help="Tag name, e.g. v1.0."),
    library: Path | None = LibraryOption,
) -> None:
    """Tag a dataset version (a Lance tag on each table plus a catalog record).

    Example: pinlake tag health_images 1 v1.0
    """
    from pinlake.library.tag import tag_version  # lazy: CLI startup
    from pinlake.library.versions import dataset_path  # lazy: CLI startup

    out = tag_version(dataset_path(dataset, library_path(library)), version, name)
    console.print(f"tagged {out['dataset']}@{out['dataset_version']} as [bold]{out['tag']}[/]")
