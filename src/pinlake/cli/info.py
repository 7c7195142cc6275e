"""`pinlake info`: what a dataset holds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path
from pinlake.library import Library


@app.command("info")
@handle_errors
def info(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Show a dataset's description, version, tables and splits.

    Example: pinlake info health_images
    """
    from pinlake.library.info import dataset_summary, open_dataset  # lazy: CLI startup

    summary = dataset_summary(open_dataset(Library(library_path(library)), dataset))
    if as_json:
        echo_json(summary)
        return
    console.print(f"[bold]{summary['name']}[/] — {summary['description'] or 'no description'}")
    console.print(
        f"version {summary['version']} of {summary['versions']}, {summary['items']} items, {summary['size']}, splits {summary['splits']}"
    )
    table = Table("table", "group", "schema", "rows", "lance version")
    for name, t in summary["tables"].items():
        table.add_row(name, t["group"], t["schema"], str(summary["rows"].get(name, "")), str(t["lance_version"]))
    console.print(table)
    console.print(f"stats: {summary['stats']}\npreview: {summary['preview']}", soft_wrap=True)
