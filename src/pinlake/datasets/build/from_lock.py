"""LockfileBuilder: a dataset from a lock (``resources.<split>.jsonl`` + ``lock.json``).

Each locked resource becomes one item: an image view ``Image(url="lake://<sha256>", …)`` (or its
bytes with ``embed=True``), item metadata from the resource's lake metadata, and entities and
annotations when that metadata carries them in the seed-000 layout::

    {"image_type": "mri", "objects": {"category": [...], "bbox": [...], "keypoints": [...]}}

Ids derive from the object name, so rebuilding from the same lock gives identical tables.
Every table commit carries the lock hash, recipe hash and lake version (``self.lineage``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from pinlake.datasets.build.base import DatasetBuilder, stable_id
from pinlake.datasets.build.columnar import columnar_plan
from pinlake.datasets.build.folder import EntityTablesMixin
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.info import DatasetInfo
from pinlake.errors import InputFileError, ValidationError
from pinlake.features.base import BaseSchema, ItemRef
from pinlake.features.groups import SourceKind
from pinlake.recipes.errors import LockfileError
from pinlake.recipes.lockfile import Lock, check_in_lake, object_name_of, read_lock
from pinlake.storage import S3Path
from pinlake.util.mediatype import image_format


class _BytesMismatch(Exception):
    """Lake bytes that do not hash to the locked sha256 (reported by the row path)."""


def item_id_for(object_name: str) -> str:
    """The item id of a locked resource: stable across locks and rebuilds."""
    return stable_id("lake", object_name)


class LockfileBuilder(EntityTablesMixin, DatasetBuilder):
    """Build a dataset from a verified lock over ``lake`` (see the module doc)."""

    def __init__(
        self,
        lock_dir: str | os.PathLike[str] | Lock,
        target_dir: str | os.PathLike[str] | S3Path,
        dataset_item: type[DatasetItem],
        info: DatasetInfo,
        lake: Any,
        embed: bool = False,
        *,
        object_names: set[str] | None = None,
        in_lake_checked: bool = False,
    ) -> None:
        """``in_lake_checked``: the caller has checked the whole lock against ``lake``
        (:func:`check_in_lake`), as a Dask build's coordinator does before its shards run: each
        shard's own check scanned the lake's ids (200 scans of 1M ids for a lock of 1M)."""
        super().__init__(target_dir=target_dir, dataset_item=dataset_item, info=info)
        self.lake = lake
        self.lock = lock_dir if isinstance(lock_dir, Lock) else read_lock(lock_dir, lake)
        if not in_lake_checked:
            check_in_lake(self.lock, lake)
        self.embed = embed
        #: only these object names (an incremental build); None = all
        self.object_names = object_names
        self._init_tables(dataset_item)
        self.meta_fields = set(dataset_item.metadata_fields())
        self.lineage = self.lock.lineage()
        self.info.media = {"lake": str(lake.root), "lock": str(self.lock.path)}

    def count_samples(self) -> int | None:
        if self.object_names is not None:
            return len(self.object_names)
        return sum(int(n) for n in self.lock.manifest["splits"].values())

    #: resources whose bytes are read together when embedding (one scan + one blob take per chunk)
    EMBED_CHUNK = 256
    #: build tables with Arrow compute straight from the lock lines (builders.columnar); False: per row
    columnar = True

    def lock_lines(self) -> Iterator[tuple[str, int, str]]:
        """(split, line number, canonical line) of the resources this build covers."""
        for split, lineno, line in self.lock.lines():
            if self.object_names is None or object_name_of(line) in self.object_names:
                yield split, lineno, line

    def generate_tables(self, chunk_size: int) -> Iterator[tuple[int, dict[str, pa.Table]]] | None:
        if self._plan() is None:
            return None
        return self._table_chunks(chunk_size)

    def _plan(self) -> Any:
        if not self.columnar:
            return None
        if "_columnar_plan" not in self.__dict__:
            self._columnar_plan = columnar_plan(self)
        return self._columnar_plan

    def _table_chunks(self, chunk_size: int) -> Iterator[tuple[int, dict[str, pa.Table]]]:
        chunk: list[tuple[str, int, str]] = []
        for entry in self.lock_lines():
            chunk.append(entry)
            if len(chunk) >= chunk_size:
                yield len(chunk), self.tables_for(chunk)
                chunk = []
        if chunk:
            yield len(chunk), self.tables_for(chunk)

    def tables_for(self, lines: list[tuple[str, int, str]]) -> dict[str, pa.Table]:
        """The rows of every table for these locked resources ((split, line number, line) each):
        columnar when the lines fit (builders.columnar), else through the per-row samples. The
        source row, if any, is registered with :meth:`add_source` (the build writes it)."""
        plan = self._plan()
        if plan is not None:
            try:
                out = plan.tables([line for _, _, line in lines], [split for split, _, _ in lines], self._content_column)
            except _BytesMismatch:
                out = None  # the row path raises the error naming the lock line
            if out is not None:
                return out
        samples: list[dict[str, Any]] = []
        for i in range(0, len(lines), self.EMBED_CHUNK):
            part = [(split, lineno, json.loads(line)) for split, lineno, line in lines[i : i + self.EMBED_CHUNK]]
            samples.extend(self._samples(part))
        return self.samples_to_tables(samples)

    def _content_column(self, parsed: pa.Table) -> pa.Array | None:
        """The image bytes of parsed lock lines (embed), checked against their locked sha256."""
        if not self.embed:
            return None
        shas = parsed.column("sha256").to_pylist()
        fetched = self.lake.read_objects(shas)
        out = []
        for sha in shas:
            content = fetched[sha]
            if hashlib.sha256(content).hexdigest() != sha:
                raise _BytesMismatch(sha)
            out.append(content)
        return pa.array(out, pa.large_binary())

    def generate_data(self) -> Iterator[dict[str, BaseSchema | list[BaseSchema]]]:
        chunk: list[tuple[str, int, dict[str, Any]]] = []
        for split, lineno, rec in self.lock.all_records():
            if self.object_names is None or rec["object_name"] in self.object_names:
                chunk.append((split, lineno, rec))
                if len(chunk) >= self.EMBED_CHUNK:
                    yield from self._samples(chunk)
                    chunk = []
        yield from self._samples(chunk)

    def _samples(self, chunk: list[tuple[str, int, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        self.prefetched = self.lake.read_objects([rec["sha256"] for _, _, rec in chunk]) if self.embed and chunk else {}
        for split, lineno, rec in chunk:
            yield self.sample(split, rec, f"{self.lock.file(split)}:{lineno}")
        self.prefetched = {}

    def sample(self, split: str, rec: dict[str, Any], where: str) -> dict[str, Any]:
        """The rows of one locked resource: item, view, entities, annotations."""
        meta = dict(rec.get("metadata") or {})
        normalized = bool(meta.pop("normalized", False))
        entities_data = meta.pop(self.entity_name, None) if self.entity_name else None
        item_id = item_id_for(rec["object_name"])
        values = {k: v for k, v in meta.items() if k in self.meta_fields}
        try:
            item = self._create_item(split, item_id, **values)
        except ValidationError as exc:
            raise InputFileError(
                f"{where}: {exc.message}", hint="The resource's lake metadata does not fit the dataset item schema."
            ) from None
        view = self._view(item_id, rec, where)
        sample: dict[str, Any] = {"item": item, self.view_name: view}
        if entities_data is not None and self.entity_name:
            source_id = self.add_source("Builder", SourceKind.OTHER)
            ents, anns = self._create_entities(item_id, view, entities_data, source_id, normalized, where)
            sample[self.entity_name] = ents
            sample.update(anns)
        return sample

    def _view(self, item_id: str, rec: dict[str, Any], where: str) -> Any:
        content = None
        if self.embed:
            prefetched = getattr(self, "prefetched", {})
            content = prefetched.get(rec["sha256"]) or self.lake.find_data(id=rec["id"]).get_bytes()
            if hashlib.sha256(content).hexdigest() != rec["sha256"]:
                raise LockfileError(f"{where}: bytes of {rec['object_name']!r} in the lake do not match the locked sha256")
        media = rec.get("media_type") or ""
        fmt = image_format(media)
        return self.view_schema(
            id=stable_id(item_id, self.view_name),
            item_ref=ItemRef(id=item_id),
            url=f"lake://{rec['sha256']}",
            sha256=rec["sha256"],
            width=rec.get("width") or 0,
            height=rec.get("height") or 0,
            format=fmt,
            content=content,
            created_at=self.build_time,
            updated_at=self.build_time,
        )


__all__ = ["LockfileBuilder", "item_id_for"]
