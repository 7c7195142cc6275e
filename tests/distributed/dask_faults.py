"""Faults injected into the workers of the test cluster, and a check that a worker process exited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cluster_checks import whole_cluster

#: installed in every worker (by exec in a fresh namespace): wraps ``module.attr`` so that each call
#: records the worker's pid in MARKER and then, by MODE, kills the worker the first time
#: ("exit-once": the file MARKER.died, created atomically, names the victim), every time
#: ("exit-always"), raises OSError once ("raise-once"), or only counts ("count")
PATCH = """
import importlib, os
mod = importlib.import_module(MODULE)
orig = getattr(mod, ATTR)
def first(flag):
    try:
        fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True
def wrapped(*args, **kwargs):
    with open(MARKER, "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    if MODE == "exit-always" or (MODE == "exit-once" and first(MARKER + ".died")):
        os._exit(1)
    if MODE == "raise-once" and first(MARKER + ".raised"):
        raise OSError("transient failure injected by the test")
    return orig(*args, **kwargs)
wrapped.__wrapped_orig__ = orig
setattr(mod, ATTR, wrapped)
"""

UNPATCH = """
import importlib
mod = importlib.import_module(MODULE)
fn = getattr(mod, ATTR)
setattr(mod, ATTR, getattr(fn, "__wrapped_orig__", fn))
"""


@contextmanager
def faulty_workers(cluster: Any, module: str, attr: str, marker: str, mode: str) -> Iterator[None]:
    """Every running worker of ``cluster`` gets the fault (see PATCH); workers its nannies restart
    do not. Undone on exit, once the cluster is back to its workers (``whole_cluster``)."""
    with cluster.get_client() as client:
        n = len(client.scheduler_info()["workers"])
        client.run(exec, PATCH, {"MODULE": module, "ATTR": attr, "MARKER": marker, "MODE": mode})
        try:
            yield
        finally:
            whole_cluster(cluster, n)
            client.run(exec, UNPATCH, {"MODULE": module, "ATTR": attr})


def gone(pid: int, timeout: float = 10) -> bool:
    """True once ``pid`` has exited (no such process, or a zombie its nanny has not reaped yet)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False
