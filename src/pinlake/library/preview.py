"""Redraw preview.png of a dataset's latest version (``pinlake preview``)."""

from __future__ import annotations

from pathlib import Path

from pinlake.datasets.dataset import Dataset
from pinlake.datasets.finalize import write_preview


def recompute_preview(ds: Dataset) -> Path:
    return write_preview(ds)
