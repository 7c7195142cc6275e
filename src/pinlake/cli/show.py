"""`pinlake show`: rows of one table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pinlake.cli.app import LibraryOption, app, console, echo_json, engine_message, handle_errors, library_path
from pinlake.errors import InvalidQueryError
from pinlake.library import Library


@app.command("show")
@handle_errors
def show(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    table: str = typer.Argument("item", help="Table name."),
    limit: int = typer.Option(10, "--limit", "-n"),
    skip: int = typer.Option(0, "--skip"),
    where: str | None = typer.Option(None, "--where", help="SQL filter, e.g. \"split = 'train'\"."),
    version: int | None = typer.Option(None, "--version", "-v", help="Dataset version to read."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    library: Path | None = LibraryOption,
) -> None:
    """Show rows of a dataset table.

    Example: pinlake show health_images bbox --limit 5

    Example: pinlake show health_images bbox --where "confidence > 0.5" --json
    """
    from pinlake.library.info import open_dataset  # lazy: CLI startup

    ds = open_dataset(Library(library_path(library)), dataset)
    if version is not None:
        ds = ds.checkout(version)
    schema = ds.schema.schema(table)
    try:
        data = ds.to_arrow(table, filter=where, limit=limit, offset=skip or None)
    except (ValueError, OSError) as exc:
        if not where or "Invalid user input" not in str(exc):
            raise
        columns = list(schema.model_fields)
        example = "split = 'train'" if "split" in columns else "confidence > 0.5" if "confidence" in columns else "id IS NOT NULL"
        raise InvalidQueryError(
            f"invalid --where filter {where!r}: {engine_message(exc)}",
            hint=f'Give a SQL filter over the columns of {table} ({", ".join(columns)}), e.g. --where "{example}".',
        ) from None
    rows = data.to_pylist()
    for r in rows:
        if r.get("content") is not None:
            r["content"] = f"<{len(r['content'])} bytes>"
    if as_json:
        echo_json(rows)
        return
    columns = [c for c in data.column_names if c not in ("created_at", "updated_at")]
    out = Table(*columns, title=f"{ds.name}.{table} @ v{ds.version}")
    for r in rows:
        out.add_row(*[_cell(r[c]) for c in columns])
    console.print(out)


def _cell(v: object) -> str:
    if isinstance(v, dict) and set(v) == {"name", "id"}:
        return f"{v['name']}:{v['id']}" if v["id"] else ""
    if isinstance(v, list) and len(v) > 8:
        return str(v[:8])[:-1] + ", …]"
    return str(v)
