"""`pinlake maintain`: compact the fragments many small writes leave (datasets, lake, catalog)."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path


@app.command("maintain")
@handle_errors
def maintain(
    datasets: list[str] = typer.Argument(None, help="Datasets to compact (default: every dataset, the lake and the catalog)."),
    fragments: int = typer.Option(8, "--fragments", min=1, help="Compact a table with more fragments than this."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Compact tables with many small fragments; a dataset's compaction is a new version, every older one stays readable.

    Example: pinlake maintain

    Example: pinlake maintain health_images --fragments 4
    """
    from pinlake.library.maintain import maintain_library  # lazy: CLI startup

    report = maintain_library(library_path(library), datasets or None, fragments=fragments)
    if as_json:
        echo_json(report.to_dict())
        return
    lines = []
    for name, version in report.versions.items():
        parts = [p for p in (_tables(report.datasets.get(name, {})), _indexes(report.indexes.get(name, []))) if p]
        lines.append(f"{name}: version {version} ({'; '.join(parts)})")
    lines += [f"lake: {_tables(report.lake)}"] if report.lake else []
    lines += [f"lake: {_indexes(report.lake_indexes)}"] if report.lake_indexes else []
    lines += [f"catalog: {_tables(report.catalog)}"] if report.catalog else []
    console.print("\n".join(lines) if lines else "nothing to compact or index")


def _tables(done: dict[str, tuple[int, int]]) -> str:
    return ", ".join(f"{t} {a}→{b} fragments" for t, (a, b) in done.items())


def _indexes(tables: list[str] | dict[str, list[str]]) -> str:
    return f"indexes of {', '.join(tables)}" if tables else ""
