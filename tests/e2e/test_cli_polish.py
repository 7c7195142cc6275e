"""The CLI reads well: flags render as flags (no ``<bool>`` value), the top-level help has three
examples and every command's help a runnable one, `pinlake sql` fits wide rows to the terminal
(``--columns``, ``--vertical``), and a hash or a path is never wrapped when output is not a terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pinlake.cli import app, register_commands


def _command_paths() -> list[tuple[str, ...]]:
    import typer.main

    register_commands()
    out: list[tuple[str, ...]] = []

    def walk(cmd, prefix: tuple[str, ...]) -> None:
        out.append(prefix)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, (*prefix, name))

    walk(typer.main.get_command(app), ())
    return out


def _help(path: tuple[str, ...]) -> str:
    res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}, prog_name="pinlake")
    assert res.exit_code == 0, res.output
    return res.output


def test_flags_render_as_flags_and_every_command_has_an_example():
    paths = _command_paths()
    assert len(paths) > 30
    for path in paths:
        text = _help(path)
        name = " ".join(("pinlake", *path))
        assert "<bool>" not in text, f"{name} --help shows a flag as taking a value"
        assert re.search(r"--help\s+Show this message", text), name
        if path:  # an example of this very command (the top level's are checked below)
            assert re.search(r"Example[^\n]*:\s+(\S+=\S+ )?" + re.escape(name) + r"\b", text), f"{name}: no example"
    build = _help(("build",))
    assert re.search(r"--embed\s+Copy image bytes", build)
    assert re.search(r"--local\s+--server", _help(("ingest",)))


def test_top_level_help_has_three_examples():
    text = _help(())
    examples = text.split("Examples:", 1)[1].split("╭", 1)[0]
    commands = [ln.strip() for ln in examples.splitlines() if ln.strip().startswith("pinlake ")]
    assert len(commands) == 3, examples
    assert {c.split()[1] for c in commands} == {"demo", "build", "sql"}


def run(args: list[str], columns: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("PINLAKE_LIBRARY", None)
    proc = subprocess.run([sys.executable, "-m", "pinlake", *args], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def lake_project(project):
    """A library with the demo lake (and its catalog) plus a registry with the health_by_tag recipe."""
    return project()


def test_sql_wide_rows_fit_the_terminal(lake_project):
    library = str(lake_project[0])
    query = "SELECT * FROM catalog.versions ORDER BY version"
    out = run(["sql", query, "--library", library], 120).stdout
    lines = out.splitlines()
    assert max(len(ln) for ln in lines if ln[:1] in "┏┃┡│└") <= 120
    header = next(ln for ln in lines if "dataset" in ln)
    assert "table" in header and "version" in header and "timestamp" in header  # whole names, not "da…"
    note = next(ln for ln in lines if "not shown" in ln)
    assert "lineage" in note and "--columns" in note and "--vertical" in note
    # --columns: only those, in that order
    out = run(["sql", query, "--columns", "dataset,version,lock_hash", "--library", library], 120).stdout
    header = next(ln for ln in out.splitlines() if "dataset" in ln)
    assert re.search(r"dataset\s+┃\s+version\s+┃\s+lock_hash", header) and "timestamp" not in out
    # --vertical: one field per line, values whole
    out = run(["sql", query + " LIMIT 2", "--vertical", "--library", library], 60).stdout
    assert out.count("-[ RECORD ") == 2
    fields = [ln for ln in out.splitlines() if " | " in ln]
    assert len(fields) == 2 * 19 and any(re.fullmatch(r"dataset\s+\| _lake", ln) for ln in fields)
    lineage = next(ln for ln in fields if ln.startswith("lineage "))
    assert lineage.rstrip().endswith("}") and len(lineage) > 60  # a long value on one line


def test_hash_and_path_are_never_wrapped(lake_project):
    library, registry, _ = lake_project
    recipe = Path(registry).parent / "health_by_tag.py"
    out = run(["datasets", "lock", "--file", str(recipe), "--library", str(library)], 80).stdout
    first = out.splitlines()[0]
    digest = re.search(r"hash ([0-9a-f]+)$", first)
    assert digest and len(digest.group(1)) == 64, out
    resources = [ln for ln in out.splitlines() if "resources." in ln]
    assert resources and all(ln.strip().startswith(str(library)) and ln.rstrip().endswith("resources)") for ln in resources), out


def test_paths_are_not_broken_on_a_terminal(lake_project):
    """On a terminal too, a path is printed whole (the terminal may fold it; no newline is added)."""
    import pty

    library, registry, _ = lake_project
    recipe = Path(registry).parent / "health_by_tag.py"
    env = {**os.environ, "COLUMNS": "80", "LINES": "24", "TERM": "xterm"}
    env.pop("PINLAKE_LIBRARY", None)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinlake", "datasets", "lock", "--file", str(recipe), "--library", str(library)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode()).replace("\r", "")
    resources = [ln for ln in out.splitlines() if "resources." in ln]
    assert resources and all(ln.strip().startswith(str(library)) and ln.rstrip().endswith("resources)") for ln in resources), out
