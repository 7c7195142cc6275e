"""DatasetBuilder: stream rows from ``generate_data()`` into a new dataset version.

Subclass and implement :meth:`DatasetBuilder.generate_data` yielding ``{table: row or [rows]}``.
Rows are buffered per table and flushed every ``flush_every_n_samples`` samples as Lance fragments
(uncommitted, so memory stays flat); at the end every table is committed once and one entry is
appended to the version log. A failure before that commit leaves the previous version the latest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pyarrow as pa

from pinlake.catalog.sync import on_version_logged
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.finalize import derive_files
from pinlake.datasets.info import DatasetInfo
from pinlake.datasets.refs import check_refs
from pinlake.datasets.schema import DatasetSchema
from pinlake.datasets.tables import TableWriter, id_filter, table_uri
from pinlake.datasets.versions import VersionLog
from pinlake.errors import BuildError, DatasetExistsError, PinlakeError, ValidationError
from pinlake.features.arrow import arrow_schema, pydantic_message, rows_to_table
from pinlake.features.base import BaseSchema, utcnow
from pinlake.features.groups import Item, Source, SourceKind
from pinlake.layout import is_incomplete
from pinlake.provenance import lineage_properties
from pinlake.storage import S3Path, lance_dataset, location, rmtree
from pinlake.util.idset import IdSet, as_string_array, duplicates
from pinlake.util.write_behind import WriteBehind

BuildMode = Literal["create", "overwrite", "add"]


def stable_id(*parts: object) -> str:
    """A short id derived from ``parts`` (same inputs ⇒ same id, so rebuilds are reproducible)."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:22]


INCOMPLETE_PARTS = ("info.json", "schema.json", "db", "_meta", "_versions.lance")


def check_target(target: Any, log: VersionLog, mode: str, hint: str) -> str:
    """The mode to build with (call with the dataset's write lock held): "create" needs a target with
    no committed version and takes over an incomplete one (a create that never finished); any other
    mode on a dataset without versions is a create."""
    if mode == "create":
        if log.exists():
            on_version_logged(target)
            raise DatasetExistsError(f"{target} already exists", hint=hint)
        if target.exists() and any(target.iterdir()):
            if not is_incomplete(target):
                raise DatasetExistsError(
                    f"{target} exists and is not a pinlake dataset", hint="Choose another name or empty the directory."
                )
            clear_incomplete(target)
        return mode
    return mode if log.exists() else "create"


def clear_incomplete(target: Any) -> None:
    """Remove what a create that never committed wrote (nothing else in the directory)."""
    for name in INCOMPLETE_PARTS:
        part = target / name
        if part.is_dir():
            rmtree(part)
        else:
            part.unlink(missing_ok=True)


@contextmanager
def build_section(target: Any, log: VersionLog, mode: str, hint: str) -> Iterator[str]:
    """Hold the dataset's write lock for a whole build and yield the mode to build with (see
    :func:`check_target`: checked under the lock, so of two creates of one name exactly one wins).
    A create that fails before its commit removes what it wrote, so no half dataset is left behind."""
    created_dir = not target.exists()
    with log.locked():
        mode = check_target(target, log, mode, hint)
        target.mkdir(parents=True, exist_ok=True)
        try:
            yield mode
        except BaseException:
            if mode == "create" and not log.exists():
                if created_dir:
                    rmtree(target)
                else:
                    clear_incomplete(target)
            raise


