"""What every annotation format shares: the tables of a dataset by role, the class list, the media
of an export, and the provenance an export writes into its output.

Contract of an exporter (``export_<format>(ds, out, media=..., provenance=...)``): it reads one
dataset version (a :class:`~pinlake.datasets.dataset.Dataset` opened at it), writes the format's
files under ``out`` (which must be empty or absent) and returns an :class:`ExportResult`. It never
writes into the library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from pinlake.datasets.info import Category, DatasetInfo
from pinlake.errors import InputFileError, ValidationError
from pinlake.features.base import EntityRef, ItemRef, SourceRef, ViewRef
from pinlake.features.groups import BBox, CompressedRLE, Image, KeyPoints, SchemaGroup
from pinlake.storage import location
from pinlake.util.clock import utcnow
from pinlake.util.mediapath import inside
from pinlake.util.sqltext import sql_str

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.datasets.dataset import Dataset

#: how an export places the images: copied, hard-linked where the file system allows (else copied),
#: or not at all (the annotation files name them by their url)
MEDIA_MODES = ("copy", "link", "none")
#: COCO keypoint visibility v <-> pinlake keypoint states
V_TO_STATE = {0: "hidden", 1: "invisible", 2: "visible"}
STATE_TO_V = {s: v for v, s in V_TO_STATE.items()}


@dataclass
class ExportResult:
    """What an export wrote: its format, directory, files, counts and provenance."""

    format: str
    out: Path
    files: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "out": str(self.out), "files": self.files, "counts": self.counts, "provenance": self.provenance}


class Roles:
    """A dataset version's tables by what they hold: the item table, the image view, the entity
    table with a ``category``, and the box, keypoint and mask tables (the first of each kind)."""

    def __init__(self, ds: Dataset) -> None:
        schemas = ds.schema.schemas
        tables = ds.tables

        def first(pred: Any) -> str | None:
            return next((t for t in tables if pred(schemas[t])), None)

        self.item = first(lambda s: s.group == SchemaGroup.ITEM.value) or "item"
        image = first(lambda s: issubclass(s, Image))
        self.entity = first(lambda s: s.group == SchemaGroup.ENTITY.value and "category" in s.model_fields)
        self.bbox = first(lambda s: issubclass(s, BBox))
        self.keypoints = first(lambda s: issubclass(s, KeyPoints))
        self.mask = first(lambda s: issubclass(s, CompressedRLE))
        if image is None:
            raise ValidationError(f"dataset {ds.name!r} has no image view table", hint="Annotation formats export images and their labels.")
        self.image: str = image


def default_info(target_dir: Any) -> DatasetInfo:
    """The info of an import that was given none: id and title from the target directory's name."""
    name = location(target_dir).name
    return DatasetInfo(id=name, name=name.replace("_", " ").title())


def annotation_refs(item_id: str, view_id: str, entity_id: str, source_id: str, at: datetime) -> dict[str, Any]:
    """The refs and timestamps of an imported annotation row: its item, the ``image`` view, the
    ``objects`` entity and the import's source."""
    return {
        "item_ref": ItemRef(id=item_id),
        "view_ref": ViewRef(name="image", id=view_id),
        "entity_ref": EntityRef(name="objects", id=entity_id),
        "source_ref": SourceRef(id=source_id),
        "created_at": at,
        "updated_at": at,
    }


#: a split name an export may make a folder or file of
SPLIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def split_problem(split: str) -> str:
    """Why ``split`` cannot name an export's folder or file ("" when it can)."""
    if not SPLIT_RE.match(split or "") or ".." in split:
        return f"split {split!r} is not a plain name (letters, digits, '_', '-', '.')"
    return ""


def check_splits(ds: Dataset, roles: Roles) -> list[str]:
    """The version's split names, refused before anything is written when one would leave the
    export directory as a folder or file name."""
    splits = [s or "default" for s in pc.unique(ds.to_arrow(roles.item, columns=["split"]).column("split")).to_pylist()]
    for split in splits:
        problem = split_problem(split)
        if problem:
            raise ValidationError(f"dataset {ds.name!r}: {problem}", hint="Rename the split before exporting.")
    return sorted(splits)


