"""How the CLI reaches the Prefect flows (the `flows` package) without the engine importing Prefect.

Only CLI commands that run flows call this; everything else in pinlake stays Prefect-free, and so does
this module at import time: Prefect is imported only inside :func:`run_flow` / :func:`quiet_flows`.

Which path a command takes (:func:`use_server`): with a Prefect server configured (``PREFECT_API_URL``
in the environment or in the active Prefect profile) or ``--server``, the Prefect flow runs against
that server; with none (or ``--local``) the engine's steps run in this process without Prefect.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pinlake.errors import NotFoundError, PinlakeError
from pinlake.util.prefect_profile import prefect_home, user_settings, user_settings_where

#: the demo registry of a source checkout (src/pinlake/integrations/prefect.py -> the repository root)
SOURCE_REGISTRY = Path(__file__).resolve().parents[3] / "recipes" / "datasets.yaml"


def resolve_registry(registry: str | os.PathLike[str] | None = None) -> Path:
    """--registry, else $PINLAKE_REGISTRY, else ./recipes/datasets.yaml, else the source checkout's."""
    candidates = [registry, os.environ.get("PINLAKE_REGISTRY"), "recipes/datasets.yaml", SOURCE_REGISTRY]
    for cand in candidates:
        if cand and Path(cand).is_file():
            return Path(cand).resolve()
    if registry:
        raise NotFoundError(f"registry {registry} does not exist", hint="Point --registry at a recipes/datasets.yaml.")
    raise NotFoundError("no recipes/datasets.yaml found", hint="Run from the repository root or pass --registry PATH.")


def configured_server() -> str | None:
    """The Prefect API of the configured server: $PREFECT_API_URL, else the one Prefect reads below the
    environment (``.env``, ``prefect.toml``, ``pyproject.toml``, the active profile); None: no server.
    An empty $PREFECT_API_URL is no server, as in Prefect, whatever the files say."""
    if "PREFECT_API_URL" in os.environ:
        return os.environ["PREFECT_API_URL"] or None
    return user_settings().get("PREFECT_API_URL") or None


def use_server(mode: str | None) -> bool:
    """True: run the Prefect flow against the configured server; False: run the engine here, without Prefect.

    ``mode`` is the CLI's ``--local`` ("local") / ``--server`` ("server") / neither (None: the server
    when one is configured). 'server' with no server configured is refused. When the server comes from
    the Prefect profile it is also put in ``PREFECT_API_URL`` (the no-op REST record reads it there).
    """
    if mode == "local":
        return False
    url = configured_server()
    if mode == "server" and not url:
        raise NotFoundError(
            "--server needs PREFECT_API_URL", hint="Start one with `pinlake up`, then export PREFECT_API_URL=http://127.0.0.1:4200/api."
        )
    if url:
        os.environ["PREFECT_API_URL"] = url
    return bool(url)


class _NoFlowErrors(logging.Filter):
    """Drops Prefect's error records (the failed task/flow run messages and their tracebacks) from the
    console: the CLI reports the engine's own error in one line; ``--verbose`` keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("prefect") and record.levelno >= logging.ERROR)


_FILTER = _NoFlowErrors()


@contextmanager
def quiet_flows(verbose: bool = False) -> Iterator[None]:
    """Quiet Prefect settings, the heartbeat wait removed and, unless ``verbose``, no Prefect error logs
    or tracebacks on the console (they still reach the server's run logs). Import the flows inside it."""
    from flows.runtime import no_heartbeat  # lazy: Prefect loads for flow runs only

    load_prefect()  # with pinlake's quiet settings
    with no_heartbeat():
        handlers = [] if verbose else _console_handlers()
        for h in handlers:
            h.addFilter(_FILTER)
        try:
            yield
        finally:
            for h in handlers:
                h.removeFilter(_FILTER)


def _console_handlers() -> list[logging.Handler]:
    from prefect import flow  # noqa: F401 - sets up Prefect's logging (its console handler) if not done yet
    from prefect.logging.handlers import PrefectConsoleHandler

    seen: list[logging.Handler] = []
    for logger in [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]:
        seen += [h for h in getattr(logger, "handlers", []) if isinstance(h, PrefectConsoleHandler) and h not in seen]
    return seen


def flow_run_location(flow_run_id: Any) -> str:
    """``flow run <id>`` and its page in the Prefect UI (when the UI's address is known)."""
    try:
        from prefect.utilities.urls import url_for

        url = url_for("flow-run", obj_id=str(flow_run_id))
    except Exception:  # noqa: BLE001 - the id alone still locates the run
        url = None
    return f"flow run {flow_run_id}" + (f": {url}" if url else "")


def configured_server_down() -> PinlakeError | None:
    """The error for a configured Prefect server that does not answer; None when it answers or none is configured."""
    return _unreachable(configured_server())


def forget_server() -> None:
    """Run this process's flows on a temporary local server, whatever server the environment, a
    settings file or the Prefect profile names (call before Prefect is imported): an empty
    $PREFECT_API_URL outranks them all in Prefect."""
    os.environ["PREFECT_API_URL"] = ""


class TemporaryServer:
    """A local Prefect server for one command's flow runs when no server is configured, in place of
    the one Prefect itself would start on the first flow run: the same database settings, under
    ``PREFECT_HOME``, and the background services Prefect's own runs (the others, listed in
    :data:`flows.runtime.NOT_EPHEMERAL_SERVICES`, are turned off). No UI: it serves this command's
    runs and events.

    Started before the command's own work, it comes up while that work and the flows' imports run,
    and this process does not import Prefect's server module to start it. Use it as::

        server = TemporaryServer()   # checks the settings; starts nothing
        try:
            server.start()
            ...                      # the command's own work
            server.wait()            # before the first flow run
            ...
        finally:
            server.stop()

    It runs in this process's group, so Ctrl-C or a closed terminal stops it too; a Ctrl-C or
    SIGTERM that comes while it is being started is raised once :meth:`stop` can find it. On Linux
    it also ends when the thread that called :meth:`start` ends (call it from the main thread: then
    when this process ends, even killed)."""

    OPTIONS = ("--no-ui", "--analytics-off")
    #: a port taken between picking it and the server binding it: pick another, this many times in all
    PORT_TRIES = 3

    def __init__(self, port: int | None = None) -> None:
        from flows.runtime import configure  # lazy: no Prefect import

        configure()  # quiet settings, before Prefect is imported in this process
        self.timeout = startup_timeout()
        self.log = prefect_home() / "temporary-server.log"
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        """Start the server process (it answers later: :meth:`wait`)."""
        from flows.runtime import NOT_EPHEMERAL_SERVICES, TEMPORARY_SERVER, spawn_server  # lazy: no Prefect import

        # its errors go to its log, a file: ERROR there, whatever the quiet console settings say
        env = {**NOT_EPHEMERAL_SERVICES, "PREFECT_SERVER_LOGGING_LEVEL": "ERROR"}
        with signals_deferred():  # Ctrl-C now would leave a process that self.proc does not hold yet
            self.proc, self.url = spawn_server(
                prefect_home(), self.port, log=self.log, env_extra=env, options=self.OPTIONS, new_session=False
            )
        os.environ[TEMPORARY_SERVER] = self.url  # this process's flow runs take file locks: nothing else uses this server
        point_prefect_at(self.url)  # they go there (also after a retry on another port, with Prefect loaded)

    def wait(self) -> None:
        """Return once the server answers; a one-line error when it does not within
        ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (Prefect's setting for its own)."""
        from flows.runtime import port_taken, wait_healthy

        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + self.timeout
        for tries_left in reversed(range(self.PORT_TRIES)):
            try:
                wait_healthy(self.url, self.proc, timeout=max(deadline - time.monotonic(), 0.1), poll=0.1)
                return
            except RuntimeError as exc:  # it exited (a port taken, a database it cannot open)
                if tries_left and port_taken("127.0.0.1", urlsplit(self.url).port or 0):
                    self.port = None  # another process holds the port: any free one will do
                    self.start()
                    continue
                code = self.proc.returncode
                self.stop()
                raise PinlakeError(
                    f"the temporary local Prefect server exited with code {code} before it answered",
                    hint=f"Its log says why: {self.log}. Or start a server with `pinlake up` and set PREFECT_API_URL, "
                    "or run without Prefect (`pinlake demo --no-flows`).",
                ) from exc
            except TimeoutError as exc:
                self.stop()
                raise PinlakeError(
                    f"the temporary local Prefect server did not start within {self.timeout} s",
                    hint="Give it longer (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=300), start a server with `pinlake up` "
                    f"and set PREFECT_API_URL, or run without Prefect with --local (`pinlake demo --no-flows`); its log: {self.log}.",
                ) from exc

    def stop(self) -> None:
        """Stop the server if it was started (any number of times)."""
        from flows.runtime import TEMPORARY_SERVER, stop_server

        if self.proc is not None and self.proc.poll() is None:
            stop_server(self.proc)
        for key in ("PREFECT_API_URL", TEMPORARY_SERVER):
            os.environ.pop(key, None)


def point_prefect_at(url: str) -> None:
    """Run this process's flows on the server at ``url`` (``PREFECT_API_URL``), also when Prefect has
    loaded already: it reads its settings once, as it loads."""
    os.environ["PREFECT_API_URL"] = url
    if "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def startup_timeout() -> int:
    """``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``, checked as Prefect will read it (a whole
    number; Prefect refuses anything else when it loads, after the command's work), and positive."""
    from pydantic import TypeAdapter
    from pydantic import ValidationError as Refused

    key = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    text, where = (os.environ[key], "") if key in os.environ else user_settings_where().get(key, ("20", ""))  # Prefect's order
    try:
        seconds = TypeAdapter(int).validate_python(text)  # as Prefect reads it: "120" and "120.0", not "1.5"
    except Refused:
        seconds = 0
    if seconds <= 0:
        raise PinlakeError(
            f"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS={text!r}{' in ' + where if where else ''} is not a whole number of seconds above 0",
            hint="Set it to e.g. 120, or unset it.",
        )
    return seconds


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) and SIGTERM inside the block and deliver them, to the handlers in place
    before, once it ends. (Handlers, not a signal mask: a child process started inside inherits a
    mask, while exec resets handlers.) In a thread other than the main one, where handlers cannot be
    set, it holds nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    # an ignored signal stays ignored (a child keeps it ignored: a background job's server)
    wanted = [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not signal.SIG_IGN]
    before = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in wanted}
    try:
        yield
    finally:
        restore(list(before.items()))
    for signum in dict.fromkeys(held):
        signal.raise_signal(signum)


