"""Redraw preview.png of a dataset's latest version (``pinlake preview``)."""

from __future__ import annotations


from pathlib import Path

from pinlake.datasets.dataset import Dataset


def recompute_preview(ds: Dataset) -> Path:
    from pinlake.datasets.finalize import write_preview

    return write_preview(ds)
