"""`pinlake cleanup`: remove old table versions (tagged, pinned and latest are kept)."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("cleanup")
@handle_errors
def cleanup(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    older_than: str = typer.Option("30d", "--older-than", help="Age cutoff: 30d, 12h, 2w, 45m, 10s."),
    drop_lock_tags: bool = typer.Option(
        False, "--drop-lock-tags", help="Refreshes' automatic lock-* tags do not keep a version (what a registry retention does)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Remove versions older than the cutoff; keeps tagged, pinned (pins.yaml) and the latest; recorded.

    Example: pinlake cleanup health_images --older-than 30d

    Example: pinlake cleanup basel_trial --older-than 90d --drop-lock-tags
    """
    from pinlake.library.cleanup import cleanup_dataset  # lazy: CLI startup
    from pinlake.library.versions import dataset_path  # lazy: CLI startup

    report = cleanup_dataset(dataset_path(dataset, library_path(library)), older_than, keep_lock_tags=not drop_lock_tags)
    if as_json:
        echo_json(report)
        return
    removed = sum(len(t["removed"]) for t in report["tables"].values())
    freed = sum(t["bytes_removed"] for t in report["tables"].values())
    kept = ", ".join(f"{v} ({'; '.join(w)})" for v, w in report["kept_dataset_versions"].items())
    console.print(f"removed {removed} table version(s), {freed} bytes; kept dataset versions: {kept}")
