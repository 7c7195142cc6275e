"""Datasets: DatasetItem, DatasetInfo, Dataset (CRUD), builders, stats and preview.

The names below load on first use, so importing one submodule (say ``pinlake.datasets.versions``
for a pinned read) does not import the pydantic item models and the CRUD layer.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Dataset": "pinlake.datasets.dataset",
    "DatasetItem": "pinlake.datasets.dataset_item",
    "DatasetInfo": "pinlake.datasets.info",
    "DatasetSchema": "pinlake.datasets.schema",
    "DatasetVersion": "pinlake.datasets.versions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pinlake.datasets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["Dataset", "DatasetItem", "DatasetInfo", "DatasetSchema", "DatasetVersion"]
