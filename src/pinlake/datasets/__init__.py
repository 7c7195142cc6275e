"""Datasets: DatasetItem, DatasetInfo, Dataset (CRUD), builders, stats and preview.

The names below load on first use, so importing one submodule (say ``pinlake.datasets.versions``
for a pinned read) does not import the pydantic item models and the CRUD layer.
"""

from __future__ import annotations

from pinlake.util.lazy import lazy_names

_LAZY = {
    "Dataset": "pinlake.datasets.dataset",
    "DatasetItem": "pinlake.datasets.dataset_item",
    "DatasetInfo": "pinlake.datasets.info",
    "DatasetSchema": "pinlake.datasets.schema",
    "DatasetVersion": "pinlake.datasets.versions",
}

__all__ = ["Dataset", "DatasetItem", "DatasetInfo", "DatasetSchema", "DatasetVersion"]

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