def restore(handlers: list[tuple[int, Any]]) -> None:
    """Put back each signal's handler, every one of them even when a signal comes meanwhile (it is
    then raised after the last, by the handler put back)."""
    import signal

    if not handlers:
        return
    sig, handler = handlers[0]
    try:
        signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
    finally:
        restore(handlers[1:])


def prefect_setting_error(exc: BaseException) -> PinlakeError | None:
    """A ``PREFECT_*`` variable Prefect refused as it loaded (it checks them all then, whichever the
    command uses) as one line naming the variable; None for any other error."""
    import traceback

    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or not any(
        f"{os.sep}prefect{os.sep}settings{os.sep}" in frame.filename for frame in traceback.extract_tb(exc.__traceback__)
    ):
        return None
    error = exc.errors()[0]
    field = "_".join(str(part) for part in error["loc"]).upper()
    value = error.get("input")
    names = [k for k, v in os.environ.items() if field and k.startswith("PREFECT_") and k.endswith(f"_{field}") and v == value]
    if len(names) == 1:
        return PinlakeError(
            f"Prefect refuses {names[0]}={value!r}: {error['msg']}",
            hint=f"Fix or unset {names[0]}; Prefect checks every PREFECT_* setting when it loads.",
        )
    found = [(k, where) for k, (v, where) in user_settings_where().items() if field and k.endswith(f"_{field}") and str(v) == str(value)]
    if len(found) == 1:
        name, where = found[0]
        return PinlakeError(
            f"Prefect refuses {name}={value!r} from {where}: {error['msg']}",
            hint=f"Fix or remove it in {where}; Prefect checks every setting when it loads.",
        )
    where = f"{exc.title}.{field.lower()}" if field else exc.title
    return PinlakeError(
        f"Prefect refuses its setting {where} ({value!r}): {error['msg']}",
        hint="Fix it where it is set: a PREFECT_* variable, the Prefect profile (`prefect config view`), .env or prefect.toml.",
    )


def load_prefect() -> None:
    """Import Prefect, which checks every ``PREFECT_*`` setting as it loads: one it refuses is one line
    naming it (:func:`prefect_setting_error`) instead of Prefect's own report and a pydantic error.
    What Prefect prints on stderr while it loads fine is passed on. Call before importing the flows:
    pinlake's quiet Prefect defaults (:func:`flows.runtime.configure`) are set first, as the flows
    set them, since Prefect reads its settings once, as it loads."""
    import contextlib
    import io

    from flows.runtime import configure  # lazy: no Prefect import

    configure()
    if "prefect.context" in sys.modules:  # loaded, so its settings passed (it holds them)
        return
    said = io.StringIO()
    refused = None
    try:
        with contextlib.redirect_stderr(said):
            import prefect.context  # noqa: F401 - loads Prefect and its settings
    except Exception as exc:
        refused = prefect_setting_error(exc)
        if refused is None:
            raise
        raise refused from None
    finally:
        if refused is None:  # Prefect's own words, of a load that went well or failed otherwise
            sys.stderr.write(said.getvalue())


