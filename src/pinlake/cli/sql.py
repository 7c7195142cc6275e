"""`pinlake sql`: read-only DuckDB SQL over the whole library."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import List, Optional

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("sql")
@handle_errors
def sql(
    query: str = typer.Argument(..., help="One SELECT statement (several statements separated by ';' are refused)."),
    at: Optional[List[str]] = typer.Option(None, "--at", help="Pin a dataset: DATASET=VERSION (or =TAG); repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
    limit: int = typer.Option(1000, "--max-rows", help="Rows shown in the table view."),
    library: Optional[Path] = LibraryOption,
) -> None:
    """Query datasets (schema per dataset), catalog.versions/lineage/pins/consumers and lake.data.

    Example: pinlake sql "SELECT split, count(*) FROM health_images.item GROUP BY split"
    """
    from pinlake.catalog.sql import sql as run_sql

    from pinlake.library import Library

    for warning in Library(library_path(library)).incomplete_warnings():
        typer.echo(f"warning: {warning}", err=True)
    result = run_sql(query, library_path(library), at)
    if as_json:
        echo_json(result.to_pylist())
        return
    if as_csv:
        import pyarrow.csv as pcsv

        buf = io.BytesIO()
        pcsv.write_csv(result, buf)
        sys.stdout.write(buf.getvalue().decode())
        return
    from rich.table import Table

    table = Table(*result.column_names)
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)
    if result.num_rows > limit:
        console.print(f"[dim]{result.num_rows - limit} more row(s); use --csv or --json for all[/]")
