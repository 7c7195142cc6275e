"""MkDocs hook: the CLI reference page is made from the typer app itself (every command's --help)."""

from __future__ import annotations

import os
from typing import Any

MARKER = "<!-- cli-reference -->"


def _commands(app: Any) -> list[tuple[str, ...]]:
    import typer.main

    out: list[tuple[str, ...]] = [()]

    def walk(cmd: Any, prefix: tuple[str, ...]) -> None:
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            if getattr(sub, "hidden", False):
                continue
            out.append((*prefix, name))
            walk(sub, (*prefix, name))

    walk(typer.main.get_command(app), ())
    return out


def render() -> str:
    from typer.testing import CliRunner

    from pinlake.cli import app, register_commands

    register_commands()
    runner = CliRunner()
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"}
    parts = []
    for path in _commands(app):
        res = runner.invoke(app, [*path, "--help"], env=env, prog_name="pinlake")
        if res.exit_code != 0:
            raise RuntimeError(f"pinlake {' '.join(path)} --help failed: {res.output}")
        title = "pinlake " + " ".join(path) if path else "pinlake"
        parts.append(f"## `{title}`\n\n```text\n{res.output.rstrip()}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown
