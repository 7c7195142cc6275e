"""Fragment writes on a background thread, so Lance encodes and writes one batch while the caller
builds the next.

:class:`WriteBehind` is one thread shared by every table of a build (or the lake's ``objects``
table during an upload); :class:`PendingWrites` are the writes of one table on it, whose fragments
come back in the order written. Each batch is its own ``write_fragments`` call, so data files stay as
small as the batches: one long streamed write per table keeps more inside Lance as the table grows.
At most ``backlog`` writes wait; the next submit then waits for the oldest (memory stays flat, and an
earlier write's error reaches the caller there). Nothing written is visible before the caller commits
the fragments. Call :meth:`PendingWrites.cancel` and :meth:`WriteBehind.close` in a ``finally``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any


class WriteBehind:
    def __init__(self, backlog: int = 6, name: str = "pinlake-write") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[Future] = deque()
        self._backlog = backlog

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        while self._pending and (len(self._pending) >= self._backlog or self._pending[0].done()):
            self._pending.popleft().result()
        fut = self._pool.submit(fn, *args, **kwargs)
        self._pending.append(fut)
        return fut

    def close(self, cancel: bool = False) -> None:
        """Stop the thread: after the pending writes (or, with ``cancel``, without those not started)."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)
        self._pending.clear()


class PendingWrites:
    """The writes of one table on a :class:`WriteBehind`; each returns a list of fragments."""

    def __init__(self, writes: WriteBehind) -> None:
        self._writes = writes
        self._futures: list[Future] = []

    def add(self, fn: Callable[..., list[Any]], *args: Any, **kwargs: Any) -> None:
        self._futures.append(self._writes.submit(fn, *args, **kwargs))

    def results(self) -> list[Any]:
        """Wait for the writes added so far; their fragments in the order added (an error is raised)."""
        futures, self._futures = self._futures, []
        return [frag for fut in futures for frag in fut.result()]

    def cancel(self) -> None:
        """After an error elsewhere: drop the writes not started, wait for the running one."""
        futures, self._futures = self._futures, []
        for fut in futures:
            fut.cancel()
        wait(futures)


__all__ = ["PendingWrites", "WriteBehind"]
