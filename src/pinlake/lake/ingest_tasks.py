"""The two tasks of a distributed ingest, as a Dask worker runs them (no Dask import here).

- :func:`hash_files`: read, hash and probe a run of files (phase 1). Per-file problems (missing,
  unreadable, a directory, corrupt) come back as reasons, not exceptions: the coordinator reports
  them like a local upload does.
- :func:`write_objects`: read the files whose bytes the lake lacks, check each still has the sha256
  of phase 1, and write them as *uncommitted* Lance fragments of the lake's ``objects`` table
  (phase 2). Nothing is visible until the coordinator commits (see :mod:`pinlake.lake.distributed`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from typing import Any, Iterator

import pyarrow as pa

from pinlake.errors import InputFileError
from pinlake.lake.store import OBJECTS_SCHEMA, storage_options_for
from pinlake.lake.upload import (
    BATCH_BYTES,
    BATCH_ROWS,
    Item,
    _load_chunk,
    _reason,
)


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def hash_files(paths: list[str], filenames: list[str], fill_metadata: bool) -> dict[str, Any]:
    """Phase 1: ``{"files": [loaded or {"reason": why}], ...}``, one entry per path, in order."""
    t0 = time.perf_counter()
    items = [Item(p, f, f, None, path=p) for p, f in zip(paths, filenames)]
    out: list[dict[str, Any]] = []
    for r in _load_chunk(items, fill_metadata):
        if isinstance(r, BaseException):
            out.append({"reason": _reason(r)})
        else:
            r.pop("content")
            out.append(r)
    return {"files": out, "worker": _where(), "seconds": round(time.perf_counter() - t0, 3)}


def write_objects(uri: str, entries: list[tuple[str, str, int]], created_at: Any, index: int = 0) -> dict[str, Any]:
    """Phase 2: write ``(path, sha256, size)`` as object rows with their bytes, uncommitted.

    A file whose bytes changed since phase 1 fails the task with an InputFileError naming it (not
    retried: the coordinator must hash it again); its fragments stay invisible.
    """
    import lance

    t0 = time.perf_counter()
    changed: list[InputFileError] = []
    written = [0, 0]

    def batches() -> Iterator[pa.RecordBatch]:
        rows: list[tuple[str, int, bytes]] = []
        size = 0
        for path, sha, expected in entries:
            try:
                with open(path, "rb") as fh:
                    content = fh.read()
            except OSError as exc:
                changed.append(InputFileError(f"cannot read {path} on {_where()}: {_reason(exc)}",
                                              hint="The lake and the files must be on storage every Dask worker sees (same path)."))
                return
            now_sha = hashlib.sha256(content).hexdigest()
            if now_sha != sha or len(content) != expected:
                changed.append(InputFileError(f"{path} changed while it was being ingested (sha256 {sha[:12]}… when hashed, {now_sha[:12]}… now)",
                                              hint="Nothing was written; run the upload again once the file is stable."))
                return
            rows.append((sha, len(content), content))
            size += len(content)
            if len(rows) >= BATCH_ROWS or size >= BATCH_BYTES:
                yield _batch(rows, created_at)
                written[0] += len(rows)
                written[1] += size
                rows, size = [], 0
        if rows:
            yield _batch(rows, created_at)
            written[0] += len(rows)
            written[1] += size

    reader = pa.RecordBatchReader.from_batches(OBJECTS_SCHEMA, batches())
    fragments = lance.fragment.write_fragments(reader, uri, schema=OBJECTS_SCHEMA, storage_options=storage_options_for(uri))
    if changed:
        from pinlake.dask_client import error_result

        return error_result(f"write task {index}", changed[0])
    return {"fragments": [json.dumps(f.to_json()) for f in fragments], "rows": written[0], "bytes": written[1],
            "worker": _where(), "seconds": round(time.perf_counter() - t0, 3)}


def _batch(rows: list[tuple[str, int, bytes]], created_at: Any) -> pa.RecordBatch:
    import lance

    sha, size, blob = zip(*rows)
    table = pa.table(
        [pa.array(sha, pa.string()), pa.array(size, pa.int64()), pa.array([None] * len(rows), pa.string()),
         lance.blob_array(list(blob)), pa.array([created_at] * len(rows), OBJECTS_SCHEMA.field("created_at").type)],
        schema=OBJECTS_SCHEMA,
    )
    return table.combine_chunks().to_batches()[0]


__all__ = ["hash_files", "write_objects"]
