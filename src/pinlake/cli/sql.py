"""`pinlake sql`: read-only DuckDB SQL over the whole library."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, fail, handle_errors, library_path, one_line
from pinlake.errors import InvalidQueryError
from pinlake.library import Library

SQL_HINT = 'One read-only DuckDB statement over the library, e.g. pinlake sql "SELECT * FROM catalog.versions LIMIT 5".'
#: the widest a column of the table view gets before its values are cut with "…"
MAX_COLUMN_WIDTH = 32


@app.command("sql")
@handle_errors
def sql(
    query: str = typer.Argument(..., help="One SELECT statement (several statements separated by ';' are refused)."),
    at: list[str] | None = typer.Option(None, "--at", help="Pin a dataset: DATASET=VERSION (or =TAG); repeatable."),
    columns: str | None = typer.Option(
        None, "--columns", "-c", help="Only these result columns, comma-separated, e.g. dataset,table,version."
    ),
    vertical: bool = typer.Option(False, "--vertical", "-x", help="One field per line for each row (for wide rows)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
    limit: int = typer.Option(1000, "--max-rows", help="Rows shown in the table and vertical views."),
    library: Path | None = LibraryOption,
) -> None:
    """Query datasets (schema per dataset), catalog.versions/lineage/pins/consumers and lake.data.

    The table view shows the columns that fit the terminal and says which it left out; --columns
    picks columns, --vertical prints every field of each row on its own line.

    Example: pinlake sql "SELECT split, count(*) FROM health_images.item GROUP BY split"

    Example: pinlake sql "SELECT * FROM catalog.versions" --columns dataset,table,version,operation

    Example: pinlake sql "SELECT * FROM catalog.versions LIMIT 2" --vertical
    """
    from pinlake.library.sql import sql as run_sql  # lazy: CLI startup

    for warning in Library(library_path(library)).incomplete_warnings():
        typer.echo(f"warning: {warning}", err=True)
    try:
        result = run_sql(query, library_path(library), at)
    except InvalidQueryError as exc:  # DuckDB's syntax errors span lines (LINE 1: …, ^^^) and have no hint
        raise InvalidQueryError(one_line(exc.message), hint=exc.hint or SQL_HINT) from None
    if columns is not None:
        result = _select(result, columns)
    if as_json:
        echo_json(result.to_pylist())
        return
    if as_csv:
        import pyarrow.csv as pcsv

        buf = io.BytesIO()
        pcsv.write_csv(result, buf)
        sys.stdout.write(buf.getvalue().decode())
        return
    rows = result.slice(0, limit).to_pylist()
    if vertical:
        _print_vertical(result.column_names, rows)
    else:
        _print_table(result, rows)
    if result.num_rows > limit:
        console.print(f"[dim]{result.num_rows - limit} more row(s); use --csv or --json for all[/]")


def _select(result: Any, spec: str) -> Any:
    wanted = [c.strip() for c in spec.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in result.column_names]
    if not wanted or unknown:
        fail(
            f"unknown column(s) in --columns: {', '.join(unknown)}" if unknown else "--columns names no column",
            hint=f"Columns of this result: {', '.join(result.column_names)}.",
        )
    return result.select(wanted)


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _print_vertical(names: list[str], rows: list[dict[str, Any]]) -> None:
    """psql's expanded display: a header per row, then ``name | value`` lines (values never cut)."""
    width = max((len(n) for n in names), default=0)
    for i, row in enumerate(rows, 1):
        console.print(f"-[ RECORD {i} ]" + "-" * max(0, width - 8), highlight=False, markup=False, soft_wrap=True)
        for name in names:
            console.print(f"{name.ljust(width)} | {_text(row[name])}", highlight=False, markup=False, soft_wrap=True)


def _print_table(result: Any, rows: list[dict[str, Any]]) -> None:
    """A table of the columns that fit the console's width, in order, each cut at MAX_COLUMN_WIDTH;
    the columns left out are named under it."""
    import pyarrow.types as pat
    from rich.table import Table  # lazy: CLI startup

    names = result.column_names
    available = console.width - 1  # the table's left border
    shown: list[tuple[str, int]] = []
    for name in names:
        natural = max([len(name), *(len(_text(r[name])) for r in rows)])
        w = min(natural, MAX_COLUMN_WIDTH)
        if shown and available - (w + 3) < 0:  # 3: a space each side and the border
            break
        shown.append((name, w))
        available -= w + 3
    table = Table()
    for name, w in shown:
        numeric = pat.is_integer(result.schema.field(name).type) or pat.is_floating(result.schema.field(name).type)
        table.add_column(name, max_width=w, no_wrap=True, overflow="ellipsis", justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*(_text(r[name]) for name, _ in shown))
    console.print(table)
    hidden = names[len(shown) :]
    if hidden:
        console.print(
            f"[dim]{len(hidden)} more column(s) not shown: {', '.join(hidden)}; use --columns a,b or --vertical[/]", highlight=False
        )
