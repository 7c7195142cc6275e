"""After a build: stats.json, features_values.json, preview.png and info.json (size, item count)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinlake.datasets.info import write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.datasets.dataset import Dataset


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def write_stats(ds: "Dataset") -> dict:
    from pinlake.datasets.stats import compute_stats

    stats = compute_stats(ds)
    write_json_atomic(ds.path / "stats.json", stats)
    return stats


def write_preview(ds: "Dataset"):
    from pinlake.datasets.preview import render_preview

    return render_preview(ds)


def finalize(ds: "Dataset") -> None:
    from pinlake.datasets.stats import compute_features_values

    write_stats(ds)
    write_json_atomic(ds.path / "features_values.json", compute_features_values(ds))
    write_preview(ds)
    ds.info.num_items = ds.num_items
    ds.info.size = human_size(ds.size_bytes())
    ds.info.to_json(ds.path / "info.json")
