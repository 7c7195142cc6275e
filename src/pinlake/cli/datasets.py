"""`pinlake datasets lock | ls | register`: recipes, locks and the recipe registry."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path

datasets_app = typer.Typer(
    name="datasets",
    help="Recipes: lock them into lockfiles, list and register them.\n\nExample: pinlake datasets ls --registry recipes/datasets.yaml",
    no_args_is_help=True,
)
app.add_typer(datasets_app, name="datasets")
RegistryOption = typer.Option(Path("recipes/datasets.yaml"), "--registry", "-r", help="The registry yaml.")


@datasets_app.command("lock")
@handle_errors
def lock(
    file: Path = typer.Option(..., "--file", "-f", help="Recipe .py file (one @pinlake.recipe() function)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here (default: <library>/_locks/<hash>/)."),
    name: str | None = typer.Option(None, "--name", help="Recipe to use when the file holds several."),
    since: Path | None = typer.Option(
        None,
        "--since",
        help="An earlier lock of this recipe: a rowwise=True recipe then runs over the resources changed since it only.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the hash, directory and counts as JSON (for scripts)."),
    library: Path | None = LibraryOption,
) -> None:
    """Evaluate a recipe over the lake and write resources.<split>.jsonl + lock.json.

    Example: pinlake datasets lock --file recipes/basel_trial.py

    Example (the lock's directory for the next command): pinlake datasets lock --file recipes/basel_trial.py --json

    Example (a row-wise recipe, from its last lock): pinlake datasets lock --file recipes/health_by_tag.py --out locks/v2 --since locks/v1
    """
    from pinlake.library.lock import lock_file  # lazy: CLI startup

    result = lock_file(library_path(library), file, out=out, name=name, since=since)
    parent = result.manifest.get("parent")
    if as_json:
        echo_json(
            {
                "recipe": result.manifest["recipe"],
                "hash": result.hash,
                "path": str(result.path),
                "lake_version": result.manifest["lake_version"],
                "counts": dict(result.counts),
                "parent": parent,
            }
        )
        return
    console.print(
        f"[green]Locked[/] {result.manifest['recipe']} at lake version {result.manifest['lake_version']}: hash {result.hash}",
        soft_wrap=True,
    )
    if parent:
        console.print(f"  from lock {parent['hash'][:12]}: {parent['touched']} changed resource(s) locked again", soft_wrap=True)
    for split, n in result.counts.items():
        console.print(f"  {result.path / f'resources.{split}.jsonl'}  ({n} resources)", soft_wrap=True)


@datasets_app.command("ls")
@handle_errors
def ls(registry: Path = RegistryOption, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the datasets of the registry.

    Example: pinlake datasets ls --registry recipes/datasets.yaml
    """
    from pinlake.library.registry import Registry  # lazy: CLI startup

    reg = Registry(registry)
    if as_json:
        echo_json([e.model_dump() for e in reg])
        return
    table = Table("name", "version", "schedule", "builder", "splits", "retention", "script")
    for e in reg:
        table.add_row(
            e.name, str(e.version), e.schedule or "-", e.builder, ",".join(e.splits or []) or "-", e.retention or "-", e.script_location
        )
    console.print(table)


@datasets_app.command("register")
@handle_errors
def register(
    file: Path = typer.Option(..., "--file", "-f", help="Recipe .py file."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name."),
    version: str = typer.Option("1", "--version"),
    description: str = typer.Option("", "--description", "-d"),
    schedule: str | None = typer.Option(None, "--schedule", help="5-field cron, e.g. '0 3 * * *'."),
    builder: str = typer.Option("lock", "--builder"),
    item: str = typer.Option("pinlake.demo.data:HealthDatasetItem", "--item", help="DatasetItem as module:Class or file.py:Class."),
    split: list[str] | None = typer.Option(None, "--split", help="Expected split (repeatable)."),
    retention: str | None = typer.Option(None, "--retention", help="Keep versions this long, e.g. 30d."),
    registry: Path = RegistryOption,
) -> None:
    """Validate a recipe and append it to the registry.

    Example: pinlake datasets register --file recipes/basel_trial.py --name basel_trial --schedule "0 3 * * *"
    """
    from pinlake.library.registry import register as do_register  # lazy: CLI startup
    from pinlake.library.registry import relative_script  # lazy: CLI startup

    entry = do_register(
        registry,
        {
            "name": name,
            "version": int(version) if version.isdigit() else version,
            "description": description,
            "script_location": relative_script(file, registry),
            "schedule": schedule,
            "builder": builder,
            "dataset_item": item,
            "splits": split or None,
            "retention": retention,
        },
    )
    console.print(f"[green]Registered[/] {entry.name} (version {entry.version}) in {registry}")
