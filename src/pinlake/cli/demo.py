"""`pinlake demo`: generate the health images folder and build it into the library."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pinlake.cli.app import LibraryOption, app, console, handle_errors, library_path


@app.command("demo")
@handle_errors
def demo(
    assets: Path = typer.Option(Path("./assets"), "--assets", help="Where the demo images are generated."),
    library: Optional[Path] = LibraryOption,
) -> None:
    """Generate a small 'health images' folder (no download) and build it into the library.

    Example: pinlake demo --library ./library --assets ./assets
    """
    from pinlake.demo_run import run_demo

    result = run_demo(library_path(library), assets)
    ds = result.dataset
    console.print(f"[green]Demo dataset[/] {ds.name} version {ds.version}: {ds.num_items} items, splits {ds.splits()}")
    console.print(f"  rows per table: {ds.state.rows}")
    console.print(f"  dataset:  {ds.path}")
    console.print(f"  stats:    {ds.path / 'stats.json'}")
    console.print(f"  preview:  {ds.preview_path}")
    console.print(f"  images:   {result.assets}")
    console.print("Next: pinlake ls · pinlake info health_images · pinlake show health_images bbox")
