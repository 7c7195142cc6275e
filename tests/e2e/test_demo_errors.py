"""`pinlake demo` whose flow fails: the engine's error in one line with its hint; --verbose adds the
traceback and where the failed flow run is (without it there is no traceback: tests/flows/test_flow_errors.py
checks that path for refresh and ingest, which share run_flow)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_with_a_failing_recipe_verbose(prefect_server, tmp_path):
    """On a running server (the session's: the temporary one is `test_demo_cli`'s case), a recipe that
    raises fails the demo's flow run: --verbose shows the traceback and the run, one Error line."""
    reg = tmp_path / "recipes"
    reg.mkdir()
    (reg / "broken.py").write_text("import pinlake\n\n\n@pinlake.recipe()\ndef broken(client):\n    raise ValueError('the recipe broke')\n")
    (reg / "datasets.yaml").write_text("- name: broken\n  version: 1\n  description: x\n  script_location: ./broken.py\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PINLAKE_"))}
    env.update(PREFECT_API_URL=prefect_server, PREFECT_HOME=os.environ["PREFECT_HOME"], COLUMNS="80")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinlake",
            "demo",
            "--registry",
            str(reg / "datasets.yaml"),
            "--library",
            str(tmp_path / "library"),
            "--assets",
            str(tmp_path / "assets"),
            "--verbose",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" in out and "Failed: flow run" in out, out
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "the recipe broke" in out, out
