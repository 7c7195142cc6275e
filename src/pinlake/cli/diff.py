"""`pinlake diff`: rows added, removed and changed between two dataset versions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("diff")
@handle_errors
def diff(
    dataset: str = typer.Argument(..., help="Dataset name (or path)."),
    a: str = typer.Argument(..., help="Old version (number, tag or lock:HASH)."),
    b: str = typer.Argument(..., help="New version (number, tag or lock:HASH)."),
    include_meta: bool = typer.Option(False, "--include-meta", help="Also compare the bookkeeping columns (created_at, updated_at)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (counts and changed ids)."),
    ids_out: Path | None = typer.Option(None, "--ids-out", help="Write (table, change, id) as an Arrow IPC file."),
    library: Path | None = LibraryOption,
) -> None:
    """Compare two versions per table by id: added, removed, changed (same id, other content).

    Content is every column but the bookkeeping ones (created_at, updated_at): an identical rebuild
    diffs to 0 changed rows. --include-meta compares them too.

    Example (after a rebuild, e.g. pinlake build ./assets/health_images --name health_images --mode overwrite):
    pinlake diff health_images 1 2

    Example: pinlake diff health_images 1 2 --json --ids-out changes.arrow
    """
    from pinlake.library.diff import diff_versions  # lazy: CLI startup
    from pinlake.library.versions import dataset_path  # lazy: CLI startup

    out = diff_versions(dataset_path(dataset, library_path(library)), a, b, include_meta=include_meta)
    ids = out.pop("ids")
    if ids_out is not None:
        import pyarrow as pa

        with pa.OSFile(str(ids_out), "wb") as sink, pa.ipc.new_file(sink, ids.schema) as writer:
            writer.write_table(ids)
    if as_json:
        out["ids"] = ids.to_pylist()
        echo_json(out)
        return
    table = Table("table", "added", "removed", "changed", title=f"{out['dataset']} {out['a']} → {out['b']}")
    for name, c in out["tables"].items():
        table.add_row(name, str(c["added"]), str(c["removed"]), str(c["changed"]))
    console.print(table)
    if out["ignored_columns"]:
        console.print(f"[dim]not compared: {', '.join(out['ignored_columns'])} (--include-meta compares them)[/]", highlight=False)
    if ids_out is not None:
        console.print(f"{ids.num_rows} ids written to {ids_out}", highlight=False, soft_wrap=True)
