"""Open, describe and list the datasets of a library (``pinlake info``, ``pinlake ls``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pinlake.datasets.dataset import Dataset
from pinlake.library.connection import Library
from pinlake.storage import location


def dataset_summary(ds: Dataset) -> dict[str, Any]:
    return {
        "name": ds.name,
        "id": ds.id,
        "description": ds.info.description,
        "path": str(ds.path),
        "version": ds.version,
        "versions": len(ds.versions()),
        "items": ds.num_items,
        "rows": ds.state.rows,
        "splits": ds.splits() if ds.num_items else {},
        "size": ds.info.size,
        "tables": {
            t: {"group": ds.schema.group(t), "schema": ds.schema.schemas[t].__name__, "lance_version": ds.state.tables.get(t)}
            for t in ds.tables
        },
        "stats": str(ds.path / "stats.json"),
        "preview": str(ds.preview_path),
    }


def list_datasets(library: Library) -> list[dict[str, Any]]:
    out = []
    for ds in library.iter_datasets():
        out.append(
            {
                "name": ds.name,
                "items": ds.num_items,
                "version": ds.version,
                "versions": len(ds.versions()),
                "size": ds.info.size,
                "description": ds.info.description,
            }
        )
    return out


def open_dataset(library: Library, name_or_path: str, media_dir: Path | None = None) -> Dataset:
    p = location(name_or_path)
    if (p / "_versions.lance").is_dir() or (p / "info.json").is_file():
        return Dataset(p, media_dir=media_dir)
    return library.get_dataset(name_or_path, media_dir=media_dir)
