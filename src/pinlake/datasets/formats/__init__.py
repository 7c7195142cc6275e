"""Annotation formats in and out of pinlake: builders that import a format into a dataset version,
exporters that write a version in a format (see :mod:`pinlake.datasets.formats.common` for the
exporter contract). COCO: :mod:`pinlake.datasets.formats.coco`; YOLO (Ultralytics):
:mod:`pinlake.datasets.formats.yolo`; Pascal VOC: :mod:`pinlake.datasets.formats.voc`.

:func:`exporter` loads a format's exporter on first use (each imports only what its format needs).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pinlake.errors import ValidationError

#: format -> "module:function" of its exporter
EXPORTERS = {
    "coco": "pinlake.datasets.formats.coco:export_coco",
    "hf": "pinlake.datasets.formats.hf:export_hf",
    "parquet": "pinlake.datasets.formats.parquet:export_parquet",
    "pixano": "pinlake.datasets.formats.pixano:export_pixano",
    "yolo": "pinlake.datasets.formats.yolo:export_yolo",
    "voc": "pinlake.datasets.formats.voc:export_voc",
}


def exporter(fmt: str) -> Callable[..., Any]:
    """The export function of ``fmt``: ``fn(ds, out, *, media=..., provenance_extra=...) -> ExportResult``."""
    spec = EXPORTERS.get(fmt)
    if spec is None:
        raise ValidationError(f"unknown export format {fmt!r}", hint=f"Formats: {', '.join(EXPORTERS)}.")
    module, _, name = spec.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fn


__all__ = ["EXPORTERS", "exporter"]
