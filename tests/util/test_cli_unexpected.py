"""An exception pinlake did not foresee reaches the user as one line naming it, with the way to its
traceback; PINLAKE_VERBOSE=1 or --verbose shows the traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: a command of pinlake's CLI app whose body has a bug (a real ZeroDivisionError, raised in it)
SCRIPT = """
import sys
import typer
from pinlake.cli import register_commands
from pinlake.cli.app import app, handle_errors

register_commands()

@app.command("broken")
@handle_errors
def broken(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    print(1 / len([]))

sys.argv = ["pinlake", "broken", *sys.argv[1:]]
app()
"""


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "PINLAKE_VERBOSE"} | env
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=full, timeout=120)


@pytest.mark.parametrize("env", ["", "0", "False", "NO"])
def test_unexpected_error_is_one_line_with_a_hint(env):
    proc = run(PINLAKE_VERBOSE=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "Error: unexpected ZeroDivisionError: division by zero", lines
    assert "PINLAKE_VERBOSE=1" in lines[1] and len(lines) == 2


@pytest.mark.parametrize("how", ["env", "flag", "short flag"])
def test_verbose_shows_the_traceback(how):
    proc = {"flag": lambda: run("--verbose"), "short flag": lambda: run("-v"), "env": lambda: run(PINLAKE_VERBOSE="1")}[how]()
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr
