"""ImageFolderBuilder: a dataset from ``root/<split>/*.{jpg,png,tif,…}`` + ``<split>/metadata.jsonl``.

Each metadata line describes one image::

    {"image": "scan-001.jpg", "image_type": "mri",
     "objects": {"category": ["heart", "lung"], "bbox": [[x, y, w, h], ...], "keypoints": [[x1, y1, ...], ...]}}

Entity fields are parallel lists (one element per entity), or ``"objects"`` is a list of dicts.
Boxes are in pixels unless the line (or its objects) says ``"normalized": true``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from pydantic import create_model

from pinlake.datasets.build.base import DatasetBuilder, stable_id
from pinlake.datasets.build.folder_columnar import table_chunks
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.info import DatasetInfo
from pinlake.errors import InputFileError, ValidationError, truncated_image_error
from pinlake.features.arrow import pydantic_message
from pinlake.features.base import BaseSchema, EntityRef, ItemRef, SourceRef, ViewRef
from pinlake.features.groups import BBox, CompressedRLE, Entity, EntityWithCategory, Image, KeyPoints, SourceKind, View
from pinlake.storage import S3Path
from pinlake.util.mediatype import file_problem

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: metadata keys that hold annotations, and the base schema each maps to
ANNOTATION_KEYS = {"bbox": BBox, "keypoints": KeyPoints, "mask": CompressedRLE}


def read_metadata(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Lines of a metadata.jsonl as (line number, dict), with errors naming file and line."""
    try:
        fh = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: metadata.jsonl is missing", hint="Each split folder needs a metadata.jsonl.") from None
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputFileError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise InputFileError(f"{path}:{lineno}: each line must be a JSON object, got {type(obj).__name__}")
            yield lineno, obj


class EntityTablesMixin:
    """Shared by builders that read the seed-000 metadata layout (folder, lockfile): which tables
    hold the view, the entities and each annotation kind, and how a metadata ``objects`` value
    becomes entity and annotation rows."""

    build_time: Any
    view_name: str
    view_schema: type[Image]
    entity_name: str | None
    entity_schema: type[Entity] | None
    annotation_tables: dict[str, tuple[str, type[BaseSchema]]]

    def _init_tables(self, dataset_item: type[DatasetItem]) -> None:
        fields = dataset_item.table_fields()
        views = {n: s for n, (s, _) in fields.items() if issubclass(s, Image)}
        if not views:
            raise ValidationError(f"{dataset_item.__name__} has no Image view field", hint="Add e.g. `image: Image`.")
        self.view_name = next(iter(views))
        self.view_schema = views[self.view_name]
        entities = {n: s for n, (s, _) in fields.items() if issubclass(s, Entity)}
        self.entity_name = next(iter(entities), None)
        self.entity_schema = entities[self.entity_name] if self.entity_name else None
        self.annotation_tables = {}
        for key, base in ANNOTATION_KEYS.items():
            named = [n for n, (s, _) in fields.items() if n == key and issubclass(s, base)]
            typed = [n for n, (s, _) in fields.items() if issubclass(s, base)]
            if named or typed:
                table = (named or typed)[0]
                self.annotation_tables[key] = (table, fields[table][0])

    def _create_entities(
        self, item_id: str, view: View, data: Any, source_id: str, normalized: bool, where: str
    ) -> tuple[list[BaseSchema], dict[str, list[BaseSchema]]]:
        if isinstance(data, dict):
            if "normalized" in data:
                normalized = bool(data.pop("normalized"))
            lengths = {k: len(v) for k, v in data.items() if isinstance(v, list)}
            if set(data) - set(lengths):
                bad = sorted(set(data) - set(lengths))[0]
                raise InputFileError(f"{where}: {self.entity_name}.{bad} must be a list (one element per entity)")
            if len(set(lengths.values())) > 1:
                raise InputFileError(f"{where}: {self.entity_name} lists have different lengths {lengths}")
            n = next(iter(lengths.values()), 0)
            rows = [{k: v[i] for k, v in data.items()} for i in range(n)]
        elif isinstance(data, list):
            rows = data
        else:
            raise InputFileError(f"{where}: {self.entity_name!r} must be a dict of lists or a list of objects")
        entities: list[BaseSchema] = []
        annotations: dict[str, list[BaseSchema]] = {t: [] for t, _ in self.annotation_tables.values()}
        assert self.entity_schema is not None and self.entity_name is not None
        t = self.build_time
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise InputFileError(f"{where}: {self.entity_name}[{i}] must be an object")
            row = dict(row)
            ann_values = {k: row.pop(k) for k in list(row) if k in self.annotation_tables}
            row_norm = bool(row.pop("normalized", normalized))
            entity_id = stable_id(item_id, self.entity_name, i)
            try:
                entity = self.entity_schema(
                    id=entity_id,
                    item_ref=ItemRef(id=item_id),
                    view_ref=ViewRef(name=self.view_name, id=view.id),
                    created_at=t,
                    updated_at=t,
                    **row,
                )
            except Exception as exc:  # noqa: BLE001
                raise InputFileError(f"{where}: {self.entity_name}[{i}]: {pydantic_message(exc)}") from None
            entities.append(entity)
            refs = {
                "item_ref": ItemRef(id=item_id),
                "view_ref": ViewRef(name=self.view_name, id=view.id),
                "entity_ref": EntityRef(name=self.entity_name, id=entity_id),
                "source_ref": SourceRef(id=source_id),
                "created_at": t,
                "updated_at": t,
            }
            for key, value in ann_values.items():
                if value is None:
                    continue
                table, schema = self.annotation_tables[key]
                ann: BaseSchema
                try:
                    if issubclass(schema, BBox):
                        ann = schema(
                            id=stable_id(entity_id, table), coords=value, format="xywh", is_normalized=row_norm, confidence=1.0, **refs
                        )
                    elif issubclass(schema, KeyPoints):
                        coords = [c for pt in value for c in pt] if value and isinstance(value[0], list) else value
                        ann = schema(id=stable_id(entity_id, table), coords=coords, **refs)
                    else:
                        ann = schema(id=stable_id(entity_id, table), **(value if isinstance(value, dict) else {}), **refs)
                except Exception as exc:  # noqa: BLE001
                    raise InputFileError(f"{where}: {self.entity_name}[{i}].{key}: {pydantic_message(exc)}") from None
                annotations[table].append(ann)
        return entities, annotations


