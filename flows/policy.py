"""Task options shared by the flows."""

from __future__ import annotations

import os
from typing import Any

from pinlake.errors import PinlakeError

#: exceptions worth another attempt: I/O (object storage, network, a busy file)
TRANSIENT = (OSError, TimeoutError)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only on I/O errors; a recipe or validation error fails at once."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False


#: the default waits before a failed I/O task's next attempts (two more attempts, 1 s then 5 s later)
DEFAULT_RETRY_DELAYS = "1,5"


#: Prefect takes at most 50 delays; a wait longer than a day is not a retry
MAX_RETRIES, MAX_RETRY_DELAY = 50, 86400.0


def retry_delays(value: str | None = None) -> list[float]:
    """The seconds to wait before each further attempt of a failed task: ``value``, else
    ``PINLAKE_FLOW_RETRY_DELAYS`` (comma-separated, e.g. ``1,5``; empty: no retry), else 1 s then 5 s.
    Read when the flows are imported: by the command that runs a flow, a served deployment, or a
    worker's flow run."""
    text = os.environ.get("PINLAKE_FLOW_RETRY_DELAYS", DEFAULT_RETRY_DELAYS) if value is None else value
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    try:
        delays = [float(part) for part in parts]
    except ValueError:
        delays = [-1.0]
    if len(delays) > MAX_RETRIES or any(not (0 <= d <= MAX_RETRY_DELAY) for d in delays):  # NaN fails too
        raise PinlakeError(
            f"PINLAKE_FLOW_RETRY_DELAYS={text!r} is not a list of seconds",
            hint=f"Set it to comma-separated seconds (at most {MAX_RETRIES}, each up to {MAX_RETRY_DELAY:g}), "
            "e.g. PINLAKE_FLOW_RETRY_DELAYS=1,5 (empty: no retry), or unset it.",
        )
    return delays


#: a task that may fail on I/O: one more attempt after each of :func:`retry_delays`
_DELAYS = retry_delays()
RETRY: dict[str, Any] = {"retries": len(_DELAYS), "retry_delay_seconds": _DELAYS or 0}

#: the same, for a task whose other errors (recipe, validation) must fail at once
RETRY_TRANSIENT: dict[str, Any] = {**RETRY, "retry_condition_fn": _transient}

#: a flow whose result its caller reads from the run's final state (the CLI, a parent flow): the
#: result goes to Prefect's result storage before the run reports Completed. When that report's
#: reply is lost, Prefect's client sends it again and the server, which had committed it, rejects
#: the repeat and returns the state it holds: with a reference to the stored result, not without
#: data (Prefect's ``MissingResult: State data is missing``). One small file per flow run, in
#: Prefect's result storage; tasks without a cache key still write nothing.
RESULT_READ: dict[str, Any] = {"persist_result": True}
