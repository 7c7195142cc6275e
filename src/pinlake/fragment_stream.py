"""Stream Arrow tables into ONE Lance ``write_fragments`` call running on a background thread.

The producer keeps building the next rows while Lance encodes and writes the previous ones, and
the rows land in few, large fragments instead of one small write per flush. The queue holds at most
two tables, so memory stays flat. Nothing written is visible before the caller commits the
fragments. An error in the writer is raised in the producer's next :meth:`put` / :meth:`finish`;
:meth:`abort` stops the writer after an error elsewhere (call it in a ``finally``).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

import pyarrow as pa


class FragmentStream:
    def __init__(self, write: Callable[[pa.RecordBatchReader], list[Any]], schema: pa.Schema, name: str = "pinlake-fragments") -> None:
        self._write = write
        self._schema = schema
        self._name = name
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        self._fragments: list[Any] = []
        self._error: BaseException | None = None
        self._closed = False

    def put(self, table: pa.Table) -> None:
        if self._closed:
            raise RuntimeError("this fragment stream is finished")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._send(table)

    def finish(self) -> list[Any]:
        """Wait for the writer; the uncommitted fragments it wrote (or its error)."""
        if self._closed:
            return [] if self._error is None else self._raise()
        self._closed = True
        if self._thread is None:
            return []
        self._send(None)
        self._thread.join()
        return self._raise() if self._error is not None else self._fragments

    def abort(self) -> None:
        """Stop the writer without waiting for more rows (what it wrote stays invisible)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        if self._error is None and self._thread.is_alive():
            self._send(None)
        self._thread.join()

    def _raise(self) -> list[Any]:
        assert self._error is not None
        raise self._error

    def _send(self, item: pa.Table | None) -> None:
        assert self._thread is not None
        while True:
            if self._error is not None:
                raise self._error
            if not self._thread.is_alive():
                raise RuntimeError(f"{self._name}: the writer thread stopped")
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        def batches() -> Iterator[pa.RecordBatch]:
            while (table := self._queue.get()) is not None:
                yield from table.to_batches()

        try:
            self._fragments = list(self._write(pa.RecordBatchReader.from_batches(self._schema, batches())))
        except BaseException as exc:  # noqa: BLE001 - handed to the producer by put/finish
            self._error = exc


class WriteBehind:
    """Fragment writes of several tables run on ONE background thread, in the order submitted, while
    the caller builds the next rows. At most ``backlog`` writes wait; the next submit then waits for
    the oldest (memory stays flat, and an earlier write's error reaches the caller there). Each
    write is a separate ``write_fragments`` call, so data files stay as small as the flushes (one
    long streamed file per table buffers more inside Lance as the table grows). :meth:`close` in a
    ``finally``; pending writes are cancelled when closing after an error.
    """

    def __init__(self, backlog: int = 6, name: str = "pinlake-write") -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[Any] = deque()
        self._backlog = backlog

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        while self._pending and (len(self._pending) >= self._backlog or self._pending[0].done()):
            self._pending.popleft().result()
        fut = self._pool.submit(fn, *args, **kwargs)
        self._pending.append(fut)
        return fut

    def close(self, cancel: bool = False) -> None:
        """Stop the thread: after the pending writes (or, with ``cancel``, without those not started)."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)
        self._pending.clear()


__all__ = ["FragmentStream", "WriteBehind"]
