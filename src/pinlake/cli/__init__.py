"""The `pinlake` command line: a thin mirror of the Python API, one module per verb."""

from __future__ import annotations

import importlib

from pinlake.util.lazy_pandas import defer_pandas
from pinlake.util.malloc_arenas import limit_arenas

limit_arenas()  # first, before any engine starts threads: freed memory is reused, not kept (bench/NOTES.md)
defer_pandas()  # first: Arrow's dataset module (lance loads it) then loads without pandas, 0.3 s a command

from pinlake.cli.app import app  # noqa: E402 - after the import hooks above

# Modules that register commands on `app` when imported (one module per verb).
_COMMAND_MODULES = (
    "pinlake.cli.demo",
    "pinlake.cli.build",
    "pinlake.cli.info",
    "pinlake.cli.ls",
    "pinlake.cli.show",
    "pinlake.cli.stats",
    "pinlake.cli.preview",
    "pinlake.cli.lake",
    "pinlake.cli.refresh",
    "pinlake.cli.ingest",
    "pinlake.cli.deploy",
    "pinlake.cli.runs",
    "pinlake.cli.up",
    "pinlake.cli.serve_flows",
    "pinlake.cli.datasets",
    "pinlake.cli.materialize",
    "pinlake.cli.serve",
    "pinlake.cli.versions",
    "pinlake.cli.tag",
    "pinlake.cli.restore",
    "pinlake.cli.diff",
    "pinlake.cli.check",
    "pinlake.cli.publish",
    "pinlake.cli.export",
    "pinlake.cli.catalog",
    "pinlake.cli.lineage",
    "pinlake.cli.sql",
    "pinlake.cli.pin",
    "pinlake.cli.verify",
    "pinlake.cli.cleanup",
    "pinlake.cli.maintain",
)


def register_commands() -> None:
    """Import every command module so `app` knows all commands (`main` does this; tests may too)."""
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Only tolerate a command module that is not written yet, never a broken import inside it.
            if exc.name != name:
                raise


_register = register_commands  # the earlier name, kept for callers that still use it


def main() -> None:
    import signal
    import sys

    from pinlake.util import interrupt

    interrupt.install(signal.SIGINT)  # Ctrl-C is noted too, whatever an engine makes of it
    try:
        register_commands()
        app()
    except KeyboardInterrupt:  # one that came outside a command (its import, the framework's own handling)
        sys.exit(130)


__all__ = ["app", "main", "register_commands"]
