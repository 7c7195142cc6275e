"""Distributed lock builds on a Dask cluster.

``build_lock_on_dask(...)`` (what ``pinlake build --lock DIR --runner dask`` runs) cuts the lock
into shards (:func:`pinlake.datasets.build.dask_shards.plan_shards`), runs
:func:`~pinlake.datasets.build.dask_shards.run_shard` for each on the cluster's workers (read, decode, hash,
write uncommitted Lance fragments for every table) and then, here on the coordinator, commits each
table once and appends one dataset version entry, under the dataset's lock, with the same lineage
as a local build. So:

- the tables hold exactly the rows a local build of the same lock writes (ids are stable);
- a shard that raises is retried (``retries``); a shard whose worker dies is recomputed on another
  worker by Dask; a shard that keeps failing fails the build with a :class:`BuildError` naming it;
- nothing is visible before the commit: a build (or coordinator) that dies before it leaves the
  previous version the latest (the orphan data files are removed by ``pinlake cleanup``).

Dask is imported lazily (:mod:`pinlake.runners.dask`). Lock, lake and library must be on storage every worker sees under the same path or URI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc
from lance.fragment import FragmentMetadata

from pinlake import errors
from pinlake.datasets.build.base import build_section
from pinlake.datasets.build.dask_shards import Shard, ShardJob, default_shards, item_spec, plan_shards, run_shard
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.finalize import derive_files
from pinlake.datasets.info import DatasetInfo
from pinlake.datasets.schema import DatasetSchema
from pinlake.datasets.tables import TableWriter, table_uri
from pinlake.datasets.versions import VersionLog
from pinlake.errors import BuildError
from pinlake.features.arrow import arrow_schema, rows_to_table
from pinlake.provenance import lineage_properties
from pinlake.recipes.lockfile import Lock, check_in_lake, line_column
from pinlake.runners.dask import (
    DEFAULT_CONNECT_TIMEOUT,
    client_for,
    run_tasks,
    worker_names,
)
from pinlake.storage import AnyPath, lance_dataset, location
from pinlake.util.clock import utcnow
from pinlake.util.strings import StringList


@dataclass
class DaskBuild:
    """What a distributed build did: the new dataset version and how it was cut."""

    dataset: Dataset
    shards: int
    workers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: time each shard took on its worker, and the coordinator's commit (tables + version entry)
    shard_seconds: list[float] = field(default_factory=list)
    shard_cpu_seconds: list[float] = field(default_factory=list)
    commit_seconds: float = 0.0
    #: the lock's object names, sorted (one item each: a name locked twice is refused)
    object_names: StringList = field(default_factory=StringList)


def distinct_names(lock: Lock, lines: int) -> StringList:
    """The lock's object names, sorted; a :class:`ValidationError` naming one locked twice (in two
    splits of a recipe with ``disjoint=False``). Each shard checks only its own ids, so without this a
    name locked twice would be two items with one id, which a local build refuses. The names are
    counted here and read again (sorted) on first use, as a local build's are (:func:`built_names`):
    held through the build, a million of them cost the coordinator ≈ 50 MB."""
    column = line_column(lock, "object_name")
    if column.null_count:
        raise errors.ValidationError(
            f"lock {lock.path} has {column.null_count} line(s) without an object_name",
            hint="Lock the recipe again (pinlake datasets lock): pinlake writes every line with its object name.",
        )
    if pc.count_distinct(column).as_py() == lines:
        del column
        return StringList.deferred(lines, lambda: lock.object_names().to_arrow())
    counts = pc.value_counts(column)
    twice = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    name = sorted(twice.to_pylist())[0]
    raise errors.ValidationError(
        f"lock {lock.path} names {name!r} more than once ({len(twice)} names are locked twice or more): "
        "one item each is needed, and the ids of a Dask build's shards are checked shard by shard",
        hint="Lock a recipe whose splits are disjoint (the default) for a Dask build.",
    )


def build_lock_on_dask(
    lock: Lock,
    target: AnyPath | str,
    dataset_item: type[DatasetItem],
    info: DatasetInfo,
    lake: Any,
    *,
    mode: str = "create",
    embed: bool = False,
    address: str | None = None,
    client: Any = None,
    shards: int | None = None,
    retries: int = 2,
    flush_every_n_samples: int | None = None,
    compute_stats: bool = True,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    item: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> DaskBuild:
    """Build ``target`` from ``lock`` on the Dask cluster at ``address`` (or through ``client``).

    ``mode``: "create" (``target`` must be empty) or "overwrite" (a new version replacing the rows).
    ``item``: how workers load ``dataset_item`` (default: derived from the class).
    ``progress(done_samples, total_samples)`` is called as shards finish.
    """
    if mode not in ("create", "overwrite"):
        raise errors.ValidationError(f"unknown mode {mode!r} for a distributed build", hint="Use mode='create' or 'overwrite'.")
    t0 = time.perf_counter()
    target = location(target)
    log = VersionLog(target)
    total = sum(int(n) for n in lock.manifest["splits"].values())
    names = distinct_names(lock, total)
    with client_for(address, client, connect_timeout) as client:
        workers = worker_names(client)
        check_in_lake(lock, lake)  # once for every shard (after connecting: a bad address fails fast)
        plan = plan_shards(lock, shards or default_shards(total, len(workers)))
        with build_section(target, log, mode, "Use mode='overwrite' (new version replacing the rows).") as mode:
            ds, results, commit_s = _build_under_write_lock(
                client,
                lock,
                target,
                log,
                dataset_item,
                info,
                lake,
                mode,
                embed,
                plan,
                retries,
                flush_every_n_samples or 1024,
                item,
                progress,
                compute_stats,
            )
    return DaskBuild(
        ds,
        len(plan),
        sorted({r["worker"] for r in results}),
        round(time.perf_counter() - t0, 3),
        [r["seconds"] for r in results],
        [r["cpu_seconds"] for r in results],
        commit_s,
        names,
    )


def _build_under_write_lock(
    client: Any,
    lockfile: Lock,
    target: AnyPath,
    log: VersionLog,
    dataset_item: type[DatasetItem],
    info: DatasetInfo,
    lake: Any,
    mode: str,
    embed: bool,
    plan: list[Shard],
    retries: int,
    flush_every: int,
    item: Any,
    progress: Callable[[int, int], None] | None,
    derived: bool = True,
) -> tuple[Dataset, list[dict[str, Any]], float]:
    schema = DatasetSchema.from_dataset_item(dataset_item)
    info.id = info.id or target.name
    info.media = {"lake": str(lake.root), "lock": str(lockfile.path)}
    job = ShardJob(
        dataset_path=str(target),
        lock_dir=str(lockfile.path),
        manifest=lockfile.manifest,
        lake_root=str(lake.root),
        item=item if item is not None else item_spec(dataset_item),
        info=info.model_dump(mode="json"),
        embed=embed,
        build_time=utcnow(),
        flush_every=flush_every,
    )
    results = run_shards(client, job, plan, retries, progress)
    t0 = time.perf_counter()
    commit_build(target, log, schema, results, mode, lockfile.lineage(), info=info, derived=derived)
    return Dataset(target, dataset_item=dataset_item), results, round(time.perf_counter() - t0, 3)


def run_shards(
    client: Any, job: ShardJob, plan: list[Shard], retries: int, progress: Callable[[int, int], None] | None = None
) -> list[dict[str, Any]]:
    """Run every shard on the cluster; their results in shard order, or a BuildError naming the
    first shard that failed (the others are cancelled)."""
    total = sum(s.count for s in plan)
    done = [0]

    def on_result(i: int, res: dict[str, Any]) -> None:
        done[0] += res["samples"]
        if progress:
            progress(done[0], total)

    return run_tasks(
        client,
        run_shard,
        [(job, s) for s in plan],
        name=f"shard-{location(job.dataset_path).name}",
        describe=lambda i: plan[i].describe(),
        retries=retries,
        failure=BuildError,
        hint="The previous dataset version stays the latest; fix the cause and build again.",
        on_result=on_result,
    )


def commit_build(
    target: AnyPath,
    log: VersionLog,
    schema: DatasetSchema,
    results: list[dict[str, Any]],
    mode: str,
    lineage: dict[str, Any],
    *,
    info: DatasetInfo | None = None,
    derived: bool = True,
) -> None:
    """The commit point: the coordinator's source rows, one commit per table, one version entry
    (with the version's info, schema, stats and preview made before it)."""
    samples = sum(r["samples"] for r in results)
    if samples == 0 and mode == "create":
        raise BuildError(f"build of {target.name!r}: the lock has no resources", hint="Check the recipe's selection.")
    schemas = schema.schemas
    writers = {t: TableWriter(target, t, arrow_schema(s), mode="overwrite") for t, s in schemas.items()}
    try:
        for t, w in writers.items():
            for r in results:
                w.fragments.extend(FragmentMetadata.from_json(j) for j in r["fragments"].get(t, []))
                w.rows += r["rows"].get(t, 0)
        if "source" in writers:  # the one table the coordinator writes (see COORDINATOR_TABLES)
            sources = list({s.id: s for r in results for s in r["sources"]}.values())
            if sources:
                writers["source"].write(rows_to_table(schemas["source"], sources, table="source"))
        props = lineage_properties(f"build:{mode}", **lineage)
        tables: dict[str, int] = {}
        counts: dict[str, int] = {}
        for t, w in writers.items():
            tables[t] = w.commit(props, f"build {target.name} ({mode}): {w.rows} rows")
            counts[t] = lance_dataset(table_uri(target, t), version=tables[t]).count_rows()
        before = Dataset(target) if log.exists() else None
        info = info or DatasetInfo(id=target.name, name=target.name)
        log.append(
            f"build:{mode}",
            tables,
            counts,
            props,
            message=f"{samples} samples ({len(results)} shards on dask)",
            derive=derive_files(lambda e: Dataset.candidate(target, e, info, schema), derived=derived, previous=before),
        )
    finally:
        for w in writers.values():
            w.abort()


__all__ = ["DaskBuild", "build_lock_on_dask", "commit_build", "run_shards"]
