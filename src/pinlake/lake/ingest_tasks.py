"""The two tasks of a distributed ingest, as a Dask worker runs them (no Dask import here).

- :func:`hash_files`: read, hash and probe a run of files (phase 1). Per-file problems (missing,
  unreadable, a directory, corrupt) come back as reasons, not exceptions: the coordinator reports
  them like a local upload does.
- :func:`write_objects`: read the files whose bytes the lake lacks, check each still has the sha256
  of phase 1, and write them as *uncommitted* Lance fragments of the lake's ``objects`` table
  (phase 2), one fragment write per batch. Nothing is visible until the coordinator commits (see :mod:`pinlake.lake.dask_ingest`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from typing import Any

from pinlake.errors import InputFileError
from pinlake.lake.lance_tables import OBJECTS_SCHEMA
from pinlake.lake.upload import BATCH_BYTES, BATCH_ROWS, UploadItem, failure_reason, load_chunk, objects_table, read_local
from pinlake.runners.dask import error_result
from pinlake.storage import storage_options


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def hash_files(paths: list[str], filenames: list[str], fill_metadata: bool) -> dict[str, Any]:
    """Phase 1: ``{"files": [loaded or {"reason": why}], ...}``, one entry per path, in order."""
    t0 = time.perf_counter()
    items = [UploadItem(p, f, f, None, path=p) for p, f in zip(paths, filenames)]
    out: list[dict[str, Any]] = []
    for r in load_chunk(items, fill_metadata):
        if isinstance(r, BaseException):
            out.append({"reason": failure_reason(r)})
        else:
            r.pop("content")
            out.append(r)
    return {"files": out, "worker": _where(), "seconds": round(time.perf_counter() - t0, 3)}


def write_objects(uri: str, entries: list[tuple[str, str, int]], created_at: Any, index: int = 0) -> dict[str, Any]:
    """Phase 2: write ``(path, sha256, size)`` as object rows with their bytes, uncommitted, one
    fragment write per batch (as a local upload does).

    A file that cannot be read, or whose bytes changed since phase 1, fails the task with an
    InputFileError naming it (not retried: the coordinator must hash it again); what the task wrote
    stays invisible.
    """
    import lance

    t0 = time.perf_counter()
    fragments: list[Any] = []
    rows: list[tuple[str, int, str | None, bytes | None]] = []
    size = written = nbytes = 0

    def flush() -> None:
        fragments.extend(
            lance.fragment.write_fragments(
                objects_table(rows, created_at), uri, schema=OBJECTS_SCHEMA, storage_options=storage_options(uri)
            )
        )

    for path, sha, expected in entries:
        try:
            content = read_local(path)
        except OSError as exc:
            return error_result(
                f"write task {index}",
                InputFileError(
                    f"cannot read {path} on {_where()}: {failure_reason(exc)}",
                    hint="The lake and the files must be on storage every Dask worker sees (same path).",
                ),
            )
        now_sha = hashlib.sha256(content).hexdigest()
        if now_sha != sha or len(content) != expected:
            return error_result(
                f"write task {index}",
                InputFileError(
                    f"{path} changed while it was being ingested (sha256 {sha[:12]}… when hashed, {now_sha[:12]}… now)",
                    hint="Nothing was written; run the upload again once the file is stable.",
                ),
            )
        rows.append((sha, len(content), None, content))
        size += len(content)
        written += 1
        nbytes += len(content)
        if len(rows) >= BATCH_ROWS or size >= BATCH_BYTES:
            flush()
            rows, size = [], 0
    if rows:
        flush()
    return {
        "fragments": [json.dumps(f.to_json()) for f in fragments],
        "rows": written,
        "bytes": nbytes,
        "worker": _where(),
        "seconds": round(time.perf_counter() - t0, 3),
    }


__all__ = ["hash_files", "write_objects"]
