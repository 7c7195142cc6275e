"""The static checks CI runs, as tests, so the README's test command (what `.ci/run` runs) runs them:
ruff lint, ruff format, the type checker. The import contracts run in test_layout.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_ruff_lint_is_clean():
    proc = run("ruff", "check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_ruff_format_is_clean():
    proc = run("ruff", "format", "--check", "--no-cache", ".")
    assert proc.returncode == 0, "run `.venv/bin/ruff format`:\n" + proc.stdout[-6000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_type_check_is_clean():
    """mypy on src/pinlake with the settings in pyproject.toml (a cold run takes about a minute)."""
    proc = run("mypy", timeout=900)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
