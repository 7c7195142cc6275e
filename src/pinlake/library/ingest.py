"""Ingest steps: upload files (or import a bucket) into the lake, and run a processing over it."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from pinlake.errors import NotFoundError
from pinlake.lake import ErrorManager, name_of, walk_files
from pinlake.library.connection import Library
from pinlake.storage import is_uri


def ingest_step(
    library: str | os.PathLike[str],
    paths_or_prefix: list[str],
    tags: list[str] | None,
    source: str | None,
    object_prefix: str | None = None,
    runner: str = "local",
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Upload files (or import a bucket/dir prefix by reference) into the library's lake.

    ``runner="dask"``: the files are hashed and written on the Dask cluster at ``dask_address``."""
    lib = Library(library).ensure()
    lake = lib.get_datalake()
    errors = ErrorManager()
    remote = [p for p in paths_or_prefix if is_uri(p)]
    local = [p for p in paths_or_prefix if not is_uri(p)]
    has_files = local and next(walk_files(local), None) is not None
    if not has_files and not remote:
        raise NotFoundError("nothing to ingest: no files under the given paths")
    before = lake.version if lake.count() else None
    count = 0
    if has_files and runner == "local":  # streamed: memory follows the batch, not the folder
        count += lake.upload_folder(local, tags=tags, source=source, object_prefix=object_prefix, error_manager=errors).ok
    elif has_files:
        walked = list(walk_files(local))
        files = [path for path, _ in walked]
        names = [name_of(rel, object_prefix) for _, rel in walked]
        out = lake.upload_data(
            files, tags=tags, source=source, error_manager=errors, object_names=names, runner=runner, dask_address=dask_address
        )
        count += len(out) if hasattr(out, "__len__") else 1
    if remote:
        count += len(lake.import_bucket_objects(remote, tags=tags, source=source, error_manager=errors))
    return {
        "lake_version": lake.version,
        "previous_lake_version": before,
        "data": count,
        "errors": [{"path": str(e.path), "reason": e.reason} for e in errors.errors],
        "tags": tags or [],
    }


def process_step(
    library: str | os.PathLike[str],
    processing: str,
    q: str | None = None,
    tags: list[str] | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    lake = Library(library).get_datalake()
    data = lake.list_data(q=q, tags=tags)
    result = lake.launch_processing(processing, data, parameters or {})
    return asdict(result) if hasattr(result, "__dataclass_fields__") else dict(result.__dict__)