def categories_of(ds: Dataset, roles: Roles) -> list[Category]:
    """The dataset's classes: ``info.categories`` when declared, else the entity table's category
    values in sorted order, numbered from 1 (a stable order: the same data, the same ids)."""
    declared = list(ds.info.categories)
    if roles.entity is None:
        return declared
    values = pc.unique(ds.to_arrow(roles.entity, columns=["category"]).column("category")).to_pylist()
    known = {c.name for c in declared}
    extra = sorted(str(v) for v in values if v is not None and str(v) not in known)
    start = max((c.id for c in declared), default=0) + 1
    return declared + [Category(id=start + i, name=name) for i, name in enumerate(extra)]


def ref_ids(table: pa.Table, column: str) -> pa.ChunkedArray:
    """The ``id`` field of a ref column (item_ref, view_ref, entity_ref…)."""
    return pc.struct_field(table.column(column), "id")


def prepare_out(out: str | os.PathLike[str]) -> Path:
    """The export directory: created, and refused when it already holds files (nothing is overwritten)."""
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputFileError(f"{path}: the export directory is not empty", hint="Export into a new or empty directory.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_media_mode(media: str) -> str:
    if media not in MEDIA_MODES:
        raise ValidationError(f"unknown media mode {media!r}", hint=f"Use one of: {', '.join(MEDIA_MODES)}.")
    return media


def place_media(ds: Dataset, views: list[dict[str, Any]], dest: Path, names: list[str], media: str) -> int:
    """Write each view's image as ``dest/<name>`` (``link``: a hard link to the file under the media
    root when it is one on the same file system, else a copy; ``copy``: the bytes). Returns the
    number placed; ``none`` places nothing. Bytes are read in batches (lake objects in one read)."""
    if media == "none" or not views:
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    pending: list[tuple[dict[str, Any], Path]] = []
    for view, name in zip(views, names):
        target = dest / name
        if not target.resolve().is_relative_to(root):
            raise ValidationError(f"image name {name!r} leaves the export directory {dest}", hint="Fix the view's url or file name.")
        target.parent.mkdir(parents=True, exist_ok=True)
        if media == "link" and _hard_link(ds, view, target):
            continue
        pending.append((view, target))
    for start in range(0, len(pending), 256):
        part = pending[start : start + 256]
        for (_, target), data in zip(part, ds.read_medias([v for v, _ in part])):
            target.write_bytes(data)
    return len(views)


#: views whose media an export reads at a time (embedded bytes and lake objects in one read each)
MEDIA_BATCH = 256


def with_content(ds: Dataset, table: str, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``views`` (dicts with ``id`` and ``url``) with the embedded bytes of those that have no url,
    read in one filtered scan."""
    embedded = [v["id"] for v in views if not v.get("url")]
    if not embedded:
        return views
    ids = ", ".join(sql_str(i) for i in embedded)
    data = ds.open_lance(table).to_table(columns=["id", "content"], filter=f"id IN ({ids})")
    content = dict(zip(data.column("id").to_pylist(), data.column("content").to_pylist()))
    return [{**v, "content": content.get(v["id"])} if not v.get("url") else v for v in views]


def local_file(ds: Dataset, view: dict[str, Any]) -> Path | None:
    """The image file of a view when it is one under the dataset's media root (symlinks that leave
    it refused), else None (embedded bytes, a lake object, a remote url)."""
    if view.get("content"):
        return None
    where = ds.media_root(view.get("url") or "")
    return inside(where[0], where[1]) if where is not None else None


def _hard_link(ds: Dataset, view: dict[str, Any], target: Path) -> bool:
    src = local_file(ds, view)
    if src is None:
        return False
    try:
        os.link(src, target)
    except OSError:  # another file system, or links not allowed: copy instead
        shutil.copyfile(src, target)
    return True


def provenance(ds: Dataset, fmt: str, **extra: Any) -> dict[str, Any]:
    """Where an export comes from: dataset, version, lock hash, lake version, run, time, format."""
    entry = ds.state
    return {
        "dataset": ds.name,
        "version": entry.dataset_version,
        "lock_hash": entry.lock_hash,
        "lake_version": entry.lineage.get("pinlake.lake_version", ""),
        "run_id": entry.run_id,
        "format": fmt,
        "exported_at": utcnow().isoformat(),
        **extra,
    }


def dumps_compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


__all__ = [
    "MEDIA_BATCH",
    "MEDIA_MODES",
    "STATE_TO_V",
    "V_TO_STATE",
    "ExportResult",
    "annotation_refs",
    "check_splits",
    "split_problem",
    "default_info",
    "Roles",
    "categories_of",
    "check_media_mode",
    "dumps_compact",
    "place_media",
    "prepare_out",
    "provenance",
    "local_file",
    "ref_ids",
    "with_content",
]
