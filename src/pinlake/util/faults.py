"""Fault injection at commit points, for the fault suite (``tests/faults``, ``python -m bench faults``).

Contract:
- Every write path calls :func:`commit_point` right after each step that changes what is stored: a
  Lance commit (dataset table, version log, lake table, catalog), a restore, a version's staged
  files, the top-level cache.
- ``PINLAKE_FAULT_KILL_AT=N``: the process SIGKILLs itself at its Nth commit point (counted from 1
  in this process), as a crash or ``kill -9`` would, with no cleanup of any kind.
- ``PINLAKE_FAULT_TRACE=PATH``: each commit point appends its name as one line to PATH (a clean
  run's trace tells how many points a command has and what each one is).
- With neither set, a commit point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

KILL_AT = "PINLAKE_FAULT_KILL_AT"
TRACE = "PINLAKE_FAULT_TRACE"

_count = 0


def commit_point(name: str) -> None:
    """Mark that ``name`` was just made durable (see the module doc)."""
    global _count
    kill_at = os.environ.get(KILL_AT)
    trace = os.environ.get(TRACE)
    if not kill_at and not trace:
        return
    _count += 1
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(f"{name}\n")
    if kill_at and _count == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["commit_point", "KILL_AT", "TRACE"]
