"""`pinlake publish`: move a dataset's channel to a version that passes its checks (or force it, with a reason)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from pinlake.cli.app import ChecksRegistryOption, LibraryOption, app, console, echo_json, handle_errors, library_path
from pinlake.cli.check import results_table
from pinlake.integrations.prefect import resolve_registry


@app.command("publish")
@handle_errors
def publish(
    dataset: str = typer.Argument(..., help="DATASET@VERSION to publish (a number, a tag or latest)."),
    channel: str | None = typer.Option(None, "--channel", "-c", help="The channel to move (default: the registry entry's channel)."),
    force: bool = typer.Option(False, "--force", help="Publish even when blocking checks fail (needs --reason)."),
    reason: str = typer.Option("", "--reason", help="Why; recorded with the user in catalog.publications."),
    registry: Path | None = ChecksRegistryOption,
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Publish a version on a channel: its checks run first and the channel moves only if they pass
    (exit 1 and the version is quarantined otherwise). --force --reason overrides, recorded.

    Example: pinlake publish health_by_tag@3 --channel prod

    Example: pinlake publish health_by_tag@4 --channel prod --force --reason "drift expected: new scanner"
    """
    from pinlake.library.publish import publish as publish_version  # lazy: CLI startup

    decision = publish_version(library_path(library), dataset, channel, registry=resolve_registry(registry), force=force, reason=reason)
    if as_json:
        echo_json(decision.to_dict())
    else:
        if decision.report is not None and decision.report.results:
            console.print(results_table(decision.report.results, f"{decision.dataset}@{decision.version}"))
        colour = "green" if decision.published else "bold red"
        console.print(f"[{colour}]{decision.status}[/] {escape(decision.message())}", highlight=False)
    if not decision.published:
        raise typer.Exit(1)
