"""Fewer malloc arenas in the CLI's process, so memory freed by one batch serves the next.

Contract:

- :func:`limit_arenas` is called first by :mod:`pinlake.cli`, before Lance, DuckDB or Arrow start
  their threads, and by nothing else: ``import pinlake`` in a user's process changes nothing.
- On glibc it sets ``M_ARENA_MAX`` (``mallopt``) to the number of CPUs the process may run on, at
  least 2. When ``MALLOC_ARENA_MAX`` is in the environment, or ``GLIBC_TUNABLES`` names
  ``glibc.malloc.arena_max``, it does nothing: glibc reads those itself and the user's choice wins
  (``MALLOC_ARENA_MAX=16 pinlake …`` undoes this module). On another C library (musl, macOS), or
  when ``ctypes`` or the C library cannot be loaded, it does nothing: it never stops a command.
- It returns the limit it set, and :data:`LIMIT` holds it (None when it set nothing).

Why: glibc gives a thread that finds every arena busy a new one, up to eight per core, and memory
freed into an arena stays with the process. Lance's and DuckDB's worker threads spread a scan's
buffers over those arenas, so a process keeps a share of every table it scanned: one full scan of a
700k-row Lance table left the process 50 MB larger (10 MB with two arenas), and the peak of an
export grew with the dataset for that reason (bench/NOTES.md). Threads share the arenas there are;
on this project's benchmarks the times did not change (bench/NOTES.md).
"""

from __future__ import annotations

import os

#: ``M_ARENA_MAX`` of glibc's ``mallopt`` (malloc.h)
M_ARENA_MAX = -8
#: the limit :func:`limit_arenas` set in this process, None when it set none
LIMIT: int | None = None


def glibc() -> bool:
    """This process runs on glibc."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):  # not a GNU C library, or no confstr (Windows)
        return False


def limit_arenas() -> int | None:
    """Limit glibc's malloc arenas to this process's CPUs (see the module doc); returns the limit set."""
    global LIMIT
    chosen = "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", "")
    if LIMIT is not None or chosen or not glibc():
        return LIMIT
    try:
        import ctypes

        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        limit = max(2, cpus)
        if ctypes.CDLL(None).mallopt(M_ARENA_MAX, limit) == 1:
            LIMIT = limit
    except (ImportError, OSError, AttributeError):  # no ctypes, no C library to load: glibc's default stays
        return None
    return LIMIT


__all__ = ["LIMIT", "M_ARENA_MAX", "glibc", "limit_arenas"]
