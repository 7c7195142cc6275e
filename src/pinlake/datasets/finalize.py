"""The files that describe a dataset version: info.json (item count, size), schema.json, stats.json,
features_values.json and preview.png.

A build computes them on its state before committing it (:func:`derive_files`, handed to
:meth:`VersionLog.append`), so a version never exists without them. :func:`write_stats` and
:func:`write_preview` recompute them for a committed version (``pinlake stats``, the flows' steps).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pinlake.datasets.preview import PREVIEW_KEY, preview_png, render_preview
from pinlake.datasets.stats import compute_features_values, compute_stats
from pinlake.datasets.stats_delta import incremental_stats

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.datasets.dataset import Dataset
    from pinlake.datasets.versions import DatasetVersion


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode()


def version_files(ds: Dataset, *, derived: bool = True, previous: Dataset | None = None) -> dict[str, bytes]:
    """The files of ``ds``'s version: info.json and schema.json, with ``derived`` also stats.json,
    features_values.json and preview.png. With a ``previous`` version, its stats plus the changed
    rows when that is exact and cheaper (:func:`incremental_stats`), and its preview when it draws
    the same items."""
    info = ds.info.model_copy(deep=True)
    info.num_items = ds.num_items if "item" in ds.state.tables else 0
    info.size = human_size(ds.size_bytes())
    files = {"info.json": json_bytes(info.model_dump(mode="json")), "schema.json": json_bytes(ds.schema.to_dict())}
    if derived:
        merged = incremental_stats(previous, ds) if previous is not None else None
        stats, values = merged if merged is not None else (compute_stats(ds), compute_features_values(ds))
        files["stats.json"] = json_bytes(stats)
        files["features_values.json"] = json_bytes(values)
        old = None
        if previous is not None and previous.preview_path.is_file():
            key_file = previous.version_file(PREVIEW_KEY)
            if key_file is not None:
                old = (key_file.read_text(), previous.preview_path.read_bytes())
        key, png = preview_png(ds, old)
        files["preview.png"] = png
        files[PREVIEW_KEY] = key.encode()
    return files


def derive_files(
    candidate: Callable[[DatasetVersion], Dataset], *, derived: bool = True, previous: Dataset | None = None
) -> Callable[[DatasetVersion], Mapping[str, bytes]]:
    """For :meth:`VersionLog.append`: the files of the state about to be committed, read through
    ``candidate(entry)`` (:meth:`Dataset.candidate` with the write's info, schema and media dir)."""

    def derive(entry: DatasetVersion) -> Mapping[str, bytes]:
        return version_files(candidate(entry), derived=derived, previous=previous)

    return derive


def write_stats(ds: Dataset) -> dict:
    stats = compute_stats(ds)
    ds.write_version_files({"stats.json": json_bytes(stats), "features_values.json": json_bytes(compute_features_values(ds))})
    return stats


def write_preview(ds: Dataset) -> Any:
    return render_preview(ds)


def finalize(ds: Dataset) -> None:
    """Stats, features values and preview of a committed version that has none (a version written
    before they were computed at commit, or after a CRUD write)."""
    write_stats(ds)
    write_preview(ds)
