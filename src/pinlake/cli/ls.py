"""`pinlake ls`: datasets of a library."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path
from pinlake.library import Library


@app.command("ls")
@handle_errors
def ls(as_json: bool = typer.Option(False, "--json", help="Print JSON."), library: Path | None = LibraryOption) -> None:
    """List the datasets of a library with items, sizes and versions.

    Example: pinlake ls --library ./library
    """
    from pinlake.library.info import list_datasets  # lazy: CLI startup

    lib = Library(library_path(library))
    rows = list_datasets(lib)
    for warning in lib.incomplete_warnings():
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        console.print(f"No datasets in {lib.path}. Try `pinlake demo`.", soft_wrap=True)
        return
    table = Table("dataset", "items", "version", "versions", "size", "description", title=str(lib.path))
    for r in rows:
        table.add_row(r["name"], str(r["items"]), str(r["version"]), str(r["versions"]), r["size"], r["description"])
    console.print(table)