class DatasetBuilder:
    """Base class of dataset builders (see the module doc)."""

    DEFAULT_FLUSH = 1024

    def __init__(self, target_dir: str | os.PathLike[str] | S3Path, dataset_item: type[DatasetItem], info: DatasetInfo) -> None:
        self.target_dir = location(target_dir)
        self.dataset_item = dataset_item
        self.info = info
        self.schema = DatasetSchema.from_dataset_item(dataset_item)
        self.item_schema_name = "item"
        self.item_schema: type[Item] = dataset_item.item_schema()  # schemas["item"] (cached on the class)
        self.sources: list[Source] = []
        self.build_time = utcnow()
        #: extra lineage (lock hash, lake version, recipe hash) merged into every commit
        self.lineage: dict[str, Any] = {}
        #: called with the number of samples written so far (progress bars)
        self.progress: Callable[[int], None] | None = None

    # --- to implement ------------------------------------------------------------
    def generate_data(self) -> Iterator[dict[str, BaseSchema | list[BaseSchema]]]:
        raise NotImplementedError("DatasetBuilder subclasses implement generate_data()")

    def count_samples(self) -> int | None:
        """Number of samples generate_data() will yield, when cheap to know (progress bars)."""
        return None

    def generate_tables(self, chunk_size: int) -> Iterator[tuple[int, dict[str, pa.Table]]] | None:
        """Optional columnar form of generate_data(): (number of samples, {table: Arrow rows}) per
        chunk of at most ``chunk_size`` samples. None (the default) means the builder only yields samples."""
        return None

    def samples_to_tables(self, samples: list[dict[str, Any]], first: int = 0) -> dict[str, pa.Table]:
        """Samples (as yielded by generate_data) as one Arrow table per table, validated."""
        buffers: dict[str, list[Any]] = {t: [] for t in self.schema.schemas}
        for n, sample in enumerate(samples, start=first):
            self._buffer_sample(sample, buffers, n)
        return {t: rows_to_table(self.schema.schemas[t], rows, table=t) for t, rows in buffers.items() if rows}

    # --- helpers for subclasses --------------------------------------------------------
    def add_source(self, name: str, kind: SourceKind | str = SourceKind.OTHER, **metadata: Any) -> str:
        source_id = stable_id("source", name, str(SourceKind(kind).value))
        if all(s.id != source_id for s in self.sources):
            self.sources.append(
                Source.model_validate(
                    {
                        "id": source_id,
                        "name": name,
                        "kind": SourceKind(kind),
                        "metadata": metadata,
                        "created_at": self.build_time,
                        "updated_at": self.build_time,
                    }
                )
            )
        return source_id

    # --- build ---------------------------------------------------------------------------
    def build(
        self, mode: BuildMode = "create", flush_every_n_samples: int | None = None, *, check_refs: bool = True, compute_stats: bool = True
    ) -> Dataset:
        """Build the dataset; returns it opened at its new version."""
        if mode not in ("create", "overwrite", "add"):
            raise ValidationError(f"unknown build mode {mode!r}", hint="Use mode='create', 'overwrite' or 'add'.")
        target = self.target_dir
        log = VersionLog(target)
        with build_section(target, log, mode, 'Use mode="overwrite" (a new version replacing the rows) or mode="add".') as checked:
            dataset = self._build_under_write_lock(log, checked, flush_every_n_samples or self.DEFAULT_FLUSH, check_refs, compute_stats)
        pa.default_memory_pool().release_unused()
        return dataset

    def _build_under_write_lock(self, log: VersionLog, mode: str, flush_every: int, check: bool, derived: bool = True) -> Dataset:
        target = self.target_dir
        previous = log.latest()
        bases = log.write_bases(previous) if mode == "add" else {}  # leftovers rolled back, writes on the head
        schemas = self.schema.schemas
        arrow_schemas = {t: arrow_schema(s) for t, s in schemas.items()}
        write_mode = {"create": "overwrite", "overwrite": "overwrite", "add": "append"}[mode]
        writes = WriteBehind()  # fragment writes overlap building the next chunk
        writers = {
            # a table the previous version does not have is written anew (a crashed write's leftover is replaced)
            t: TableWriter(
                target,
                t,
                arrow_schemas[t],
                mode=write_mode if t in bases or mode != "add" else "overwrite",
                base_version=bases.get(t),
                writes=writes,
            )
            for t in schemas
        }
        seen: dict[str, IdSet] = {t: IdSet() for t in schemas}  # closed below: their files go with the build
        try:
            self.info.id = self.info.id or target.name
            before = Dataset(target) if previous is not None else None
            info = before.info if before is not None and mode == "add" else self.info

            buffers: dict[str, list[Any]] = {t: [] for t in schemas}
            samples = 0

            def exists_in_previous(table: str, ids: list[str]) -> set[str]:
                if mode != "add" or previous is None or table not in previous.tables:
                    return set()
                ds = lance_dataset(table_uri(target, table), version=previous.tables[table])
                return set(ds.to_table(columns=["id"], filter=id_filter(ids)).column("id").to_pylist())

            flushed_sources = 0

            def flush(ready: dict[str, pa.Table] | None, at: int) -> None:
                nonlocal flushed_sources, samples
                samples = at
                buffers["source"].extend(self.sources[flushed_sources:])
                flushed_sources = len(self.sources)
                arrows = self.flush_tables(buffers, ready, seen, f"sample {at}", exists_in_previous)
                if check:
                    fresh = {t: a.column("id") for t, a in arrows.items()}
                    for t, a in arrows.items():
                        check_refs(t, a, schemas, seen, exists_in_previous, where=f"sample {at}: ", fresh=fresh)
                for t, a in arrows.items():
                    writers[t].write(a)
                del arrows
                pa.default_memory_pool().release_unused()  # the chunk's tables (image bytes when embedding)

            try:
                samples = self.run_samples(buffers, flush, flush_every, progress=self.progress)
            except PinlakeError:
                raise
            except Exception as exc:
                raise BuildError(f"build of {target.name!r} failed at sample {samples}: {type(exc).__name__}: {exc}") from exc
            if samples == 0 and mode == "create":
                raise BuildError(f"build of {target.name!r}: generate_data() yielded no samples", hint="Check the source folder.")

            props = lineage_properties(f"build:{mode}", **self.lineage)
            tables: dict[str, int] = dict(previous.tables) if previous and mode == "add" else {}
            rows: dict[str, int] = dict(previous.rows) if previous and mode == "add" else {}
            for t, w in writers.items():
                if w.rows == 0 and mode == "add" and t in tables:
                    continue  # nothing new for this table: keep its version
                tables[t] = w.commit(props, f"build {target.name} ({mode}): {w.rows} rows")
                rows[t] = lance_dataset(table_uri(target, t), version=tables[t]).count_rows()
            # the version's files (info, schema, stats, preview) are made on the state before it commits
            pa.default_memory_pool().release_unused()  # the last chunk's tables, before stats and preview read
            log.append(
                f"build:{mode}",
                tables,
                rows,
                props,
                message=f"{samples} samples",
                derive=derive_files(lambda e: Dataset.candidate(target, e, info, self.schema), derived=derived, previous=before),
            )
            return Dataset(target, dataset_item=self.dataset_item)
        finally:
            for w in writers.values():
                w.abort()
            for ids in seen.values():
                ids.close()
            writes.close(cancel=True)

    def run_samples(
        self,
        buffers: dict[str, list[Any]],
        flush: Callable[[dict[str, pa.Table] | None, int], None],
        flush_every: int,
        first_sample: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Feed every sample to ``flush(ready, at)``: the columnar path's ready tables chunk by chunk
        (``at`` = samples before the chunk), else rows buffered by :meth:`_buffer_sample` and flushed
        every ``flush_every`` samples (``at`` = samples so far); a last ``flush(None, total)``. Returns
        the number of samples."""
        chunks = self.generate_tables(flush_every)
        done = 0
        if chunks is not None:
            for n, ready in chunks:
                flush(ready, done)
                done += n
                if progress:
                    progress(done)
        else:
            for sample in self.generate_data():
                self._buffer_sample(sample, buffers, first_sample + done)
                done += 1
                if done % flush_every == 0:
                    flush(None, done)
                    if progress:
                        progress(done)
        flush(None, done)
        if progress:
            progress(done)
        return done

    def flush_tables(
        self,
        buffers: dict[str, list[Any]],
        ready: dict[str, pa.Table] | None,
        seen: dict[str, IdSet],
        where: str,
        exists_before: Callable[[str, list[str]], set[str]],
    ) -> dict[str, pa.Table]:
        """One flush's tables: buffered rows (buffers emptied) plus ready tables, referenced tables first,
        ids checked unique within the build and against ``exists_before``; ``seen`` gains the ids."""
        schemas = self.schema.schemas
        arrows = {}
        for t, rows in buffers.items():
            if rows:
                arrows[t] = rows_to_table(schemas[t], rows, table=t)
                buffers[t] = []
        for t, a in (ready or {}).items():
            if t not in schemas:
                raise ValidationError(
                    f"{where}: unknown table {t!r}", hint=f"Tables of {self.dataset_item.__name__}: {', '.join(schemas)}."
                )
            arrows[t] = pa.concat_tables([arrows[t], a]) if t in arrows else a
        arrows = {t: arrows[t] for t in schemas if t in arrows}  # referenced tables first
        for t, a in arrows.items():
            ids = as_string_array(a.column("id"))
            dup = seen[t].intersection(ids) or duplicates(ids) or exists_before(t, ids.to_pylist())
            if dup:
                raise ValidationError(
                    f"{where}: table {t!r} already has a row with id {sorted(dup)[0]!r}",
                    hint="Ids must be unique; mode='add' only adds new rows (use mode='overwrite' to rebuild).",
                )
            seen[t].update(ids)
        return arrows

    def _buffer_sample(self, sample: dict[str, Any], buffers: dict[str, list[Any]], n: int) -> None:
        if not isinstance(sample, dict):
            raise ValidationError(f"sample {n}: generate_data() must yield dicts of {{table: row or rows}}, got {type(sample).__name__}")
        for table, value in sample.items():
            if table not in buffers:
                raise ValidationError(
                    f"sample {n}: unknown table {table!r}", hint=f"Tables of {self.dataset_item.__name__}: {', '.join(buffers)}."
                )
            rows = value if isinstance(value, list) else [value]
            for j, row in enumerate(rows):
                if isinstance(row, BaseSchema):
                    if not row.id:
                        row = row.model_copy(update={"id": stable_id(self.info.id or self.target_dir.name, table, n, j)})
                elif isinstance(row, dict):
                    if not row.get("id"):
                        row = {**row, "id": stable_id(self.info.id or self.target_dir.name, table, n, j)}
                else:
                    raise ValidationError(f"sample {n}, table {table!r}: rows must be schema objects or dicts, got {type(row).__name__}")
                buffers[table].append(row)

    # --- row constructors for subclasses ---------------------------------------------
    def _create_item(self, split: str, item_id: str, **metadata: Any) -> BaseSchema:
        try:
            return self.item_schema(id=item_id, split=split, created_at=self.build_time, updated_at=self.build_time, **metadata)
        except Exception as exc:
            raise ValidationError(f"item {item_id!r}: {pydantic_message(exc)}") from None
