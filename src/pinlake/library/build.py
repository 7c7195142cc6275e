"""Build a dataset: from a folder (``build_folder``) or from a lock (``build_from_lock``).

``build_from_lock(library, lock_dir, name)`` creates the dataset on first use. When the dataset
already exists (``mode="auto"``): a lock whose hash equals the latest version's lock hash changes
nothing (``unchanged=True``); otherwise the earlier lock is diffed with the new one by object name
(a resource whose locked line or split changed is an update) and only the adds, updates and deletes
go through one CRUD batch (one new dataset version). Without the earlier lock on disk, the dataset
is rebuilt (``mode="overwrite"``: a new version replacing the rows).

``runner="dask"`` runs full builds (create/overwrite) on a Dask cluster (``dask_address`` or
``dask_client``): see :mod:`pinlake.datasets.build.dask_build`. Incremental refreshes write only the diff
and stay on the calling process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from pinlake.datasets.build.dask_build import build_lock_on_dask
from pinlake.datasets.build.folder import ImageFolderBuilder, infer_dataset_item
from pinlake.datasets.build.from_lock import LockfileBuilder, item_id_for
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.dataset_item import DatasetItem, load_dataset_item
from pinlake.datasets.formats.coco import CocoBuilder
from pinlake.datasets.formats.voc import VocBuilder
from pinlake.datasets.formats.yolo import YoloBuilder
from pinlake.datasets.info import DatasetInfo
from pinlake.datasets.versions import VersionLog
from pinlake.errors import DatasetExistsError, InputFileError, ValidationError
from pinlake.layout import check_dataset_name
from pinlake.library.connection import Library
from pinlake.library.registry import DEFAULT_ITEM
from pinlake.recipes.delta import made_from
from pinlake.recipes.lockfile import CHANGES, Lock, lake_location, line_batches, missing_in_lake, not_in_lake, read_lock, spilling_duckdb
from pinlake.runners.dask import check_runner
from pinlake.storage import location
from pinlake.util.strings import StringList


@dataclass
class BuildResult:
    dataset: Dataset
    samples: int
    #: what a lenient import skipped (one message per bad annotation)
    skipped: list[str] = field(default_factory=list)


def build_folder(
    library: Library,
    source_dir: Path,
    name: str,
    *,
    item: str | type[DatasetItem] | None = None,
    mode: str = "create",
    description: str = "",
    url_prefix: str | None = None,
    embed: bool = False,
    flush_every_n_samples: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> BuildResult:
    check_dataset_name(name)
    library.ensure()
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise InputFileError(f"{source_dir}: source folder does not exist", hint="Point at ROOT with ROOT/<split>/metadata.jsonl.")
    item_cls = load_dataset_item(item) if isinstance(item, str) else (item or infer_dataset_item(source_dir))
    builder = ImageFolderBuilder(
        source_dir,
        library.dataset_path(name),
        item_cls,
        DatasetInfo(id=name, name=name.replace("_", " ").title(), description=description),
        url_prefix=url_prefix if url_prefix is not None else f"/{source_dir.name}",
        embed=embed,
    )
    total = builder.count_samples()
    if progress:
        builder.progress = lambda n: progress(n, total)
    ds = builder.build(mode=mode, flush_every_n_samples=flush_every_n_samples)  # type: ignore[arg-type]  # build() checks the mode
    return BuildResult(ds, ds.num_items)


#: annotation formats ``pinlake build --format`` imports (the folder layout is the default)
ANNOTATION_FORMATS = ("coco", "yolo", "voc")


def build_annotations(
    library: Library,
    source: Path,
    name: str,
    *,
    format: str,
    images: Path | None = None,
    split: str = "train",
    mode: str = "create",
    description: str = "",
    url_prefix: str | None = None,
    embed: bool = False,
    lenient: bool = False,
    flush_every_n_samples: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> BuildResult:
    """Build dataset ``name`` from annotations in ``format`` (``coco``: ``source`` is the
    instances or person-keypoints JSON, ``images`` the folder its ``file_name``s are in; ``split``
    names its split. ``yolo``: ``source`` is the ``data.yaml`` or the dataset folder holding it; the
    splits are its train/val/test. ``voc``: ``source`` is the VOC folder (``Annotations/``,
    ``JPEGImages/``, ``ImageSets/Main/``); ``split`` is used only without ``ImageSets/Main``).
    ``lenient``: bad annotations are skipped and counted in the lineage instead of stopping the build."""
    check_dataset_name(name)
    if format not in ANNOTATION_FORMATS:
        raise ValidationError(f"unknown annotation format {format!r}", hint=f"Formats: {', '.join(ANNOTATION_FORMATS)}.")
    if images is None and format == "coco":
        raise ValidationError(
            f"--format {format} needs the images folder", hint=f"pinlake build FILE --format {format} --images DIR --name NAME"
        )
    library.ensure()
    info = DatasetInfo(id=name, name=name.replace("_", " ").title(), description=description)
    builder: CocoBuilder | YoloBuilder | VocBuilder
    if format == "yolo":
        root = Path(source) if Path(source).is_dir() else Path(source).parent
        prefix = url_prefix if url_prefix is not None else f"/{root.resolve().name}"
        builder = YoloBuilder(Path(source), library.dataset_path(name), info, embed=embed, lenient=lenient, url_prefix=prefix)
    elif format == "voc":
        prefix = url_prefix if url_prefix is not None else f"/{Path(source).resolve().name}"
        builder = VocBuilder(Path(source), library.dataset_path(name), info, split=split, embed=embed, lenient=lenient, url_prefix=prefix)
    else:
        images = Path(images)  # type: ignore[arg-type]  # checked above
        builder = CocoBuilder(
            Path(source),
            images,
            library.dataset_path(name),
            info,
            split=split,
            embed=embed,
            lenient=lenient,
            url_prefix=url_prefix if url_prefix is not None else f"/{images.name}",
        )
    total = builder.count_samples()
    if progress:
        builder.progress = lambda n: progress(n, total)
    ds = builder.build(mode=mode, flush_every_n_samples=flush_every_n_samples)  # type: ignore[arg-type]  # build() checks the mode
    return BuildResult(ds, ds.num_items, skipped=list(builder.skipped))


LockBuildMode = Literal["auto", "create", "overwrite"]


@dataclass
class LockBuildResult:
    dataset: Dataset
    lock_hash: str
    mode: str
    unchanged: bool = False
    #: object names, sorted (a full build's every name is a StringList: Arrow strings read as a list)
    added: Sequence[str] = field(default_factory=list)
    updated: Sequence[str] = field(default_factory=list)
    deleted: Sequence[str] = field(default_factory=list)
    #: "local" or "dask" (what wrote the rows), and the number of shards of a dask build
    runner: str = "local"
    shards: int = 0
    #: a dask build's timings: {"shard_seconds": [...], "commit_seconds": s, "workers": [...]}
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.dataset.version


def built_names(lock: Lock, ds: Dataset) -> StringList:
    """The object names a local full build of ``lock`` added: one item each (the build refuses a name
    locked twice: its item id is taken), so their number is the dataset's item count; the names
    themselves are read from the lock on first use (a million of them cost a pass over the lock and
    ≈ 100 MB while sorted, which a caller that only counts never pays). A Dask build counts them
    before it starts, to refuse a name locked twice (its shards check their ids alone), and defers
    its names the same way."""
    return StringList.deferred(ds.num_items, lambda: lock.object_names().to_arrow())


@dataclass
class LockDiff:
    """What changed between two locks: object names added, updated (split or locked line changed)
    and deleted, each sorted, and the last line of each added or updated name."""

    added: list[str]
    updated: list[str]
    deleted: list[str]
    #: object name → (split, line number, canonical line) of the added and updated names
    lines: dict[str, tuple[str, int, str]]


#: per name of a lock: the digest of its last line's split and text, and that line's position (a
#: name in several splits of one lock, disjoint=False, keeps its last line, as :meth:`Lock.index` does)
_LAST_LINES = """
    SELECT name, arg_max(key, pos) AS key, max(pos) AS pos FROM (
        SELECT json_extract_string(line, '$.object_name') AS name, unhex(sha256(split || chr(10) || line)) AS key, pos FROM lines
    ) GROUP BY name
