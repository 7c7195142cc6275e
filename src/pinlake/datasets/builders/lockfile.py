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
import os
from typing import Any, Iterator

from pinlake.datasets.builders.base import DatasetBuilder, stable_id
from pinlake.datasets.builders.folder import EntityTablesMixin
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.info import DatasetInfo
from pinlake.errors import InputFileError, ValidationError
from pinlake.features.base import BaseSchema, ItemRef
from pinlake.features.groups import SourceKind
from pinlake.recipes.errors import LockfileError
from pinlake.recipes.lock import Lock, check_in_lake, read_lock

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/tiff": "TIFF", "image/bmp": "BMP", "image/gif": "GIF", "image/webp": "WEBP"}


def item_id_for(object_name: str) -> str:
    """The item id of a locked resource: stable across locks and rebuilds."""
    return stable_id("lake", object_name)


class LockfileBuilder(EntityTablesMixin, DatasetBuilder):
    """Build a dataset from a verified lock over ``lake`` (see the module doc)."""

    def __init__(
        self,
        lock_dir: str | os.PathLike[str] | Lock,
        target_dir: str | os.PathLike[str],
        dataset_item: type[DatasetItem],
        info: DatasetInfo,
        lake: Any,
        embed: bool = False,
        *,
        object_names: set[str] | None = None,
    ) -> None:
        super().__init__(target_dir=target_dir, dataset_item=dataset_item, info=info)
        self.lake = lake
        self.lock = lock_dir if isinstance(lock_dir, Lock) else read_lock(lock_dir, lake)
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
        self._prefetched = self.lake.read_objects([rec["sha256"] for _, _, rec in chunk]) if self.embed and chunk else {}
        for split, lineno, rec in chunk:
            yield self.sample(split, rec, f"{self.lock.file(split)}:{lineno}")
        self._prefetched = {}

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
            raise InputFileError(f"{where}: {exc.message}", hint="The resource's lake metadata does not fit the dataset item schema.") from None
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
            prefetched = getattr(self, "_prefetched", {})
            content = prefetched.get(rec["sha256"]) or self.lake.find_data(id=rec["id"]).get_bytes()
            if hashlib.sha256(content).hexdigest() != rec["sha256"]:
                raise LockfileError(f"{where}: bytes of {rec['object_name']!r} in the lake do not match the locked sha256")
        media = rec.get("media_type") or ""
        fmt = FORMATS.get(media, media.split("/")[-1].upper() if media.startswith("image/") else "")
        return self.view_schema(
            id=stable_id(item_id, self.view_name), item_ref=ItemRef(id=item_id), url=f"lake://{rec['sha256']}",
            sha256=rec["sha256"], width=rec.get("width") or 0, height=rec.get("height") or 0, format=fmt,
            content=content, created_at=self.build_time, updated_at=self.build_time,
        )


__all__ = ["LockfileBuilder", "item_id_for"]
