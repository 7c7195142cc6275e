"""pinlake: a lake, recipes, locks, versioned Lance datasets, lineage and pinned reads.

Importing ``pinlake`` is cheap and never imports Prefect: heavy modules load on first use.
"""

from __future__ import annotations

import os

# Lance logs a WARN line for every fragment written to a new table; keep the terminal for real news.
os.environ.setdefault("LANCE_LOG", "error")

from pinlake.util.lazy import lazy_names  # noqa: E402 - after the environment default above

__version__ = "0.1.0"

# name -> "module:attribute", resolved lazily on first access
_LAZY = {
    "connect": "pinlake.library.connection:connect",
    "Library": "pinlake.library.connection:Library",
    "Lake": "pinlake.lake:Lake",
    "ErrorManager": "pinlake.lake:ErrorManager",
    "Dataset": "pinlake.datasets.dataset:Dataset",
    "DatasetInfo": "pinlake.datasets.info:DatasetInfo",
    "DatasetItem": "pinlake.datasets.dataset_item:DatasetItem",
    "DatasetBuilder": "pinlake.datasets.build.base:DatasetBuilder",
    "ImageFolderBuilder": "pinlake.datasets.build.folder:ImageFolderBuilder",
    "CocoBuilder": "pinlake.datasets.formats.coco:CocoBuilder",
    "YoloBuilder": "pinlake.datasets.formats.yolo:YoloBuilder",
    "VocBuilder": "pinlake.datasets.formats.voc:VocBuilder",
    "recipe": "pinlake.recipes.decorator:recipe",
    "dataset_compilation_entrypoint": "pinlake.recipes.decorator:dataset_compilation_entrypoint",
    "check": "pinlake.recipes.checks:check",
    "CheckOutcome": "pinlake.recipes.checks:CheckOutcome",
    "open": "pinlake.library.pin:open",
    "sql": "pinlake.library.sql:sql",
    "PinnedDataset": "pinlake.library.pin:PinnedDataset",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY)

# `open` stays out of __all__ so `from pinlake import *` never shadows the builtin
__all__ = ["__version__", *(name for name in _LAZY if name != "open")]
