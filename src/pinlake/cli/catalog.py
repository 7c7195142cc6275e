"""`pinlake catalog`: the lineage catalog of a library."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path

catalog_app = typer.Typer(
    help="The lineage catalog: every version of every Lance table in the library.\n\nExample: pinlake catalog sync --library ./library",
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("sync")
@handle_errors
def sync(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Walk every table's version history (datasets, logs, lake) and catalogue what is missing.

    Example: pinlake catalog sync --library ./library
    """
    from pinlake.catalog.sync import sync_library  # lazy: CLI startup

    report = sync_library(library_path(library))
    if as_json:
        echo_json(report)
        return
    total = sum(r.get("versions", 0) for r in report.values())
    console.print(f"catalogued {total} new table version(s) across {len(report)} dataset(s) (incl. _lake)")
