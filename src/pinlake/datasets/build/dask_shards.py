"""Shards of a lock build: plan them, and build one (the function a Dask worker runs).

A shard is a run of consecutive lines of one ``resources.<split>.jsonl`` (a byte range, so a worker
reads only its own lines). :func:`run_shard` turns those resources into rows exactly as the local
:class:`~pinlake.datasets.build.from_lock.LockfileBuilder` does (same ids, same values, same
checks of ids and references; the coordinator has checked the lock against the lake), writes them
as *uncommitted* Lance fragments and returns the fragment metadata as JSON.
Nothing it writes is visible until the coordinator commits (see :mod:`pinlake.datasets.build.dask_build`).

Source rows are the exception: every shard would write the same ones, so a shard returns them and
the coordinator writes them once. This module does not import Dask: it runs anywhere.
"""

from __future__ import annotations

import inspect
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from pinlake.datasets.build.from_lock import LockfileBuilder
from pinlake.datasets.dataset_item import DatasetItem, load_dataset_item
from pinlake.datasets.info import DatasetInfo
from pinlake.datasets.refs import check_refs
from pinlake.datasets.tables import TableWriter
from pinlake.errors import PinlakeError
from pinlake.features.arrow import arrow_schema
from pinlake.lake import Lake
from pinlake.recipes.lockfile import Lock, resource_file
from pinlake.runners.dask import error_result
from pinlake.storage import S3Path, location
from pinlake.util.idset import IdSet
from pinlake.util.write_behind import WriteBehind

#: tables the coordinator writes (rows every shard would repeat)
COORDINATOR_TABLES = ("source",)


@dataclass(frozen=True)
class Shard:
    """Lines ``first_line .. first_line + count - 1`` of one split's jsonl (bytes ``start:stop``)."""

    index: int
    split: str
    start: int
    stop: int
    first_line: int
    count: int
    #: number of samples before this shard in the whole lock (ids of rows that have none)
    first_sample: int

    def describe(self) -> str:
        last = self.first_line + self.count - 1
        return f"shard {self.index} ({resource_file(self.split)} lines {self.first_line}-{last})"


@dataclass(frozen=True)
class ShardJob:
    """What every shard of one build shares (small and picklable)."""

    dataset_path: str
    lock_dir: str
    manifest: dict[str, Any]
    lake_root: str
    #: ``module:Class`` / ``FILE.py:Class``, or the class itself when it has no importable spec
    item: Any
    info: dict[str, Any]
    embed: bool
    build_time: datetime
    flush_every: int = 1024
    extra: dict[str, Any] = field(default_factory=dict)


