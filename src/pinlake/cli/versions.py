"""`pinlake versions`: the dataset versions of a dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("versions")
@handle_errors
def versions(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """List a dataset's versions: number, time, operation, rows per table, tags, lock hash, run id.

    Example: pinlake versions health_images
    """
    from pinlake.library.versions import dataset_path, list_versions  # lazy: CLI startup

    rows = list_versions(dataset_path(dataset, library_path(library)))
    if as_json:
        echo_json(rows)
        return
    table = Table("version", "created (UTC)", "operation", "rows", "tags", "lock", "run id", "available")
    for r in rows:
        table.add_row(
            str(r["dataset_version"]),
            r["created_at"][:19],
            r["operation"],
            ", ".join(f"{t}={n}" for t, n in sorted(r["rows"].items())),
            ", ".join(r["tags"]),
            r["lock_hash"][:12],
            r["run_id"][:12],
            "yes" if r["available"] else "cleaned up",
        )
    console.print(table)
