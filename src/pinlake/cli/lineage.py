"""`pinlake lineage`: where a dataset version came from and who read it."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("lineage")
@handle_errors
def lineage(
    pin: str = typer.Argument(..., help="DATASET@VERSION (or @TAG, @lock:HASH)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    openlineage: Path | None = typer.Option(None, "--openlineage", help="Write OpenLineage RunEvents as JSON lines."),
    library: Path | None = LibraryOption,
) -> None:
    """Print the chain: lake version → lock → dataset version → stats/preview → consumers.

    Example: pinlake lineage health_by_tag@1 --openlineage lineage.jsonl
    """
    from pinlake.library.lineage import lineage_of  # lazy: CLI startup

    chain = lineage_of(pin, library_path(library))
    if openlineage is not None:
        from pinlake.catalog.openlineage import write_openlineage  # lazy: CLI startup

        n = write_openlineage(chain, openlineage)
        console.print(f"{n} OpenLineage event(s) written to {openlineage}", soft_wrap=True)
    if as_json:
        echo_json(chain)
        return
    v, lock = chain["version"], chain["lock"]
    console.print(f"[bold]lake[/]     version {chain['lake']['version'] or '-'}")
    recipe = lock.get("recipe") or lock.get("recipe_name") or lock.get("name") or "-"
    console.print(
        f"[bold]lock[/]     {lock['hash'] or '-'}  recipe {recipe}  recipe source hash {lock.get('recipe_hash') or '-'}", soft_wrap=True
    )
    tables = ", ".join(f"{t}@{n}" for t, n in sorted(v["tables"].items()))
    console.print(
        f"[bold]version[/]  {chain['dataset']}@{chain['dataset_version']}  {v['created_at'][:19]}  {v['operation']}  "
        f"run {v['run_id'] or '-'}  flow run {v['flow_run_id'] or '-'}"
    )
    console.print(f"          tables {tables}")
    console.print(f"[bold]stats[/]    {chain['stats'] or '-'}\n[bold]preview[/]  {chain['preview'] or '-'}", soft_wrap=True)
    if not chain["consumers"]:
        console.print("[bold]consumers[/] none recorded")
    for c in chain["consumers"]:
        console.print(f"[bold]consumer[/] run {c['run']}  {c['used_at'][:19]}  {c['user']}@{c['host']}")