def _unreachable(api: str | None) -> PinlakeError | None:
    """The error to report when the Prefect server at ``api`` does not answer its health check, else None."""
    import urllib.error
    import urllib.request

    if not api:
        return None
    try:
        with urllib.request.urlopen(f"{api.rstrip('/')}/health", timeout=5):
            return None
    except urllib.error.HTTPError:
        return None  # it answers: the failure is something else
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return PinlakeError(
            f"cannot reach the Prefect server at {api}: {reason}",
            hint="Start it (`pinlake up`), fix PREFECT_API_URL (the environment's, or in .env, prefect.toml, pyproject.toml or the Prefect profile), or run here without Prefect with --local.",
        )


def run_flow(flow: Callable[..., Any], *args: Any, verbose: bool = False, **kwargs: Any) -> Any:
    """Call a Prefect flow (of the `flows` package) and return its result; a failed run raises the
    engine's own exception (the CLI prints it as one ``Error:`` line with its hint) with Prefect's error
    logs kept off the console. ``verbose``: Prefect's logs and tracebacks are shown and the flow run's
    id and UI address printed on stderr (also after a run that completed)."""
    with quiet_flows(verbose):
        try:
            state = flow(*args, return_state=True, **kwargs)
        except Exception as exc:  # the run could not even start: is the server there?
            down = _unreachable(os.environ.get("PREFECT_API_URL"))
            if down is None:
                raise
            if verbose:
                import traceback

                traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
            raise down from exc
        run_id = getattr(state.state_details, "flow_run_id", None)
        if verbose and run_id is not None:
            sys.stderr.write(f"{'Failed' if state.is_failed() or state.is_crashed() else state.name}: {flow_run_location(run_id)}\n")
        if state.is_completed():
            return state.result()
        data = state.result(raise_on_failure=False)
        if _quarantine(data):  # a gated refresh that ended Failed on its checks: the caller reports it
            return data
        state.result()  # raises the exception the run failed with
        raise RuntimeError(f"{flow_run_location(run_id)} ended {state.name}: {state.message}")


def _quarantine(data: Any) -> bool:
    """A refresh (or refresh-all) result that holds a quarantined candidate."""
    rows = data if isinstance(data, list) else [data]
    return bool(rows) and all(isinstance(r, dict) for r in rows) and any(r.get("status") == "quarantined" for r in rows)


LOCAL_RUN = "ran in this process without Prefect (no server configured): no flow run"


def run_here(step: Callable[..., Any], *args: Any, verbose: bool = False, **kwargs: Any) -> Any:
    """Call an engine step in this process (the no-server path); a failure propagates as is (the CLI
    prints a PinlakeError as one ``Error:`` line); ``verbose`` first prints its Python traceback and
    that no flow run exists."""
    try:
        return step(*args, **kwargs)
    except Exception as exc:
        if verbose:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
            sys.stderr.write(f"Failed: {LOCAL_RUN}\n")
        raise


def unchanged_on_server(library: str, registry: str, dataset: str) -> dict | None:
    """The no-op refresh without the Prefect engine: the engine's fast check, then the run recorded.

    When :func:`pinlake.library.refresh_stamp.quick_unchanged` finds ``dataset`` current and a server is
    configured, a Completed `refresh` flow run (with the no-op summary artifact) is recorded through
    the REST API (:mod:`flows.record`) and the flow's result is returned; None means "run the flow".
    """
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return None
    from pinlake.library.refresh_stamp import quick_unchanged  # lazy: CLI startup (the no-op refresh loads no Lance)

    stamp = quick_unchanged(library, registry, dataset)
    if stamp is None:
        return None
    from flows.record import record_unchanged_run  # lazy: Prefect loads for flow runs only
    from pinlake.library.lock import LockStep  # lazy: CLI startup (the no-op refresh loads no Lance)
    from pinlake.library.refresh import BuildStep, summary_markdown  # lazy: CLI startup (the no-op refresh loads no Lance)

    lock = LockStep(dataset, stamp["lock_hash"], stamp["lock_dir"], stamp["lake_version"], stamp.get("counts", {}))
    build = BuildStep(dataset, stamp["version"], stamp["version"], "unchanged", True, stamp.get("rows", {}))
    try:
        run_id = record_unchanged_run(
            api,
            {"dataset": dataset, "library": library, "registry": registry},
            summary_markdown(library, dataset, build, lock),
            f"{dataset.lower().replace('_', '-')}-summary",
        )
    except OSError:  # server unreachable or refusing: the flow reports it properly
        return None
    out = {"dataset": dataset, "unchanged": True, "version": stamp["version"], "lock_hash": stamp["lock_hash"], "flow_run_id": run_id}
    return out | ({"status": stamp["status"]} if stamp.get("status") else {})
