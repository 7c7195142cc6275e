"""`pinlake runs`: recent flow runs and their states, from the Prefect API."""

from __future__ import annotations

import typer
from rich.table import Table

from pinlake.cli.app import app, console, echo_json, handle_errors
from pinlake.integrations.prefect import quiet_flows, use_server


@app.command("runs")
@handle_errors
def runs(
    limit: int = typer.Option(20, "--limit", "-n"),
    flow: str | None = typer.Option(None, "--flow"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List recent flow runs of the configured Prefect server (PREFECT_API_URL).

    Example: PREFECT_API_URL=http://127.0.0.1:4200/api pinlake runs --limit 5
    """
    use_server("server")
    with quiet_flows():
        from flows.runs import recent_runs  # lazy: CLI startup

        rows = recent_runs(limit, flow)
    if as_json:
        echo_json(rows)
        return
    table = Table("flow", "run", "state", "start", "duration (s)", "parameters")
    for r in rows:
        table.add_row(r["flow"], r["name"], r["state"], str(r["start"] or ""), f"{r['duration'] or 0:.1f}", str(r["parameters"])[:60])
    console.print(table)
