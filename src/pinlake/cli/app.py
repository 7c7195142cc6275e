"""The `pinlake` Typer application object and shared CLI helpers.

Each command lives in its own module (``pinlake/cli/<verb>.py``) and is a thin call into
the Python API: parse arguments, make one engine call, render the result.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from pinlake.errors import PinlakeError

HELP = """Dataset versioning: a lake, recipes, locks, versioned Lance datasets, lineage and pinned reads.

Examples:

pinlake demo       # a demo library in ./library: lake, datasets, refreshes, catalog
pinlake build ./assets/health_images --name health_images --mode overwrite
pinlake sql "SELECT dataset, count(*) AS versions FROM catalog.versions GROUP BY dataset"
"""


def _plain_flags(params: list[Any]) -> None:
    """Render boolean flags as typer renders them (``--embed``, ``--x/--no-x``), without a ``<bool>``
    value placeholder: a flag takes no value."""
    for p in params:
        if p is not None and getattr(p, "is_flag", False) and getattr(p, "metavar", "") is None:
            p.metavar = ""


def _plain_flags_tree(command: Any, ctx: Any) -> None:
    _plain_flags([*getattr(command, "params", []), command.get_help_option(ctx)])
    for sub in getattr(command, "commands", {}).values():
        _plain_flags_tree(sub, ctx)


class PinlakeGroup(TyperGroup):
    """The command group of ``pinlake``: its commands' help shows flags without a value type."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _plain_flags(params)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags_tree(command, ctx)
        return command


app = typer.Typer(
    name="pinlake",
    help=HELP,
    cls=PinlakeGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class CliConsole(Console):
    """A rich console that does not wrap lines when its output is not a terminal (a pipe, a file, a
    captured subprocess): a long error, a path or a lock hash stays on one line there, whatever
    COLUMNS says. On a terminal, text wraps at the terminal width as usual."""

    def print(self, *objects: Any, soft_wrap: bool | None = None, **kwargs: Any) -> None:
        if soft_wrap is None:
            soft_wrap = self.soft_wrap or not self.is_terminal
        super().print(*objects, soft_wrap=soft_wrap, **kwargs)


console = CliConsole()
err_console = CliConsole(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

LibraryOption = typer.Option(
    None,
    "--library",
    "-L",
    help="Library root (default: $PINLAKE_LIBRARY or ./library).",
    envvar="PINLAKE_LIBRARY",
)

#: --registry of the commands that read an entry's checks (found as `pinlake refresh` finds it)
ChecksRegistryOption = typer.Option(
    None,
    "--registry",
    "-r",
    help="The registry yaml declaring the checks (default: $PINLAKE_REGISTRY, else ./recipes/datasets.yaml, else the source checkout's).",
)


def library_path(value: Path | str | None) -> Any:
    """The library root: a local Path, or an S3Path for ``s3://bucket/prefix`` (see pinlake.storage)."""
    from pinlake.storage import location  # lazy: CLI startup

    return location(value) if value else location(os.environ.get("PINLAKE_LIBRARY", "./library"))


def verbose_requested(kwargs: dict[str, Any] | None = None) -> bool:
    """The user asked for tracebacks: the command's own ``--verbose``/``-v`` (in ``kwargs``),
    ``--verbose`` on the command line, or ``PINLAKE_VERBOSE`` set (not to 0, false, no or off)."""
    if kwargs and kwargs.get("verbose") is True:
        return True
    env = os.environ.get("PINLAKE_VERBOSE", "").strip().lower()
    return "--verbose" in sys.argv[1:] or env not in ("", "0", "false", "no", "off")


def unexpected(exc: Exception) -> PinlakeError:
    """Any other exception as one line naming its type, with the way to its traceback."""
    text = one_line(str(exc)) or "(no message)"
    return PinlakeError(
        f"unexpected {type(exc).__name__}: {text[:500]}",
        hint="Run again with PINLAKE_VERBOSE=1 to see the traceback (and report it if pinlake is at fault).",
    )


def handle_errors(fn: F) -> F:
    """Turn a PinlakeError into a red one-line message plus its hint, exit code 1. An object-store
    failure that surfaces raw from Lance mid-command is reported the same way (see
    :func:`pinlake.storage.lance_storage_error`), and so is any other exception (its type and
    message, :func:`unexpected`) unless the user asked for tracebacks (:func:`verbose_requested`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            out = fn(*args, **kwargs)
        except PinlakeError as exc:
            interrupted_exit()
            _report(exc)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            interrupted_exit()  # an interrupt an engine turned into its own error (DuckDB: "Query interrupted")
            if type(exc).__module__.split(".")[0] in ("typer", "click"):  # usage errors: the CLI framework reports them
                raise
            from pinlake.storage import lance_storage_error  # lazy: CLI startup

            mapped: PinlakeError | None = lance_storage_error(exc) if isinstance(exc, (OSError, ValueError, RuntimeError)) else None
            if mapped is None and "prefect" in sys.modules:
                from pinlake.integrations.prefect import prefect_setting_error  # lazy: CLI startup

                mapped = prefect_setting_error(exc)
            if mapped is None and verbose_requested(kwargs):
                raise
            _report(mapped or unexpected(exc))
        interrupted_exit()  # an interrupt swallowed on the way (a library that caught it as it imported)
        return out

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps fn's signature at run time


def interrupted_exit() -> None:
    """Exit 130, as for Ctrl-C, if an interrupt was requested in this process
    (:mod:`pinlake.util.interrupt`): what the command finished is kept, as after any interrupt."""
    from pinlake.util import interrupt

    if interrupt.requested():
        raise typer.Exit(130)


#: the Rust source locations Lance appends to its errors (``, /home/runner/work/lance/…/sql.rs:109:22``)
_RUST_LOCATION = re.compile(r",?\s*/\S+?\.rs:\d+:\d+")


def one_line(text: str) -> str:
    """An engine's error message on one line: DuckDB's ``LINE 1: …`` and its ``^^^`` marker joined,
    Lance's Rust source locations dropped. (Not for pinlake's own messages: a recipe error carries
    the recipe's traceback on purpose.)"""
    text = _RUST_LOCATION.sub("", str(text))
    lines = [ln.strip() for ln in text.splitlines()]
    return " ".join(ln for ln in lines if ln and not set(ln) <= {"^", " "})


def engine_message(exc: BaseException) -> str:
    """What Lance or DuckDB said, without its prefixes and source locations: ``Invalid user input:
    Error parsing statement: SELECT 1 FROM t WHERE x >>> 1 (sql parser error: Expected: …)`` →
    ``sql parser error: Expected: …``."""
    text = one_line(str(exc))
    parser = re.search(r"\((sql parser error: .*)\)\s*$", text)
    if parser:
        return parser.group(1)
    text = re.sub(r"\. Valid fields are .*$", ".", text)  # the hint names the columns (Lance lists its own _row* too)
    return re.sub(r"^(Invalid user input:\s*)+", "", text)


def _report(exc: PinlakeError) -> None:
    err_console.print(f"[bold red]Error:[/] {_RUST_LOCATION.sub('', exc.message)}", highlight=False)
    if exc.partial is not None:
        err_console.print(f"[yellow]Partial result:[/] {exc.partial}", highlight=False)
    if exc.hint:
        err_console.print(f"[dim]{exc.hint}[/]", highlight=False)
    raise typer.Exit(1) from None


def fail(message: str, hint: str | None = None) -> NoReturn:
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    if hint:
        err_console.print(f"[dim]{hint}[/]", highlight=False)
    raise typer.Exit(1)


def echo_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
