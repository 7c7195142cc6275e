"""The Dask test cluster kept whole between tests that kill its workers."""

from __future__ import annotations

import time
from typing import Any


def whole_cluster(cluster: Any, n: int = 2, timeout: float = 120) -> None:
    """Bring ``cluster`` back to ``n`` running workers. A nanny restarts a worker that died, but when
    the new process takes longer than ``distributed.deploy.lost-worker-timeout`` (15 s) to register,
    as on a loaded 2-core machine, the cluster closes that nanny for good; ``scale(n)`` starts a new
    one. Repeated until ``n`` run: a restart under way may still be dropped after a first look."""
    deadline = time.monotonic() + timeout
    while True:
        cluster.scale(n)
        try:
            cluster.wait_for_workers(n, timeout=max(1.0, min(5.0, deadline - time.monotonic())))
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test cluster has not got its {n} workers back after {timeout:.0f} s") from None
