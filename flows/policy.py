"""Task options shared by the flows."""

from __future__ import annotations

from typing import Any

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


#: a task that may fail on I/O: two more attempts, 1 s then 5 s later
RETRY: dict[str, Any] = {"retries": 2, "retry_delay_seconds": [1, 5]}

#: the same, for a task whose other errors (recipe, validation) must fail at once
RETRY_TRANSIENT: dict[str, Any] = {**RETRY, "retry_condition_fn": _transient}

#: a flow whose result its caller reads from the run's final state (the CLI, a parent flow): the
#: result goes to Prefect's result storage before the run reports Completed. When that report's
#: reply is lost, Prefect's client sends it again and the server, which had committed it, rejects
#: the repeat and returns the state it holds: with a reference to the stored result, not without
#: data (Prefect's ``MissingResult: State data is missing``). One small file per flow run, in
#: Prefect's result storage; tasks without a cache key still write nothing.
RESULT_READ: dict[str, Any] = {"persist_result": True}
