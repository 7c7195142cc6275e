"""`pinlake build`: build a dataset from an image folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pinlake.cli.app import LibraryOption, app, console, handle_errors, library_path


@app.command("build")
@handle_errors
def build(
    source: Path = typer.Argument(..., help="Folder ROOT with ROOT/<split>/*.jpg and ROOT/<split>/metadata.jsonl."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name in the library."),
    item: Optional[str] = typer.Option(None, "--item", help="DatasetItem class as FILE.py:Class (default: inferred from metadata.jsonl)."),
    mode: str = typer.Option("create", "--mode", "-m", help="create | overwrite | add"),
    description: str = typer.Option("", "--description", "-d"),
    url_prefix: Optional[str] = typer.Option(None, "--url-prefix", help="Prefix of view urls (default: /<folder name>)."),
    embed: bool = typer.Option(False, "--embed", help="Copy image bytes into the dataset."),
    flush_every: Optional[int] = typer.Option(None, "--flush-every", help="Samples per flush (memory vs speed)."),
    library: Optional[Path] = LibraryOption,
) -> None:
    """Build a dataset from an image folder (a new dataset version).

    Example: pinlake build ./assets/health_images --name health_images --mode create
    """
    from pinlake.datasets.ops import build_folder
    from pinlake.library import Library

    with Progress(TextColumn("[bold]building[/] {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(name, total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        result = build_folder(
            Library(library_path(library)), source, name, item=item, mode=mode, description=description,
            url_prefix=url_prefix, embed=embed, flush_every_n_samples=flush_every, progress=progress,
        )
    ds = result.dataset
    console.print(f"[green]Built[/] {ds.name} version {ds.version}: {ds.num_items} items, tables {ds.state.rows}")
    console.print(f"  dataset: {ds.path}\n  stats:   {ds.path / 'stats.json'}\n  preview: {ds.preview_path}")