"""


def lock_diff(old: Lock, new: Lock) -> LockDiff:
    """The :class:`LockDiff` of two locks, in DuckDB within :data:`LOCK_MEMORY` (spilling beyond):
    each lock's lines streamed (:func:`line_batches`) and kept as (name, digest, position); the
    changed names' lines read in a last pass over the new lock by position. Its memory follows
    the change, not the locks."""
    with spilling_duckdb("pinlake-diff-") as con:
        for table, lock in (("a", old), ("b", new)):
            con.register("lines", line_batches(lock))
            con.execute(f"CREATE TABLE {table} AS {_LAST_LINES}")
            con.unregister("lines")

        def names(sql: str) -> list[str]:
            return con.sql(sql).to_arrow_table().column(0).to_pylist()

        added = names("SELECT name FROM b ANTI JOIN a USING (name) ORDER BY name")
        deleted = names("SELECT name FROM a ANTI JOIN b USING (name) ORDER BY name")
        updated = names("SELECT b.name FROM b JOIN a USING (name) WHERE b.key <> a.key ORDER BY b.name")
        con.execute("CREATE TABLE changed AS SELECT b.name, b.pos FROM b LEFT JOIN a USING (name) WHERE a.key IS DISTINCT FROM b.key")
        con.register("lines", line_batches(new))
        rows = con.execute("SELECT c.name, l.split, l.lineno, l.line FROM lines AS l JOIN changed AS c USING (pos)").fetchall()
    return LockDiff(added, updated, deleted, {name: (split, lineno, line) for name, split, lineno, line in rows})


def recorded_diff(old: Lock, new: Lock) -> LockDiff | None:
    """The :class:`LockDiff` an incremental lock recorded (:data:`CHANGES`, written when ``new`` was
    made from ``old``, :mod:`pinlake.recipes.delta`), without reading either lock; None when
    ``new`` has no record from ``old`` (then :func:`lock_diff` reads both). A record is a function
    of the two hashes it names, which must be these locks'. Disjoint locks only (a name in several
    splits keeps its last line in :func:`lock_diff`)."""
    if not new.manifest.get("disjoint", True) or new.manifest.get("parent", {}).get("hash") != old.hash:
        return None
    path = new.path / CHANGES
    if not path.is_file():
        return None
    try:
        table = pq.read_table(pa.BufferReader(path.read_bytes()))
    except (OSError, pa.ArrowException):  # a damaged record: the locks are diffed instead
        return None
    meta = table.schema.metadata or {}
    if meta.get(b"parent") != old.hash.encode() or meta.get(b"hash") != new.hash.encode():
        return None
    rows = table.to_pylist()
    before = {r["object_name"]: (r["split"], r["line"]) for r in rows if r["side"] == "old"}
    after = {r["object_name"]: (r["split"], r["lineno"], r["line"]) for r in rows if r["side"] == "new"}
    added = sorted(after.keys() - before.keys())
    deleted = sorted(before.keys() - after.keys())
    updated = sorted(n for n in after.keys() & before.keys() if (after[n][0], after[n][2]) != before[n])
    return LockDiff(added, updated, deleted, {n: after[n] for n in (*added, *updated)})


def diff_locks(old: Lock, new: Lock) -> tuple[list[str], list[str], list[str]]:
    """(added, updated, deleted) object names between two locks (:func:`lock_diff`)."""
    d = lock_diff(old, new)
    return d.added, d.updated, d.deleted


def _previous_lock(ds: Dataset, library: Library) -> Lock | None:
    """The lock the dataset's latest version was built from, its manifest read (its files are
    checked by :func:`read_lock` before :func:`lock_diff` reads them; a recorded diff reads none)."""
    lineage = ds.state.lineage
    h = lineage.get("pinlake.lock_hash")
    if not h:
        return None
    for cand in (lineage.get("pinlake.lock_dir"), library.locks_path / h):
        if cand and (location(cand) / "lock.json").is_file():
            lock = read_lock(cand, verify=False)
            if lock.hash == h:
                return lock
    return None


def build_from_lock(
    library: Library | str | os.PathLike[str],
    lock_dir: str | os.PathLike[str],
    name: str | None = None,
    *,
    dataset_item: type[DatasetItem] | str | None = None,
    mode: LockBuildMode = "auto",
    embed: bool = False,
    description: str = "",
    lake: Any = None,
    flush_every_n_samples: int | None = None,
    compute_stats: bool = True,
    runner: str = "local",
    dask_address: str | None = None,
    dask_client: Any = None,
    shards: int | None = None,
) -> LockBuildResult:
    """Build dataset ``name`` (default: the recipe name) from the lock in ``lock_dir``.

    ``runner``: "local" (this process) or "dask" (shards on the cluster at ``dask_address``, or
    through an open ``dask_client``; ``shards`` default 2 per worker or one per ~5000 resources).
    """
    library = library if isinstance(library, Library) else Library(library)
    if mode not in ("auto", "create", "overwrite"):
        raise ValidationError(f"unknown mode {mode!r}", hint="Use mode='auto', 'create' or 'overwrite'.")
    if runner != "local":
        check_runner(runner, dask_address, dask_client)
    lake = lake if lake is not None else library.get_datalake()
    lock = read_lock(lock_dir, lake)
    name = check_dataset_name(name or lock.recipe)
    if dataset_item is None:
        dataset_item = load_dataset_item(DEFAULT_ITEM)
    elif isinstance(dataset_item, str):
        dataset_item = load_dataset_item(dataset_item)
    target = library.dataset_path(name)
    exists = VersionLog(target).exists()

    checked_name: str = name  # the closures see the checked name (not the Optional parameter)

    def info() -> DatasetInfo:
        return DatasetInfo(
            id=checked_name,
            name=checked_name.replace("_", " ").title(),
            description=description or f"Built from lock {lock.hash[:12]} of recipe {lock.recipe}",
        )

    def builder(**kw: Any) -> LockfileBuilder:
        return LockfileBuilder(lock, target, dataset_item, info(), lake, embed=embed, **kw)

    def full(real_mode: str) -> LockBuildResult:
        if runner == "dask":
            out = build_lock_on_dask(
                lock,
                target,
                dataset_item,
                info(),
                lake,
                mode=real_mode,
                embed=embed,
                address=dask_address,
                client=dask_client,
                shards=shards,
                flush_every_n_samples=flush_every_n_samples,
                compute_stats=compute_stats,
            )
            timings = {
                "shard_seconds": out.shard_seconds,
                "shard_cpu_seconds": out.shard_cpu_seconds,
                "commit_seconds": out.commit_seconds,
                "workers": out.workers,
            }
            return LockBuildResult(
                out.dataset, lock.hash, real_mode, added=out.object_names, runner="dask", shards=out.shards, timings=timings
            )
        ds = builder().build(mode=real_mode, flush_every_n_samples=flush_every_n_samples, compute_stats=compute_stats)  # type: ignore[arg-type]  # build() checks the mode
        return LockBuildResult(ds, lock.hash, real_mode, added=built_names(lock, ds))

    if not exists or mode in ("create", "overwrite"):
        try:
            return full(mode if mode != "auto" else "create")
        except DatasetExistsError:
            if mode != "auto" or not VersionLog(target).exists():
                raise
            # another writer created it since the check above: decide again against its version
            return build_from_lock(
                library,
                lock_dir,
                name,
                dataset_item=dataset_item,
                mode="auto",
                embed=embed,
                description=description,
                lake=lake,
                flush_every_n_samples=flush_every_n_samples,
                compute_stats=compute_stats,
                runner=runner,
                dask_address=dask_address,
                dask_client=dask_client,
                shards=shards,
            )

    ds = Dataset(target, dataset_item=dataset_item)
    if ds.state.lock_hash == lock.hash:
        return LockBuildResult(ds, lock.hash, "auto", unchanged=True)
    previous = _previous_lock(ds, library)
    if previous is None:
        return full("overwrite")
    diff = recorded_diff(previous, lock) or lock_diff(read_lock(previous.path), lock)
    added, updated, deleted = diff.added, diff.updated, diff.deleted
    # both locks from this lake: the lake checks the changed lines' ids only, the others are the
    # previous lock's, checked by its build, and the lake never drops an id (its rows are replaced
    # by id, never removed); else the whole lock is checked, as a full build checks it
    root, identity = lake_location(lake), lake.store.identity()
    same_lake = made_from(lock.manifest, root, identity) and made_from(previous.manifest, root, identity)
    b = builder(object_names=set(added) | set(updated), in_lake_checked=same_lake)
    items: dict[str, Any] = {}
    changed = {name: (split, lineno, json.loads(line)) for name, (split, lineno, line) in sorted(diff.lines.items())}
    gone = missing_in_lake(pa.array([rec["id"] for _, _, rec in changed.values()], pa.string()), lake) if same_lake else set()
    if gone:
        recs = [(name, rec["id"]) for name, (_, _, rec) in changed.items()]
        not_in_lake(lock, lake, [f"{recs[k][0]} (id {recs[k][1]})" for k in sorted(gone)])
    if embed and changed:  # the changed resources' bytes in one read
        b.prefetched = lake.read_objects([rec["sha256"] for _, _, rec in changed.values()])
    for name, (split, lineno, rec) in changed.items():
        items[name] = _as_item(ds, b.sample(split, rec, f"{lock.file(split)}:{lineno}"))
    b.prefetched = {}
    with ds.batch("build:lock-incremental", record_empty=True, derived=compute_stats, **lock.lineage()):
        if b.sources and "source" in ds.schema.tables:
            have = {s.id for s in ds.get_data("source")} if "source" in ds.tables else set()
            new = [s for s in b.sources if s.id not in have]
            if new:
                ds.add_data("source", new)
        if deleted:
            ds.delete_dataset_items([item_id_for(n) for n in deleted])
        if updated:
            ds.update_dataset_items([items[n] for n in updated])
        if added:
            ds.add_dataset_items([items[n] for n in added])
    ds = Dataset(target, dataset_item=dataset_item)
    return LockBuildResult(ds, lock.hash, "incremental", added=added, updated=updated, deleted=deleted)


def _as_item(ds: Dataset, sample: dict[str, Any]) -> DatasetItem:
    """A builder sample (rows per table) as one DatasetItem for the CRUD item methods."""
    cls = ds.dataset_item
    item = sample["item"]
    values: dict[str, Any] = {"id": item.id, "split": item.split}
    for meta in cls.metadata_fields():
        values[meta] = getattr(item, meta, None)
    for table, (_, is_list) in cls.table_fields().items():
        rows = sample.get(table)
        rows = rows if isinstance(rows, list) else ([rows] if rows is not None else [])
        values[table] = rows if is_list else (rows[0] if rows else None)
    return cls.model_construct(**values)


__all__ = ["build_from_lock", "diff_locks", "lock_diff", "recorded_diff", "LockBuildResult", "LockDiff"]
