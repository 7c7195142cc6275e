"""The Dask side of the ``dask`` runner: connect to a scheduler, run tasks, report failures.

Used by distributed builds (:mod:`pinlake.datasets.build.dask_build`) and distributed ingest
(:mod:`pinlake.lake.dask_ingest`). Dask is imported lazily: pinlake works without it; asking for it
says ``pip install "pinlake[dask]"``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pinlake import errors
from pinlake.errors import PinlakeError, RunnerError

RUNNERS = ("local", "dask")
DEFAULT_CONNECT_TIMEOUT = 5.0
START_HINT = "Start one with `dask scheduler` (and `dask worker tcp://HOST:8786` per machine), or check --dask-address."


def import_distributed() -> Any:
    """``dask.distributed``, or a RunnerError telling how to install it."""
    try:
        import distributed
    except ImportError:
        raise RunnerError("the dask runner needs dask.distributed, which is not installed", hint='pip install "pinlake[dask]"') from None
    return distributed


def check_runner(runner: str, address: str | None, client: Any = None) -> None:
    if runner not in RUNNERS:
        raise RunnerError(
            f"unknown runner {runner!r}", hint="Use --runner local (one process) or --runner dask --dask-address tcp://HOST:8786."
        )
    if runner == "dask" and not address and client is None:
        raise RunnerError("--runner dask needs --dask-address (the scheduler's tcp://HOST:PORT)", hint=START_HINT)


def connect_scheduler(address: str, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Any:
    """A ``distributed.Client`` for the scheduler at ``address`` with at least one worker."""
    distributed = import_distributed()
    _probe(address, timeout)
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - whatever the comm layer raises, name the address
        raise RunnerError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g}s: {errors.first_line(exc, None)}", hint=START_HINT
        ) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise RunnerError(
            f"the Dask scheduler at {address} has no workers ({type(exc).__name__})", hint=f"Start one with `dask worker {address}`."
        ) from None
    return client


def _probe(address: str, timeout: float) -> None:
    """Fail fast on a malformed address or a refused TCP port (Dask itself retries until its timeout)."""
    import socket
    from urllib.parse import urlsplit

    scheme, _, rest = address.rpartition("://")
    scheme = scheme or "tcp"
    if scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx"):
        raise RunnerError(
            f"--dask-address {address!r}: unknown scheme {scheme!r}",
            hint="Give the scheduler as tcp://HOST:PORT (dask scheduler prints it).",
        )
    if scheme not in ("tcp", "tls"):
        return
    try:
        parts = urlsplit(f"tcp://{rest}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise RunnerError(
            f"--dask-address {address!r}: expected {scheme}://HOST:PORT", hint="e.g. tcp://127.0.0.1:8786 (dask scheduler prints it)."
        )
    try:
        sock = socket.create_connection((host, port), timeout=min(timeout, 5.0))
    except OSError as exc:
        raise RunnerError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}", hint=START_HINT) from None
    if scheme == "tcp":  # a Dask server greets first: 8 bytes, the (small) length of its handshake
        with sock:
            try:
                sock.settimeout(min(timeout, 3.0))
                head = sock.recv(8, socket.MSG_WAITALL)
            except OSError:
                head = b""
        if len(head) != 8 or int.from_bytes(head, "little") > 1 << 20:
            raise RunnerError(f"{address} accepts connections but does not answer like a Dask scheduler", hint=START_HINT)
    else:
        sock.close()


@contextlib.contextmanager
def client_for(address: str | None, client: Any = None, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Iterator[Any]:
    """``client`` when one is given (left open), else a client connected to ``address`` for the block."""
    if client is not None:
        yield client
        return
    check_runner("dask", address)
    own = connect_scheduler(str(address), timeout)
    try:
        yield own
    finally:
        own.close()


def run_tasks(
    client: Any,
    fn: Callable[..., dict[str, Any]],
    jobs: Sequence[tuple[Any, ...]],
    *,
    name: str,
    describe: Callable[[int], str],
    retries: int,
    failure: type[PinlakeError],
    hint: str,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``fn(*job)`` for every job on the cluster; the results in job order.

    A task that raises is retried ``retries`` times (Dask also recomputes a task whose worker died).
    A task may return ``{"error": {"type", "message", "hint"}}`` for bad data that a retry cannot
    mend: that error is raised here as the pinlake error it names. Anything else that fails raises
    ``failure`` naming the task (``describe(i)``); the other tasks are cancelled.
    ``on_result(i, result)`` is called as each task finishes (progress).
    """
    distributed = import_distributed()
    token = uuid.uuid4().hex[:12]
    keys = [f"pinlake-{name}-{token}-{i}" for i in range(len(jobs))]
    futures = [client.submit(fn, *job, key=key, retries=retries, pure=False) for job, key in zip(jobs, keys)]
    index = {f.key: i for i, f in enumerate(futures)}
    results: dict[int, dict[str, Any]] = {}
    try:
        for fut in distributed.as_completed(futures, loop=client.loop):
            i = index[fut.key]
            if fut.status != "finished":
                raise _task_failure(describe(i), fut.exception(), retries, distributed, failure, hint)
            res = fut.result()
            if "error" in res:
                err = res["error"]
                cls = getattr(errors, err["type"], None)
                cls = cls if isinstance(cls, type) and issubclass(cls, PinlakeError) else failure
                raise cls(err["message"], hint=err.get("hint"))
            results[i] = res
            if on_result:
                on_result(i, res)
    except BaseException:
        client.cancel(futures)
        raise
    return [results[i] for i in range(len(jobs))]


def error_result(where: str, exc: PinlakeError) -> dict[str, Any]:
    """What a task returns for bad data (not retried): see :func:`run_tasks`."""
    return {"error": {"type": type(exc).__name__, "message": f"{where}: {exc.message}", "hint": exc.hint}}


def _task_failure(
    what: str, exc: BaseException | None, retries: int, distributed: Any, failure: type[PinlakeError], hint: str
) -> PinlakeError:
    if isinstance(exc, distributed.KilledWorker):
        return failure(f"{what} failed: the workers running it died ({exc})", hint=hint)
    why = f"{type(exc).__name__}: {exc}" if exc is not None else "cancelled"
    return failure(f"{what} failed after {retries + 1} attempt(s): {why}", hint=hint)


def worker_names(client: Any) -> list[str]:
    return sorted(client.scheduler_info().get("workers", {}))


__all__ = [
    "RUNNERS",
    "DEFAULT_CONNECT_TIMEOUT",
    "START_HINT",
    "import_distributed",
    "check_runner",
    "client_for",
    "connect_scheduler",
    "run_tasks",
    "error_result",
    "worker_names",
]
