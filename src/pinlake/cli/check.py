"""`pinlake check`: run a dataset's declared quality checks on one of its versions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from pinlake.cli.app import ChecksRegistryOption, LibraryOption, app, console, echo_json, handle_errors, library_path
from pinlake.integrations.prefect import resolve_registry

STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "error": "bold magenta", "skip": "dim"}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def results_table(results: list, title: str) -> Table:
    """Check results as a rich table: check, status (coloured), value, threshold, message."""
    table = Table("check", "status", "value", "threshold", "message", title=title)
    for r in results:
        style = STYLE.get(r.status, "")
        status = f"[{style}]{r.status}[/]" if style else r.status
        table.add_row(escape(r.check), status, escape(_cell(r.value)), escape(_cell(r.threshold)), escape(r.message))
    return table


@app.command("check")
@handle_errors
def check(
    dataset: str = typer.Argument(..., help="DATASET or DATASET@VERSION (a number or a tag; default the latest version)."),
    registry: Path | None = ChecksRegistryOption,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Run the checks the dataset's registry entry declares (checks:) on one version; exit 1 when a blocking check fails.

    The drift checks (max_row_change, max_category_drift) compare with the version tagged with the
    entry's channel, else with the version before. Checks listed under warn: report without blocking.

    Example: pinlake check health_by_tag --registry recipes/datasets.yaml

    Example: pinlake check health_by_tag@2 --json
    """
    from pinlake.library.check import check_dataset  # lazy: CLI startup

    report = check_dataset(library_path(library), dataset, registry=resolve_registry(registry))
    if as_json:
        echo_json(report.to_dict())
    else:
        base = f", baseline {report.baseline_version}" if report.baseline_version is not None else ", no baseline"
        table = results_table(report.results, f"{report.dataset}@{report.version}{base}")
        if report.results:
            console.print(table)
        else:
            console.print(f"no checks declared for {report.dataset}: add `checks:` to its registry entry", highlight=False)
        blocking = [r.check for r in report.blocking]
        if blocking:
            console.print(f"[bold red]failed:[/] {', '.join(blocking)}", highlight=False)
        else:
            console.print(f"[green]passed[/] ({len(report.results)} check(s))", highlight=False)
    if not report.passed:
        raise typer.Exit(1)