class ImageFolderBuilder(EntityTablesMixin, DatasetBuilder):
    EXTENSIONS = IMAGE_EXTENSIONS

    def __init__(
        self,
        source_dir: str | os.PathLike[str],
        target_dir: str | os.PathLike[str] | S3Path,
        dataset_item: type[DatasetItem],
        info: DatasetInfo,
        url_prefix: str = "",
        *,
        embed: bool = False,
    ) -> None:
        super().__init__(target_dir=target_dir, dataset_item=dataset_item, info=info)
        self.source_dir = Path(source_dir)
        if not self.source_dir.is_dir():
            raise InputFileError(f"{self.source_dir}: source folder does not exist")
        self.url_prefix = url_prefix.rstrip("/")
        self.embed = embed
        self._init_tables(dataset_item)
        self.meta_fields = set(dataset_item.metadata_fields())
        self.info.media = {"url_prefix": self.url_prefix, "root": str(self.source_dir.resolve())}

    #: build tables with Arrow compute straight from metadata.jsonl (builders.folder_columnar); False: per row
    columnar = True

    def splits(self) -> list[Path]:
        return sorted(p for p in self.source_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

    def split_dirs(self) -> list[Path]:
        splits = self.splits()
        if not splits:
            raise InputFileError(f"{self.source_dir}: no split folders (expected {self.source_dir}/<split>/metadata.jsonl)")
        return splits

    def image_files(self, split_dir: Path) -> set[str]:
        with os.scandir(split_dir) as it:  # DirEntry.is_file() needs no extra stat
            return {e.name for e in it if e.is_file() and os.path.splitext(e.name)[1].lower() in self.EXTENSIONS}

    def count_samples(self) -> int | None:
        n = 0
        for split in self.splits():
            n += sum(1 for p in split.iterdir() if p.suffix.lower() in self.EXTENSIONS)
        return n

    def generate_tables(self, chunk_size: int) -> Iterator[tuple[int, dict[str, Any]]] | None:
        if not self.columnar:
            return None
        return table_chunks(self, chunk_size)

    def generate_data(self) -> Iterator[dict[str, BaseSchema | list[BaseSchema]]]:
        for split_dir in self.split_dirs():
            yield from self.split_samples(split_dir)

    def split_samples(self, split_dir: Path) -> Iterator[dict[str, Any]]:
        """The samples of one split, checking that metadata.jsonl describes each image file exactly once."""
        meta_path = split_dir / "metadata.jsonl"
        files = self.image_files(split_dir)
        described: set[str] = set()
        for lineno, meta in read_metadata(meta_path):
            where = f"{meta_path}:{lineno}"
            name = meta.pop(self.view_name, None)
            if not isinstance(name, str) or not name:
                raise InputFileError(f"{where}: field {self.view_name!r} (the image file name) is missing")
            if name not in files:
                raise InputFileError(f"{where}: names {name!r}, which is not an image file in {split_dir}")
            if name in described:
                raise InputFileError(f"{where}: {name!r} is described twice")
            described.add(name)
            yield self.sample(split_dir, name, meta, where)
        undescribed = sorted(files - described)
        if undescribed:
            raise InputFileError(
                f"{meta_path}: no metadata line for {len(undescribed)} image(s), e.g. {undescribed[0]!r}",
                hint="Add a line per image, or move the files out of the split folder.",
            )

    def item_id(self, split: str, name: str) -> str:
        return stable_id(self.info.id or self.target_dir.name, split, name)

    def sample(self, split_dir: Path, name: str, meta: dict[str, Any], where: str) -> dict[str, Any]:
        """The rows of one image (its metadata line without the file name): item, view, entities, annotations."""
        normalized = bool(meta.pop("normalized", False))
        entities_data = meta.pop(self.entity_name, None) if self.entity_name else None
        item_id = self.item_id(split_dir.name, name)
        try:
            item = self._create_item(split_dir.name, item_id, **meta)
        except ValidationError as exc:
            raise InputFileError(f"{where}: {exc.message}") from None
        view = self._create_view(item.id, split_dir / name, where)
        sample: dict[str, Any] = {"item": item, self.view_name: view}
        if entities_data is not None and self.entity_name:
            source_id = self.add_source("Builder", SourceKind.OTHER)
            ents, anns = self._create_entities(item.id, view, entities_data, source_id, normalized, where)
            sample[self.entity_name] = ents
            sample.update(anns)
        return sample

    def image_size(self, path: Path, where: str) -> tuple[int, int, str]:
        """(width, height, format) of an image file by Pillow (which also checks it); a JPEG or PNG
        cut short is refused from its last bytes (:func:`pinlake.util.mediatype.file_problem`)."""
        try:
            problem = file_problem(path)  # the first and last bytes: before Pillow, so both paths say the same
            if problem is None:
                with PILImage.open(path) as im:
                    width, height, fmt = im.width, im.height, (im.format or "").upper()
                    im.verify()
        except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds
            raise InputFileError(
                f"{path}: not a readable image ({type(exc).__name__}: {exc})", hint=f"Fix or remove it ({where})."
            ) from None
        if problem is not None:
            raise truncated_image_error(path, problem, where)
        return width, height, fmt

    def view_url(self, split: str, name: str) -> str:
        rel = f"{split}/{name}"
        return f"{self.url_prefix}/{rel}" if self.url_prefix else rel

    def _create_view(self, item_id: str, path: Path, where: str) -> Image:
        width, height, fmt = self.image_size(path, where)
        content = path.read_bytes() if self.embed else None
        return self.view_schema(
            id=stable_id(item_id, self.view_name),
            item_ref=ItemRef(id=item_id),
            url=self.view_url(path.parent.name, path.name),
            width=width,
            height=height,
            format=fmt,
            content=content,
            created_at=self.build_time,
            updated_at=self.build_time,
        )


def infer_dataset_item(source_dir: Path) -> type[DatasetItem]:
    """A DatasetItem for a folder: ``image: Image``, entities with category + bbox + keypoints when
    the metadata has ``objects``, and every other top-level key as item metadata (type from its values)."""
    meta_types: dict[str, type] = {}
    has_objects = False
    for split in sorted(p for p in Path(source_dir).iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        for n, (_, line) in enumerate(read_metadata(split / "metadata.jsonl")):
            for key, value in line.items():
                if key in ("image", "normalized"):
                    continue
                if key == "objects":
                    has_objects = True
                    continue
                tp = bool if isinstance(value, bool) else int if isinstance(value, int) else float if isinstance(value, float) else str
                prev = meta_types.get(key)
                meta_types[key] = float if {prev, tp} == {int, float} else (prev or tp)
            if n >= 200:
                break
    fields: dict[str, Any] = {"image": (Image, ...)}
    if has_objects:
        fields.update(objects=(list[EntityWithCategory], []), bbox=(list[BBox], []), keypoints=(list[KeyPoints], []))
    for key, meta_type in meta_types.items():
        fields[key] = (meta_type | None, None)
    return create_model("FolderDatasetItem", __base__=DatasetItem, **fields)
