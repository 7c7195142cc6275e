"""`pinlake versions`: the dataset versions of a dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path

#: how a version's channel status shows (published: the channel may point at it; see `pinlake publish`)
STATUS_STYLE = {"published": "[green]{}[/]", "quarantined": "[red]{}[/]", "candidate": "[yellow]{}[/]"}
#: a longer message is cut in the table (--json has it whole)
MESSAGE_WIDTH = 60


@app.command("versions")
@handle_errors
def versions(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """List a dataset's versions: number, time, operation, who made it and its message, rows per table, tags,
    channel status, lock hash, run id.

    A dataset gated on a channel (a registry `channel:`) marks each version candidate, published or
    quarantined (with the failed checks).

    Example: pinlake versions health_images
    """
    from pinlake.library.versions import dataset_path, list_versions  # lazy: CLI startup

    rows = list_versions(dataset_path(dataset, library_path(library)))
    if as_json:
        echo_json(rows)
        return
    table = Table("version", "created (UTC)", "operation", "by", "message", "rows", "tags", "status", "lock", "run id", "available")
    for r in rows:
        status = r["status"] + (f" ({', '.join(r['failed_checks'])})" if r["failed_checks"] else "")
        message = r["message"] if len(r["message"]) <= MESSAGE_WIDTH else r["message"][: MESSAGE_WIDTH - 1] + "…"
        table.add_row(
            str(r["dataset_version"]),
            r["created_at"][:19],
            r["operation"],
            escape(r["user"]),
            escape(message),
            ", ".join(f"{t}={n}" for t, n in sorted(r["rows"].items())),
            ", ".join(r["tags"]),
            STATUS_STYLE.get(r["status"], "{}").format(status),
            r["lock_hash"][:12],
            r["run_id"][:12],
            "yes" if r["available"] else "cleaned up",
        )
    console.print(table)
