"""Lineage properties carried by every pinlake write.

Every Lance commit pinlake makes (where Lance accepts them) and every dataset
version entry carries these key/value pairs, so a table read on its own still
tells where it came from. Keys are stable: the catalog reads them back.
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Mapping
from importlib import metadata

LINEAGE_KEYS = (
    "pinlake.run_id",
    "pinlake.flow_run_id",
    "pinlake.operation",
    "pinlake.lock_hash",
    "pinlake.lake_version",
    "pinlake.recipe_hash",
    "pinlake.code_version",
    "pinlake.user",
    "pinlake.dataset_version",
)

#: what a dataset version was made from (the lock, the lake version, the recipe): a version that keeps
#: another's content (a restore, a maintain's compaction) carries them over, so the next refresh
#: knows the lock it holds (no rebuild of the same lock) and builds from it incrementally
CONTENT_KEYS = ("pinlake.lock_hash", "pinlake.lake_version", "pinlake.recipe_hash", "pinlake.recipe", "pinlake.lock_dir")


def content_lineage(lineage: Mapping[str, str]) -> dict[str, str]:
    """The :data:`CONTENT_KEYS` of ``lineage`` that it has (non-empty)."""
    return {k: lineage[k] for k in CONTENT_KEYS if lineage.get(k)}


def code_version() -> str:
    try:
        return metadata.version("pinlake")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return os.environ.get("USER", "")


def new_run_id() -> str:
    return uuid.uuid4().hex


def lineage_properties(operation: str, *, run_id: str | None = None, **extra: object) -> dict[str, str]:
    """The lineage of one write, as string key/values for Lance ``transaction_properties``.

    ``run_id`` defaults to ``PINLAKE_RUN_ID`` or a fresh uuid; the flow run id is read from
    ``PINLAKE_FLOW_RUN_ID`` (set by the Prefect flows, so the engine needs no Prefect import).
    Extra keyword arguments are added as ``pinlake.<key>`` (``None`` values are skipped).
    """
    props = {
        "pinlake.run_id": run_id or os.environ.get("PINLAKE_RUN_ID") or new_run_id(),
        "pinlake.flow_run_id": os.environ.get("PINLAKE_FLOW_RUN_ID", ""),
        "pinlake.operation": operation,
        "pinlake.code_version": code_version(),
        "pinlake.user": _user(),
    }
    for key, value in extra.items():
        if value is None:
            continue
        name = key if key.startswith("pinlake.") else f"pinlake.{key}"
        props[name] = str(value)
    return props
