"""`pinlake materialize`: turn lockfiles into files or tables (folder, csv, parquet, plugins)."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import app, console, handle_errors
from pinlake.library import Library


@app.command("materialize")
@handle_errors
def materialize(
    file: list[Path] = typer.Option(..., "--file", "-f", help="A resources.<split>.jsonl (repeatable)."),
    materializer: list[str] = typer.Option(..., "--materializer", "-m", help="Materializer to run, in order (repeatable)."),
    out: Path = typer.Option(Path("materialized"), "--out", "-o", help="Output folder."),
    library: Path | None = typer.Option(
        None, "--library", "-L", help="Library whose lake holds the bytes (default: the lake recorded in lock.json)."
    ),
) -> None:
    """Run materializers over locked resources (each lockfile is checked against its lock.json).

    Example (<hash>: the lock directory `pinlake datasets lock` printed):
    pinlake materialize -f library/_locks/<hash>/resources.train.jsonl -m folder -m csv -m parquet --out ./export
    """
    from pinlake.recipes.materializers import materialize as run  # lazy: CLI startup

    lake = None
    if library is not None:
        lake = Library(library).get_datalake()
    result = run(file, materializer, out, lake)
    for name, paths in result.items():
        console.print(f"[green]{name}[/]: {len(paths)} file(s) under {out}", soft_wrap=True)