def plan_shards(lock: Lock, n_shards: int) -> list[Shard]:
    """Cut the lock's lines into about ``n_shards`` runs of about equal length (never across
    splits: each split gets its share of the shards, at least one)."""
    counts = {s: int(lock.manifest["splits"].get(s, 0)) for s in lock.splits}
    total = sum(counts.values())
    shards: list[Shard] = []
    sample = 0
    for split in lock.splits:
        share = max(1, round(max(1, n_shards) * counts[split] / total)) if total else 1
        size = max(1, -(-counts[split] // share))
        with lock.file(split).open("rb") as fh:
            start = pos = 0
            first = line = 1
            count = 0
            for raw in fh:
                pos += len(raw)
                count += 1
                line += 1
                if count == size:
                    shards.append(Shard(len(shards), split, start, pos, first, count, sample))
                    sample += count
                    start, first, count = pos, line, 0
            if count:
                shards.append(Shard(len(shards), split, start, pos, first, count, sample))
                sample += count
    return shards


def default_shards(n_items: int, n_workers: int) -> int:
    """2 shards per worker, or one per ~5000 items when that is more (never more than the items)."""
    return max(1, min(n_items, max(2 * max(1, n_workers), -(-n_items // 5000))))


def item_spec(cls: type[DatasetItem]) -> Any:
    """How a worker finds ``cls``: ``module:Class``, ``FILE.py:Class``, or the class itself."""
    module = cls.__module__
    if module.startswith("_pinlake_item_"):  # loaded from a file by load_dataset_item
        try:
            return f"{os.path.abspath(inspect.getfile(cls))}:{cls.__qualname__}"
        except (TypeError, OSError):
            return cls
    if module == "__main__" or "<locals>" in cls.__qualname__:
        return cls
    return f"{module}:{cls.__qualname__}"


def load_item(spec: Any) -> type[DatasetItem]:
    if isinstance(spec, str):
        return load_dataset_item(spec)
    return spec


class ShardLock(Lock):
    """A lock whose records are only the lines of one shard (read by byte range, not re-verified:
    the coordinator verified the lock's hash before planning)."""

    def __init__(self, path: str | Path, manifest: dict[str, Any], shard: Shard) -> None:
        super().__init__(location(path), manifest, [shard.split])
        self.shard = shard

    def lines(self) -> Iterator[tuple[str, int, str]]:
        """(split, line number, line without the newline) of the shard's records only."""
        s = self.shard
        path = self.file(s.split)
        try:
            if isinstance(path, S3Path):
                data = path.read_range(s.start, s.stop)  # a ranged GET: a shard never downloads the whole split
            else:
                with path.open("rb") as fh:
                    fh.seek(s.start)
                    data = fh.read(s.stop - s.start)
        except OSError as exc:
            raise PinlakeError(
                f"{self.file(s.split)}: this worker ({socket.gethostname()}) cannot read the lock: {exc}",
                hint="Lock and library must be on storage every Dask worker sees (same path).",
            ) from None
        for i, line in enumerate(data.decode("utf-8").splitlines()):
            yield s.split, s.first_line + i, line

    def records(self, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
        if split == self.shard.split:
            for _, lineno, line in self.lines():
                yield lineno, json.loads(line)


def run_shard(job: ShardJob, shard: Shard) -> dict[str, Any]:
    """Build one shard: rows → uncommitted fragments per table. Returns fragment JSON, row counts and
    the shard's source rows; a PinlakeError (bad data: retrying will not help) comes back as
    ``{"error": ...}`` instead of being raised, so Dask does not retry it."""
    t0 = time.perf_counter(), time.thread_time()
    try:
        return _run(job, shard, t0)
    except PinlakeError as exc:
        return error_result(shard.describe(), exc)


def _run(job: ShardJob, shard: Shard, t0: tuple[float, float]) -> dict[str, Any]:
    lake = Lake(job.lake_root)
    cls = load_item(job.item)
    lock = ShardLock(job.lock_dir, job.manifest, shard)
    # the coordinator checked the whole lock against the lake before planning (build_lock_on_dask)
    builder = LockfileBuilder(lock, job.dataset_path, cls, DatasetInfo(**job.info), lake, embed=job.embed, in_lake_checked=True)
    builder.build_time = job.build_time  # one build time for every shard: rows match the local build
    schemas = builder.schema.schemas
    writes = WriteBehind()
    writers = {
        t: TableWriter(job.dataset_path, t, arrow_schema(s), mode="overwrite", writes=writes)
        for t, s in schemas.items()
        if t not in COORDINATOR_TABLES
    }
    seen: dict[str, IdSet] = {t: IdSet() for t in schemas}  # closed below: their files go with the shard
    try:
        buffers: dict[str, list[Any]] = {t: [] for t in schemas}

        def none_before(table: str, ids: list[str]) -> set[str]:
            return set()  # full builds only: nothing exists before this build

        def flush(ready: dict[str, pa.Table] | None, at: int) -> None:
            at += shard.first_sample
            buffers["source"].extend(s for s in builder.sources if s.id not in seen["source"])
            arrows = builder.flush_tables(buffers, ready, seen, f"sample {at}", none_before)
            fresh = {t: a.column("id") for t, a in arrows.items()}
            for t, a in arrows.items():
                check_refs(t, a, schemas, seen, none_before, where=f"sample {at}: ", fresh=fresh)
            for t, a in arrows.items():
                if t in writers:
                    writers[t].write(a)

        samples = builder.run_samples(buffers, flush, job.flush_every, first_sample=shard.first_sample)
        return {
            "index": shard.index,
            "samples": samples,
            "fragments": {t: [json.dumps(f.to_json()) for f in w.finish()] for t, w in writers.items()},
            "rows": {t: w.rows for t, w in writers.items()},
            "sources": list(builder.sources),
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "seconds": round(time.perf_counter() - t0[0], 3),
            "cpu_seconds": round(time.thread_time() - t0[1], 3),  # this thread's CPU (Lance's own threads aside)
        }
    finally:
        for w in writers.values():
            w.abort()
        writes.close(cancel=True)
        for ids in seen.values():
            ids.close()


__all__ = ["Shard", "ShardJob", "ShardLock", "plan_shards", "default_shards", "item_spec", "load_item", "run_shard"]
