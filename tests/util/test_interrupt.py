"""Ctrl-C in the CLI exits 130 whatever an engine makes of it (pinlake.util.interrupt): DuckDB turns a
KeyboardInterrupt raised in a query into its own error, and a library may swallow one as it imports.
Each case runs in a process of its own (the note is for the rest of a process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CASES = {
    # a real SIGINT while DuckDB runs a query (sent from inside it, by a function the query calls, so
    # it lands there on any machine): DuckDB raises RuntimeError("Query interrupted")
    "duckdb": """
        import duckdb

        def ctrl_c(x: int) -> int:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            return x

        con = duckdb.connect()
        con.create_function("ctrl_c", ctrl_c)
        con.execute("SELECT ctrl_c(1)").fetchall()
    """,
    # an interrupt caught on the way (as a library's import can): the command must not carry on as if none came
    "swallowed": """
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass
        print("carried on")
    """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_interrupt_exits_130_whatever_became_of_it(case):
    code = textwrap.dedent(
        """
        import os, signal, threading, time
        import typer
        from pinlake.cli.app import handle_errors
        from pinlake.util import interrupt

        interrupt.install(signal.SIGINT)
        app = typer.Typer()

        @app.command()
        @handle_errors
        def command() -> None:
        BODY

        app()
        """
    ).replace("BODY\n", textwrap.indent(textwrap.dedent(CASES[case]).strip("\n"), "    ") + "\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
