"""Open, describe and list the datasets of a library (``pinlake info``, ``pinlake ls``, ``GET /datasets/``).

:func:`summaries` lists a library without opening its datasets: each dataset's top-level
``summary.json`` (written with every version, see :func:`pinlake.datasets.versions.summary_of`) and
one read of the catalog for the channels. The top-level copy is the latest version's once the write
that made it has finished; a write killed between its commit and that copy leaves the previous
version's summary until the next write of the dataset. A dataset without one (written before
summaries existed) is opened instead.

:func:`listing_key` says when a listing made earlier is stale: it stats what the listing reads
(each dataset's ``summary.json``, ``preview.png`` and log folder, the library's folder and the
catalog's publications), so any write, publish or new dataset changes it. It is None for a library
on S3 (no folder times there): such a listing is never reused.

:func:`read_key` says when a read of one dataset made earlier (rows of a table, at its latest
version, a version number or a tag) is stale: it reads the ``latest_version_hint.json`` Lance
rewrites (the version it names, in a new file) at every commit of the dataset's version log and of the
catalog's ``tags``, ``publications`` and ``cleanups`` tables, so a new version, a tag, a channel move
or a retention run changes it, however close together. None on S3, or when a table has no hint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pinlake.datasets.dataset import Dataset
from pinlake.datasets.versions import SUMMARY
from pinlake.errors import PinlakeError
from pinlake.layout import CATALOG_DIR, LOG_NAME, check_dataset_name
from pinlake.library.connection import Library
from pinlake.library.versions import ChannelState, channel_states
from pinlake.storage import LANCE_HINT, location


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


def summaries(library: Library) -> list[tuple[str, dict[str, Any] | None, ChannelState]]:
    """Per dataset of the library: (name, its latest version's summary or None when it has none,
    its channel state) — one small file per dataset and one catalog read (module doc)."""
    channels = channel_states(library.path)
    out = []
    for name in library.dataset_names():
        try:
            summary = json.loads((library.path / name / SUMMARY).read_bytes())
        except (OSError, ValueError):
            summary = None
        out.append((name, summary if isinstance(summary, dict) else None, channels.get(name, ChannelState())))
    return out


#: the catalog tables a read of one dataset depends on: tags (``?tag=``), channels, retention
READ_CATALOG = ("tags", "publications", "cleanups")


def read_key(library: Library, name: str) -> tuple[Any, ...] | None:
    """A cheap fingerprint of what a read of dataset ``name`` depends on (module doc); None when it
    cannot be had (a name that is not a dataset's is never looked up)."""
    root = library.path
    if not isinstance(root, Path):
        return None
    try:
        path = str(root / check_dataset_name(name))  # no listing of the library on the event loop
    except PinlakeError:
        return None
    key: list[tuple[bytes, int, int] | None] = []
    for table in (os.path.join(path, LOG_NAME), *(os.path.join(root, CATALOG_DIR, f"{t}.lance") for t in READ_CATALOG)):
        try:
            with open(os.path.join(table, "_versions", LANCE_HINT), "rb") as fh:
                # the version it names, and the file: a dataset made again by the same name starts at 1
                st = os.fstat(fh.fileno())
                key.append((fh.read(256), st.st_ino, st.st_mtime_ns))
        except FileNotFoundError:
            if table.startswith(path):
                return None  # no dataset (or one without a hint): nothing to reuse
            key.append(None)  # a catalog table not written yet
        except OSError:
            return None
    return tuple(key)


def listing_key(library: Library) -> tuple[Any, ...] | None:
    """A cheap fingerprint of what :func:`summaries` reads (module doc); None when it cannot be had."""
    root = library.path
    if not isinstance(root, Path):
        return None

    def stamp(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    key: list[Any] = [stamp(str(root)), stamp(os.path.join(root, CATALOG_DIR, "publications.lance", "_versions"))]
    with os.scandir(root) as entries:
        for e in sorted(entries, key=lambda e: e.name):
            if e.name.startswith(("_", ".")) or not e.is_dir():
                continue
            base = e.path
            key.append(
                (
                    e.name,
                    stamp(os.path.join(base, SUMMARY)),
                    stamp(os.path.join(base, "preview.png")),
                    stamp(os.path.join(base, LOG_NAME, "_versions")),
                )
            )
    return tuple(key)
