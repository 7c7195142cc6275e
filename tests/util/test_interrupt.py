"""Ctrl-C in the CLI exits 130 whatever an engine makes of it (pinlake.util.interrupt): DuckDB turns a
KeyboardInterrupt raised in a query into its own error, and a library may swallow one as it imports.
Each case runs in a process of its own (the note is for the rest of a process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CASES = {
    # a real DuckDB query interrupted by a real SIGINT: DuckDB raises RuntimeError("Query interrupted")
    "duckdb": """
        import duckdb
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        duckdb.connect().execute("SELECT count(*) FROM range(20000000000) t(x) WHERE x % 7 = 3").fetchall()
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
