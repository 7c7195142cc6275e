"""Run the code of documentation pages as a reader would: in order, in one fresh directory.

Rules:
- ``bash`` fences run with ``bash -euo pipefail`` in the directory, with this environment's
  ``bin`` first on PATH (``pinlake``, ``python``), and a private Prefect home.
- ``python`` fences run in one namespace per page, in the directory (as a Python session there); a
  warning they emit fails them (the project's own examples emit none).
- A fence right after a ``<!-- docs-test: skip (reason) -->`` line does not run (the reason is
  required: installing the project, a server that runs until stopped, a machine you do not have).
- Other languages (``text``, ``json``, ``yaml``, ``console``…) are shown, not run.
- Variables a ``bash`` block exports carry over to the page's later blocks (as in one shell); a
  process a block leaves in the background (``pinlake serve … &``) is stopped when the page ends.
- A failure names the page and line of the fence, and shows the command's output.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(```+)(\w*)\s*$")
SKIP = re.compile(r"^<!-- docs-test: skip \((.+)\) -->$")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str
    skip: str | None


def blocks(page: Path) -> list[Block]:
    out: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, fence, lang = i, m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        skip = SKIP.match(prev.strip())
        out.append(Block(page, start + 1, lang, "\n".join(lines[start + 1 : j]), skip.group(1) if skip else None))
        i = j + 1
    return out


class DocsFailure(AssertionError):
    pass


def run_page(page: Path, workdir: Path, env: dict[str, str], timeout: float = 600) -> int:
    """Run every runnable fence of ``page`` in ``workdir``; returns how many ran."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    sessions: list[int] = []  # background processes a block started (a server) are stopped when the page ends
    env = dict(env)
    try:
        ran = _run_blocks(page, workdir, env, namespace, sessions, timeout)
    finally:
        stop(sessions)
    return ran


def _run_blocks(page: Path, workdir: Path, env: dict[str, str], namespace: dict[str, object], sessions: list[int], timeout: float) -> int:
    ran = 0
    for b in blocks(page):
        if b.skip is not None or b.lang not in ("bash", "python"):
            continue
        where = f"{page.name}:{b.line}"
        if b.lang == "bash":
            # variables a block exports carry over to the next blocks, as in the reader's shell
            env_file = workdir / ".docs-env"
            script = f"{b.code}\nenv -0 > {shlex.quote(str(env_file))}\n"
            log = workdir / ".docs-output"
            with open(log, "w") as fh:  # a file, not a pipe: a server left in the background must not hold it open
                proc = subprocess.Popen(
                    ["bash", "-euo", "pipefail", "-c", script],
                    cwd=workdir,
                    env=env,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
                sessions.append(proc.pid)
                try:
                    code = proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    code = -1
            output = log.read_text(errors="replace")
            if code != 0:
                raise DocsFailure(f"{where}: exit {code}\n$ {b.code}\n{output[-6000:]}")
            exported = dict(kv.split("=", 1) for kv in env_file.read_text().split("\0") if "=" in kv)
            env = {k: v for k, v in exported.items() if k not in BASH_OWN}
            env_file.unlink()
        else:
            out = io.StringIO()
            old = Path.cwd()
            os.chdir(workdir)
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                with contextlib.redirect_stdout(out), warnings.catch_warnings():
                    warnings.simplefilter("error")  # the project's own examples emit no warning
                    # dont_inherit: the page runs without this module's `from __future__ import annotations`
                    exec(compile(b.code, where, "exec", dont_inherit=True), namespace)  # noqa: S102 - running the docs is the point
            except Exception as exc:
                raise DocsFailure(f"{where}: {type(exc).__name__}: {exc}\n{b.code}\n{out.getvalue()[-3000:]}") from exc
            finally:
                os.chdir(old)
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        ran += 1
    return ran


BASH_OWN = {"SHLVL", "_", "PWD", "OLDPWD", "BASHOPTS", "SHELLOPTS", "BASH_EXECUTION_STRING"}


def stop(sessions: list[int]) -> None:
    """End what the page's blocks left running in the background (each block runs in its own session)."""
    for sid in sessions:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sid, signal.SIGTERM)


def docs_env(home: Path) -> dict[str, str]:
    """The environment of a reader's shell: this venv's bin first, no PINLAKE_/PREFECT_ settings of
    the machine's, a private Prefect home, quiet Prefect logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINLAKE_", "PREFECT_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PREFECT_HOME"] = str(home / "prefect")
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
            "COLUMNS": "120",
            # the temporary server starts in 5-20 s, longer on a loaded 2-core machine (Prefect waits 20 s by default)
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        }
    )
    return env


__all__ = ["Block", "blocks", "run_page", "docs_env", "DocsFailure"]
