"""Ctrl-C (and SIGTERM where a command stops on it) in the CLI, kept apart from what the engines make
of it.

Contract: once :func:`install` has set :func:`on_interrupt` for a signal, that signal raises
``KeyboardInterrupt`` as Python's own handler does, and is also noted for the rest of the process:
:func:`requested` is True from then on. The note is what the CLI trusts, not the exception, because a
``KeyboardInterrupt`` raised inside an engine call does not always come out as one: DuckDB turns it
into ``RuntimeError: Query interrupted`` or an ``InvalidInputException`` naming it, an extension
module being imported into an ``ImportError``, and a library may swallow it while it imports. The
CLI (:func:`pinlake.cli.app.handle_errors`) exits 130 when an interrupt was requested, whatever the
command raised or returned, and long commands call :func:`check` between their steps.
Without :func:`install` (pinlake used as a library) nothing changes: Python's handler stays.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

#: set by :func:`on_interrupt`, never cleared: the process is on its way out
_requested = threading.Event()


def on_interrupt(signum: int, frame: FrameType | None) -> None:
    """Note the request, then raise ``KeyboardInterrupt`` (as Python's default SIGINT handler)."""
    _requested.set()
    raise KeyboardInterrupt


def install(*signals: int) -> None:
    """Make each signal an interrupt (:func:`on_interrupt`), unless it is ignored (a background
    job's) or this is not the main thread (where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in signals:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, on_interrupt)


def requested() -> bool:
    """True once an interrupt arrived through :func:`on_interrupt` in this process."""
    return _requested.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if an interrupt was requested: a step that follows must not start
    after one was swallowed on the way."""
    if _requested.is_set():
        raise KeyboardInterrupt
