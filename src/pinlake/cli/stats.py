"""`pinlake stats`: recompute stats.json."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path
from pinlake.library import Library


@app.command("stats")
@handle_errors
def stats(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Recompute stats.json (and features_values.json) with DuckDB over the dataset's tables.

    Example: pinlake stats health_images --json
    """
    from pinlake.library.info import open_dataset  # lazy: CLI startup
    from pinlake.library.stats import recompute_stats  # lazy: CLI startup

    ds = open_dataset(Library(library_path(library)), dataset)
    result = recompute_stats(ds)
    if as_json:
        echo_json(result)
        return
    console.print(f"[green]Wrote[/] {ds.path / 'stats.json'}", soft_wrap=True)
    console.print(f"items per split: {result['items_per_split']}")
    for table, cats in result["entities_per_category"].items():
        console.print(f"{table} per category: {cats}")
    for table, kind in result["annotations_per_kind"].items():
        console.print(f"{table}: {kind['count']} {kind['kind']}")
