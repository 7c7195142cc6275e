"""Distributed ingest on a Dask cluster (``pinlake lake upload … --runner dask``).

Two phases, one commit:

1. **hash** (workers): the files the state cache does not settle are cut into runs; each run is
   read, hashed and probed on a worker (:func:`pinlake.lake.ingest_tasks.hash_files`). Only the
   results travel back (sha256, size, media type, image size), not the bytes.
2. **dedupe** (coordinator): under the lake's write lock, the sha256s are checked against the
   ``objects`` table exactly as a local upload does; only the first file of each new sha256 is kept.
3. **write** (workers): those files are cut into runs of about equal bytes; each worker re-reads its
   files, checks their sha256 again and writes *uncommitted* Lance fragments of ``objects``
   (:func:`~pinlake.lake.ingest_tasks.write_objects`).
4. **commit** (coordinator): one commit of every object fragment, then one commit of the data rows,
   with the same versioning and lineage as a local upload (plus ``runner=dask``).

A task that raises is retried; a task whose worker dies is recomputed by Dask; a task that keeps
failing fails the ingest with an :class:`~pinlake.errors.InputFileError` naming its files, and the
lake is unchanged (its fragments were never committed: unreferenced files under ``objects.lance/data``,
as a failed local upload leaves them; nothing reads them). Files and
lake must be on storage every worker reads under the same path (a shared filesystem), or the lake on
``s3://``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lance.fragment import FragmentMetadata

from pinlake.errors import InputFileError, ValidationError
from pinlake.lake.ingest_tasks import hash_files, write_objects
from pinlake.lake.lance_tables import DATA, OBJECTS, Store, now
from pinlake.lake.models import ErrorManager, UploadError
from pinlake.lake.state import StateCache, state_path
from pinlake.lake.upload import (
    Ingested,
    IngestState,
    LatestLookup,
    UploadItem,
    check_new_rows,
    commit,
    decide,
    dedupe,
    flush_rows,
    hashed_entries,
    settle,
    skip_known,
)
from pinlake.runners.dask import DEFAULT_CONNECT_TIMEOUT, client_for, run_tasks, worker_names
from pinlake.util.idset import duplicates

#: files per hash task at most (and at least, unless there are fewer)
HASH_TASK_MAX, HASH_TASK_MIN = 2000, 64
#: bytes per write task at least (fewer task round trips), unless there are fewer; a task writes batch by batch
WRITE_TASK_MIN_BYTES = 64 * 1024 * 1024
HINT = "The lake is unchanged; fix the cause and run the upload again (landed files are deduplicated)."


@dataclass
class DaskIngest:
    """What a distributed ingest did, phase by phase."""

    files: int = 0
    #: files read on the workers (the rest were settled by the state cache)
    hashed: int = 0
    #: new objects written (bytes the lake lacked) and their size
    objects: int = 0
    bytes: int = 0
    hash_tasks: int = 0
    write_tasks: int = 0
    workers: list[str] = field(default_factory=list)
    hash_seconds: float = 0.0
    write_seconds: float = 0.0
    commit_seconds: float = 0.0
    seconds: float = 0.0


def ingest_on_dask(
    store: Store,
    items: list[UploadItem],
    *,
    tags: list[str],
    source: str | None,
    error_manager: ErrorManager | None,
    fill_metadata: bool,
    operation: str,
    address: str | None = None,
    client: Any = None,
    tasks: int | None = None,
    retries: int = 2,
    progress: Callable[[int], None] | None = None,
    lineage: dict[str, Any] | None = None,
    use_state: bool = True,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> tuple[list[dict[str, Any] | None], DaskIngest]:
    """Ingest local files on the Dask cluster at ``address`` (or through ``client``).

    Returns one data row per item (None where it failed, with ``error_manager``) and the phase report.
    ``tasks``: hash tasks to cut the files into (default: 4 per worker, of 64–2000 files each).
    """
    t0 = time.perf_counter()
    remote = [it.label for it in items if not it.path or it.uri is not None]
    if remote:
        raise ValidationError(
            f"the dask runner ingests files by path; {remote[0]!r} is not a local file",
            hint="Import bucket objects without --runner dask (they are imported by reference).",
        )
    report = DaskIngest(files=len(items))
    out = Ingested(files=len(items), rows=[None] * len(items))
    cache = StateCache(state_path(store.root, store.remote)) if use_state else None
    with client_for(address, client, connect_timeout) as client, store.write_lock():
        n_workers = len(worker_names(client))
        objects_ds = store.open_or_none(OBJECTS)
        names = [it.object_name for it in items]
        state = IngestState(duplicates(names), LatestLookup(store.open_or_none(DATA)))
        state.begin(names)
        try:
            todo = skip_known(state, list(enumerate(items)), out, cache, fill_metadata, tags, source, progress)
            report.hashed = len(todo)
            t1 = time.perf_counter()
            ok = _hash_phase(client, todo, fill_metadata, tasks, n_workers, retries, error_manager, progress, report)
            report.hash_seconds = round(time.perf_counter() - t1, 3)
            if cache is not None:
                cache.record(hashed_entries(ok))
        finally:
            if cache is not None:
                cache.close()
        new_objs = dedupe(state, objects_ds, ok)
        ts = now()
        t1 = time.perf_counter()
        fragments = _write_phase(client, store, new_objs, ts, n_workers, retries, report)
        report.write_seconds = round(time.perf_counter() - t1, 3)
        for i, it, r in ok:
            settle(out, i, decide(state, it, r, tags, source, ts))
        t1 = time.perf_counter()
        extra = {
            "files": len(items),
            "runner": "dask",
            "hash_tasks": report.hash_tasks,
            "write_tasks": report.write_tasks,
            **(lineage or {}),
        }
        check_new_rows(state)
        rows = flush_rows(store, state, final=True)
        changed = list(state.changed.values())
        del state, objects_ds  # before the indexes (see upload.commit)
        commit(store, changed, fragments, rows, operation, extra)
        report.commit_seconds = round(time.perf_counter() - t1, 3)
    report.seconds = round(time.perf_counter() - t0, 3)
    assert out.rows is not None
    return out.rows, report


def _hash_phase(
    client: Any,
    todo: list[tuple[int, UploadItem]],
    fill_metadata: bool,
    tasks: int | None,
    n_workers: int,
    retries: int,
    error_manager: ErrorManager | None,
    progress: Callable[[int], None] | None,
    report: DaskIngest,
) -> list[tuple[int, UploadItem, dict[str, Any]]]:
    if not todo:
        return []
    if tasks:
        size = -(-len(todo) // tasks)
    else:
        size = min(HASH_TASK_MAX, max(HASH_TASK_MIN, -(-len(todo) // (4 * max(1, n_workers)))))
    runs = [todo[s : s + size] for s in range(0, len(todo), size)]
    report.hash_tasks = len(runs)
    jobs = [([it.path for _, it in run], [it.filename for _, it in run], fill_metadata) for run in runs]

    def describe(k: int) -> str:
        run = runs[k]
        return f"hash task {k} ({len(run)} files, {run[0][1].label} … {run[-1][1].label})"

    def on_result(k: int, res: dict[str, Any]) -> None:
        report.workers = sorted({*report.workers, res["worker"]})
        if progress:
            progress(len(runs[k]))

    done = run_tasks(
        client, hash_files, jobs, name="hash", describe=describe, retries=retries, failure=InputFileError, hint=HINT, on_result=on_result
    )
    ok: list[tuple[int, UploadItem, dict[str, Any]]] = []
    for run, res in zip(runs, done):
        for (i, it), r in zip(run, res["files"]):
            if "reason" not in r:
                ok.append((i, it, r))
            elif error_manager is None:
                raise InputFileError(
                    f"cannot upload {it.label}: {r['reason']}",
                    hint="Nothing was written. Pass error_manager=ErrorManager() to skip failing files.",
                )
            else:
                error_manager.append(UploadError(it.label, r["reason"]))
    return ok


def _write_phase(
    client: Any, store: Store, new_objs: list[tuple[UploadItem, dict[str, Any]]], ts: Any, n_workers: int, retries: int, report: DaskIngest
) -> list[FragmentMetadata]:
    if not new_objs:
        return []
    total = sum(r["size"] for _, r in new_objs)
    target = max(WRITE_TASK_MIN_BYTES, -(-total // (2 * max(1, n_workers))))
    runs: list[list[tuple[str, str, int]]] = [[]]
    acc = 0
    for it, r in new_objs:
        if acc >= target:
            runs.append([])
            acc = 0
        runs[-1].append((str(it.path), r["sha256"], r["size"]))
        acc += r["size"]
    report.write_tasks, report.objects, report.bytes = len(runs), len(new_objs), total
    uri = store.uri(OBJECTS) if store.remote else os.path.abspath(store.uri(OBJECTS))
    jobs = [(uri, run, ts, k) for k, run in enumerate(runs)]

    def describe(k: int) -> str:
        return f"write task {k} ({len(runs[k])} files, {runs[k][0][0]} … {runs[k][-1][0]})"

    done = run_tasks(client, write_objects, jobs, name="write", describe=describe, retries=retries, failure=InputFileError, hint=HINT)
    return [FragmentMetadata.from_json(j) for res in done for j in res["fragments"]]


__all__ = ["DaskIngest", "ingest_on_dask"]
