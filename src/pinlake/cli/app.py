"""The `pinlake` Typer application object and shared CLI helpers.

Each command lives in its own module (``pinlake/cli/<verb>.py``) and is a thin call into
the Python API: parse arguments, make one engine call, render the result.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console

from pinlake.errors import PinlakeError

app = typer.Typer(
    name="pinlake",
    help="Dataset versioning: a lake, recipes, locks, versioned Lance datasets, lineage and pinned reads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

LibraryOption = typer.Option(
    None,
    "--library",
    "-L",
    help="Library root (default: $PINLAKE_LIBRARY or ./library).",
    envvar="PINLAKE_LIBRARY",
)


def library_path(value: Path | str | None) -> Any:
    """The library root: a local Path, or an S3Path for ``s3://bucket/prefix`` (see pinlake.storage)."""
    from pinlake.storage import location

    return location(value) if value else location(os.environ.get("PINLAKE_LIBRARY", "./library"))


def handle_errors(fn: F) -> F:
    """Turn a PinlakeError into a red one-line message plus its hint, exit code 1. An object-store
    failure that surfaces raw from Lance mid-command is reported the same way (see
    :func:`pinlake.storage.lance_storage_error`); any other exception keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PinlakeError as exc:
            _report(exc)
        except (OSError, ValueError, RuntimeError) as exc:
            from pinlake.storage import lance_storage_error

            mapped = lance_storage_error(exc)
            if mapped is None:
                raise
            _report(mapped)

    return wrapper  # type: ignore[return-value]


def _report(exc: PinlakeError) -> None:
    err_console.print(f"[bold red]Error:[/] {exc.message}", highlight=False)
    if exc.partial is not None:
        err_console.print(f"[yellow]Partial result:[/] {exc.partial}", highlight=False)
    if exc.hint:
        err_console.print(f"[dim]{exc.hint}[/]", highlight=False)
    raise typer.Exit(1) from None


def fail(message: str, hint: str | None = None) -> None:
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    if hint:
        err_console.print(f"[dim]{hint}[/]", highlight=False)
    raise typer.Exit(1)


def echo_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
