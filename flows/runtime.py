"""Prefect runtime settings for pinlake's flows: quiet, no analytics, no per-run heartbeat wait.

:func:`configure` must run before Prefect is imported (Prefect reads its settings once, when it
loads): ``flows/__init__.py`` calls it, so importing any ``flows.*`` module (the CLI, ``python -m
flows.*``, a deployment's entrypoint) sets them first.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pinlake.storage import is_uri
from pinlake.util.prefect_profile import user_settings

QUIET = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
    # the temporary local server (no PREFECT_API_URL) migrates a fresh database first: Prefect's 20 s
    # wait is short on a busy 2-core machine
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


#: other names Prefect reads a QUIET setting by (older spellings): a user's value under any of them
#: wins, and an environment variable under ours would outrank it (checked against Prefect's models
#: by tests/flows/test_temporary_server.py)
QUIET_ALIASES = {"PREFECT_SERVER_LOGGING_LEVEL": ("PREFECT_LOGGING_SERVER_LEVEL",)}


#: the API of a temporary server that serves one command alone (set by ``pinlake demo`` for its
#: flow runs, beside PREFECT_API_URL: its refreshes take file locks, freed when the process dies)
TEMPORARY_SERVER = "PINLAKE_TEMPORARY_PREFECT_API"


def configure(home: str | os.PathLike[str] | None = None) -> None:
    """Set quiet defaults, never over the user's own settings: a ``PREFECT_*`` variable, or a value in
    ``.env``, ``prefect.toml``, ``pyproject.toml`` or the active Prefect profile (an environment
    variable would outrank those in Prefect)."""
    if home is not None:
        os.environ.setdefault("PREFECT_HOME", str(home))

    def names(key: str) -> tuple[str, ...]:
        return (key, *QUIET_ALIASES.get(key, ()))

    missing = [key for key in QUIET if not any(name in os.environ for name in names(key))]
    own = user_settings() if missing else {}  # read only when there is something to set
    os.environ.update({key: QUIET[key] for key in missing if not any(name in own for name in names(key))})


def library_id(library: str | os.PathLike[str]) -> str:
    """A library's identity across processes and machines: its ``s3://`` uri as given, or the
    absolute local path (used in event resources and cache keys)."""
    text = str(library)
    return text.rstrip("/") if is_uri(text) else str(Path(text).resolve())


def mark_lineage() -> None:
    """Name the current flow run in the lineage of every engine write it makes (``PINLAKE_FLOW_RUN_ID``,
    read by :func:`pinlake.provenance.lineage_properties`: the engine does not import Prefect)."""
    from prefect.context import get_run_context

    ctx = get_run_context()
    os.environ["PINLAKE_FLOW_RUN_ID"] = str(ctx.flow_run.id) if getattr(ctx, "flow_run", None) else ""


def no_heartbeat():
    """A settings context that removes the ~1 s heartbeat-thread stop at the end of each flow run."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


def _pgid(proc: subprocess.Popen) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except ProcessLookupError:  # already gone
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound (the test `prefect server start` makes before it starts)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


#: the background services `prefect server start` runs by default beyond those of Prefect's own
#: temporary server (which runs only the ones it marks for ephemeral use): a server that serves one
#: command's runs has no deployments, work pools, pauses, cancellations or concurrency leases to look
#: after. (The database vacuum, off by default, is not among them: a user who turns it on gets it.)
NOT_EPHEMERAL_SERVICES = {
    f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
    for name in ("CANCELLATION_CLEANUP", "CLEANUP_RECONCILER", "FOREMAN", "LATE_RUNS", "PAUSE_EXPIRATIONS", "REPOSSESSOR", "SCHEDULER")
}


#: a server tied to this process (Linux): its process asks for a SIGTERM when the thread that
#: started it ends (the main thread: when the process ends, however, ``kill -9`` too), then becomes
#: `prefect server start`; without the request (no ctypes, a kernel that refuses) it starts all the same
DIE_WITH_PARENT = (
    "import os, signal, sys\n"
    "try:\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):  # it ended before the request\n"
    "    sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'prefect', *sys.argv[2:]])\n"
)


def spawn_server(
    home: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    log: Path | None = None,
    env_extra: dict[str, str] | None = None,
    options: tuple[str, ...] = (),
    new_session: bool = True,
) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` (with ``options``) and return (process, api url) at once, before
    it answers: :func:`wait_healthy` waits for it. ``new_session``: the server outlives this
    process's terminal (``pinlake up``); else Ctrl-C in the terminal stops it too, and on Linux it
    stops when this process ends, even killed (:data:`DIE_WITH_PARENT`)."""
    port = port or free_port()
    env = {
        **os.environ,
        **QUIET,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
        **(env_extra or {}),
    }
    env.pop("PREFECT_API_URL", None)
    # never a prompt: `prefect server start` may offer to switch the user's Prefect profile
    env["PREFECT_CLI_PROMPT"] = "false"
    Path(home).mkdir(parents=True, exist_ok=True)
    with open(log or Path(home) / "server.log", "ab") as out:  # the server keeps its own copy of the file
        command = ["server", "start", "--host", host, "--port", str(port), *options]
        if new_session or not sys.platform.startswith("linux"):
            argv = [sys.executable, "-m", "prefect", *command]
        else:
            argv = [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), *command]
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    return proc, f"http://{host}:{port}/api"


def start_server(
    home: Path, port: int | None = None, host: str = "127.0.0.1", log: Path | None = None, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` in a new session; returns (process, api url) once healthy."""
    proc, url = spawn_server(home, port, host, log, env_extra)
    try:
        wait_healthy(url, proc)
    except BaseException:  # interrupted or never healthy: do not leave the server behind
        stop_server(proc)
        raise
    return proc, url


def wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout: float = 120, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(poll)
    raise TimeoutError(f"prefect server at {url} not healthy after {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server :func:`spawn_server` started: its session, or the process alone when it shares
    ours (or where there are no process groups: Windows)."""
    import signal

    if not hasattr(os, "killpg") or os.getpgid(0) == _pgid(proc):  # signal the server alone
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
