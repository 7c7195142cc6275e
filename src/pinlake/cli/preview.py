"""`pinlake preview`: redraw preview.png."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, handle_errors, library_path
from pinlake.library import Library


@app.command("preview")
@handle_errors
def preview(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    media_dir: Path | None = typer.Option(None, "--media-dir", help="Where view urls resolve."),
    library: Path | None = LibraryOption,
) -> None:
    """Redraw preview.png: a mosaic of sample images with their boxes and keypoints.

    Example: pinlake preview health_images
    """
    from pinlake.library.info import open_dataset  # lazy: CLI startup
    from pinlake.library.preview import recompute_preview  # lazy: CLI startup

    ds = open_dataset(Library(library_path(library)), dataset, media_dir=media_dir)
    console.print(f"[green]Wrote[/] {recompute_preview(ds)}", soft_wrap=True)
