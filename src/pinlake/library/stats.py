"""Recompute stats.json of a dataset's latest version (``pinlake stats``)."""

from __future__ import annotations

from typing import Any

from pinlake.datasets.dataset import Dataset
from pinlake.datasets.finalize import write_stats


def recompute_stats(ds: Dataset) -> dict[str, Any]:
    """Compute stats.json and features_values.json of ``ds``'s version again (stored with that version)."""
    return write_stats(ds)
