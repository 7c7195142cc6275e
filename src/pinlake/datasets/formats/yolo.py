"""YOLO in and out (the Ultralytics layout): :class:`YoloBuilder` turns a ``data.yaml`` dataset into a
dataset version, :func:`export_yolo` writes one version back in the same layout.

The layout::

    data.yaml               names (a list, or {class: name}), path, train / val / test
    images/<split>/*.jpg    (a split is a folder, a list of folders, or a .txt list of image paths)
    labels/<split>/<stem>.txt

A label file has one object per line: ``cls xc yc w h`` (a box) or ``cls x1 y1 x2 y2 …`` (a
polygon, at least 3 points), every coordinate normalised to [0, 1]. The label of an image is found
as Ultralytics finds it: its path with the last ``/images/`` replaced by ``/labels/`` and the suffix
by ``.txt``. An image with no label file is an item with no objects.

What is kept:

- the classes: ``info.categories`` with ``id`` = the YOLO class index (0-based) and its name;
- each line: one ``objects`` entity (``category``, ``category_id`` = the class index) with a
  ``bbox`` row in **pixels, xywh from the top-left corner** (as COCO and VOC imports store them:
  ``x = (xc - w/2) * W``…), W and H read from the image file's header (YOLO has no sizes; EXIF
  orientation is not applied);
- a polygon line: its points in pixels in the entity's ``polygons`` (COCO's ``[[x1, y1, …]]``, so a
  COCO export writes them as the segmentation), its ``bbox`` (the points' min/max, as Ultralytics
  derives it) and a ``mask`` row (``CompressedRLE`` encoded by ``pycocotools``).

Pixels are the coordinates every format shares; the export divides by the same W and H and writes 6
decimal places, so YOLO -> pinlake -> YOLO gives the same label files to 6 places (a value goes
through one multiplication and one division: an error of about 1e-16).

Export: ``data.yaml`` (``names`` as a list in category id order: class = position; ``nc``;
``path``; one entry per split; the pin's provenance under ``pinlake``), ``labels/<split>/*.txt``
and the images under ``images/<split>/`` (``media`` copy, link or none). Boxes are clipped to the
image (counted in ``clipped_boxes``); a multi-polygon object (COCO allows them, YOLO does not) is
written as one polygon joining its parts by zero-width bridges (:func:`merge_polygons`, counted in
``merged_polygons``: one object, every point kept, the same box); an object with a mask but no
polygon is written as its box; one with neither box nor polygon is skipped (``skipped_annotations``).

Bad input stops the build before anything is written, naming the file and line: a line of the wrong
arity, a class not in ``names``, a coordinate outside [0, 1] (with ``lenient`` these lines are
skipped and counted in the lineage, ``pinlake.skipped_annotations``), an image a split list names
but that is missing, a label file with no image.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from PIL import Image as PILImage
from pycocotools import mask as mask_utils

from pinlake.datasets.build.base import DatasetBuilder, stable_id
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.formats.common import (
    MEDIA_BATCH,
    ExportResult,
    Roles,
    annotation_refs,
    categories_of,
    check_media_mode,
    check_splits,
    default_info,
    place_media,
    prepare_out,
    provenance,
    ref_ids,
    with_content,
)
from pinlake.datasets.info import Category, DatasetInfo
from pinlake.errors import InputFileError
from pinlake.features.base import ItemRef, ViewRef
from pinlake.features.groups import BBox, CompressedRLE, EntityWithCategory, Image, SourceKind
from pinlake.lake.metadata import header_size
from pinlake.storage import S3Path

#: image suffixes Ultralytics reads
IMAGE_SUFFIXES = (".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic")
SPLIT_KEYS = ("train", "val", "test")
YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
LENIENT_HINT = "Fix the line, or pass --lenient (lenient=True) to skip bad lines and count them."
#: bytes read from an image to find its size in the header (Pillow reads the file when that is not enough)
HEADER_BYTES = 1 << 16


class YoloObject(EntityWithCategory):
    """One YOLO line's object: its class (``category_id`` = the class index) and, for a polygon line,
    the polygon in pixels (``[[x1, y1, x2, y2, …]]`` JSON, as COCO polygons)."""

    category_id: int = 0
    polygons: str = ""


class YoloItem(DatasetItem):
    """A YOLO image: the view, one object per label line, its box and (polygon lines) its mask."""

    image: Image
    objects: list[YoloObject] = []
    bbox: list[BBox] = []
    mask: list[CompressedRLE] = []
    #: the image's path under its split's images folder (posix)
    file_name: str = ""


@dataclass
class _Image:
    path: Path
    file_name: str
    width: int
    height: int
    label: Path | None
    lines: list[tuple[int, int, list[float]]] = field(default_factory=list)  # (line number, class, coordinates)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file: its header, else Pillow (which reads the header too)."""
    with path.open("rb") as f:
        head = f.read(HEADER_BYTES)
    size = header_size(head)
    if size is not None:
        return size
    try:
        with PILImage.open(path) as im:
            return int(im.width), int(im.height)
    except Exception as exc:  # Pillow raises many kinds
        raise InputFileError(f"{path}: not a readable image ({exc})", hint="Remove the file or replace it with the image.") from None


def label_path(image: Path) -> Path:
    """The label file of an image, as Ultralytics finds it (the last ``/images/`` -> ``/labels/``)."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def image_for_label(label: Path) -> Path | None:
    """The image of a label file (the inverse of :func:`label_path`), or None when there is none."""
    parts = list(label.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "labels":
            parts[i] = "images"
            break
    stem = Path(*parts).with_suffix("")
    for suffix in IMAGE_SUFFIXES:
        for s in (suffix, suffix.upper()):
            candidate = stem.with_name(stem.name + s)
            if candidate.is_file():
                return candidate
    return None


def file_name_of(path: Path) -> str:
    """An image's path under its split folder: the part after ``images/<split>/`` (after ``images/``
    when the split has no folder of its own, the file name when the path has no ``images``)."""
    parts = path.parts
    if "images" not in parts[:-1]:
        return path.name
    i = len(parts) - 1 - parts[:-1][::-1].index("images") - 1
    rest = parts[i + 1 :]
    return Path(*rest[1:]).as_posix() if len(rest) > 1 else rest[0]


def find_yaml(source: Path) -> Path:
    """The ``data.yaml`` of ``source`` (the file itself, or the one in the dataset root folder)."""
    if source.is_file():
        return source
    if source.is_dir():
        for name in YAML_NAMES:
            if (source / name).is_file():
                return source / name
        found = sorted(source.glob("*.yaml"))
        if len(found) == 1:
            return found[0]
        raise InputFileError(f"{source}: no data.yaml in the dataset folder", hint="Pass the data.yaml (names, train, val, test).")
    raise InputFileError(f"{source}: no such YOLO dataset", hint="Pass the data.yaml or the folder holding it.")


def read_names(path: Path, data: dict[str, Any]) -> list[Category]:
    """The classes of a data.yaml: ``names`` as a list (index = class) or a {class: name} mapping."""
    names = data.get("names")
    if isinstance(names, list):
        pairs = list(enumerate(names))
    elif isinstance(names, dict):
        try:
            pairs = sorted((int(k), v) for k, v in names.items())
        except (TypeError, ValueError):
            raise InputFileError(f"{path}: 'names' keys must be class indices (0, 1, …)") from None
    else:
        raise InputFileError(f"{path}: no 'names' (a list of class names or a {{class: name}} mapping)")
    if any(not isinstance(v, (str, int, float)) or isinstance(v, bool) for _, v in pairs):
        raise InputFileError(f"{path}: 'names' values must be class names")
    if any(k < 0 for k, _ in pairs):
        raise InputFileError(f"{path}: 'names' class indices must be >= 0")
    return [Category(id=k, name=str(v)) for k, v in pairs]


def parse_line(text: str, classes: Mapping[int, Category]) -> tuple[int, list[float]]:
    """(class, coordinates) of a label line; ValueError says what is wrong with it."""
    parts = text.split()
    n = len(parts)
    if n != 5 and (n < 7 or n % 2 == 0):
        raise ValueError(f"{n} values: a box line has 5 (cls xc yc w h), a polygon line cls and at least 3 x y pairs (an odd count >= 7)")
    try:
        cls = int(parts[0])
    except ValueError:
        raise ValueError(f"class {parts[0]!r} is not an integer") from None
    if cls not in classes:
        known = sorted(classes)
        span = f"{known[0]}-{known[-1]}" if known else "none"
        raise ValueError(f"class {cls} is not in names (classes {span})")
    try:
        coords = [float(v) for v in parts[1:]]
    except ValueError:
        raise ValueError("coordinates must be numbers") from None
    for j, v in enumerate(coords):
        if not 0.0 <= v <= 1.0:  # NaN fails too
            raise ValueError(f"coordinate {j + 1} ({parts[j + 1]}) is outside [0, 1]")
    return cls, coords


class YoloBuilder(DatasetBuilder):
    """A dataset from a YOLO (Ultralytics) dataset: ``source`` is its ``data.yaml`` or the folder
    holding it. ``embed``: copy the image bytes into the dataset (else views reference the files).
    ``lenient``: skip bad label lines instead of stopping (counted in the lineage).
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        target_dir: str | os.PathLike[str] | S3Path,
        info: DatasetInfo | None = None,
        *,
        dataset_item: type[DatasetItem] = YoloItem,
        embed: bool = False,
        url_prefix: str = "",
        lenient: bool = False,
    ) -> None:
        super().__init__(target_dir, dataset_item, info or default_info(target_dir))
        self.yaml_path = find_yaml(Path(source))
        raw = self.yaml_path.read_bytes()
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise InputFileError(f"{self.yaml_path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
        if not isinstance(data, dict):
            raise InputFileError(f"{self.yaml_path}: not a YOLO data.yaml (needs 'names' and train / val / test)")
        if data.get("kpt_shape") is not None:
            raise InputFileError(
                f"{self.yaml_path}: 'kpt_shape': YOLO pose labels are not imported", hint="Import detection or segmentation labels."
            )
        self.categories = read_names(self.yaml_path, data)
        self.classes = {c.id: c for c in self.categories}
        self.root = self._root(data)
        self.embed = embed
        self.lenient = lenient
        self.url_prefix = url_prefix.rstrip("/")
        self.skipped: list[str] = []
        self.splits: dict[str, list[_Image]] = {}
        ours = data.get("pinlake")
        listed = ours.get("splits") if isinstance(ours, dict) else None
        extra_keys = [k for k in listed if isinstance(k, str) and k not in SPLIT_KEYS] if isinstance(listed, list) else []
        for key in (*SPLIT_KEYS, *extra_keys):
            value = data.get(key)
            if value:
                self.splits[key] = self._split(key, value)
        if not self.splits:
            raise InputFileError(f"{self.yaml_path}: no split (train, val or test) names images", hint="Add e.g. 'train: images/train'.")
        self._check_orphans()
        paths = [im.path.parent.resolve() for ims in self.splits.values() for im in ims]
        self.common_root = Path(os.path.commonpath([str(self.root.resolve()), *map(str, paths)]))
        self.info.categories = self.categories
        self.info.media = {"url_prefix": self.url_prefix, "root": str(self.common_root)}
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.lineage["source_sha256"] = json.dumps({"data.yaml": self.sha256}, sort_keys=True)
        self.lineage["source_format"] = "yolo"
        if lenient:
            self.lineage["skipped_annotations"] = len(self.skipped)

    # --- reading and checking -------------------------------------------------------------
    def _root(self, data: dict[str, Any]) -> Path:
        here = self.yaml_path.parent
        given = data.get("path")
        if not given:
            return here
        path = Path(str(given))
        if not path.is_absolute():
            path = here / path
        return path if path.is_dir() else here  # a moved export: its data.yaml sits in the root

    def _split(self, split: str, value: Any) -> list[_Image]:
        entries = value if isinstance(value, list) else [value]
        images: list[_Image] = []
        seen: set[Path] = set()
        for entry in entries:
            where = self.root / str(entry)
            if where.is_dir():
                found = sorted(p for p in where.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
                pairs = [(p, p.relative_to(where).as_posix()) for p in found]
            elif where.is_file() and where.suffix == ".txt":
                pairs = self._listed(where)
            else:
                raise InputFileError(
                    f"{self.yaml_path}: {split}: {entry!r} is neither a folder nor a .txt list under {self.root}",
                    hint="Point the split at images/<split> or at a list of image paths.",
                )
            for path, rel in pairs:
                if path in seen:
                    continue
                seen.add(path)
                images.append(self._image(path, rel))
        return images

    def _listed(self, listing: Path) -> list[tuple[Path, str]]:
        out = []
        for no, line in enumerate(listing.read_text().splitlines(), 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            path = Path(text)
            if text.startswith("./"):
                path = listing.parent / text[2:]
            elif not path.is_absolute():
                path = self.root / text
            if not path.is_file():
                raise InputFileError(
                    f"{listing}:{no}: image {text!r} is missing (looked for {path})",
                    hint="Remove the line or restore the image.",
                )
            out.append((path, file_name_of(path)))
        return out

    def _image(self, path: Path, rel: str) -> _Image:
        width, height = image_size(path)
        label = label_path(path)
        img = _Image(path, rel, width, height, label if label.is_file() else None)
        if img.label is None:
            return img
        for no, line in enumerate(img.label.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                cls, coords = parse_line(line, self.classes)
            except ValueError as exc:
                message = f"{img.label}:{no}: {exc}"
                if not self.lenient:
                    raise InputFileError(message, hint=LENIENT_HINT) from None
                self.skipped.append(message)
                continue
            img.lines.append((no, cls, coords))
        return img

    def _check_orphans(self) -> None:
        """A label file under a split's labels folder must have its image."""
        label_dirs = {im.label.parent for ims in self.splits.values() for im in ims if im.label is not None}
        for ims in self.splits.values():
            label_dirs |= {label_path(im.path).parent for im in ims}
        known = {im.label for ims in self.splits.values() for im in ims if im.label is not None}
        for folder in sorted(label_dirs):
            if not folder.is_dir() or "labels" not in folder.parts or folder == self.root:
                continue  # labels next to their images: the .txt files there may be anything
            for label in sorted(folder.glob("*.txt")):
                if label in known or label.name == "classes.txt":
                    continue
                if image_for_label(label) is None:
                    raise InputFileError(
                        f"{label}: a label file without an image (no {label_path(label).with_suffix('').name}.* in the images folder)",
                        hint="Remove the label file or restore its image.",
                    )

    # --- samples ----------------------------------------------------------------------------
    def count_samples(self) -> int | None:
        return sum(len(ims) for ims in self.splits.values())

    def generate_data(self) -> Iterator[dict[str, Any]]:
        t = self.build_time
        source_id = self.add_source(
            f"yolo:{self.yaml_path.name}:{self.sha256[:12]}", SourceKind.OTHER, file=self.yaml_path.name, sha256=self.sha256
        )
        for split, ims in self.splits.items():
            for img in ims:
                rel = img.path.resolve().relative_to(self.common_root).as_posix()
                item_id = stable_id(self.info.id or self.target_dir.name, split, rel)
                item = self._create_item(split, item_id, file_name=img.file_name)
                view = Image(
                    id=stable_id(item_id, "image"),
                    item_ref=ItemRef(id=item_id),
                    url=f"{self.url_prefix}/{rel}" if self.url_prefix else rel,
                    width=img.width,
                    height=img.height,
                    format=img.path.suffix.lstrip(".").upper().replace("JPG", "JPEG"),
                    content=img.path.read_bytes() if self.embed else None,
                    created_at=t,
                    updated_at=t,
                )
                sample: dict[str, Any] = {"item": item, "image": view, "objects": [], "bbox": [], "mask": []}
                for no, cls, coords in img.lines:
                    self._object(sample, img, no, cls, coords, item_id, view.id, source_id)
                yield sample

    def _object(
        self, sample: dict[str, Any], img: _Image, no: int, cls: int, coords: list[float], item_id: str, view_id: str, source_id: str
    ) -> None:
        t = self.build_time
        w, h = img.width, img.height
        entity_id = stable_id(item_id, "objects", no)
        polygons = ""
        if len(coords) == 4:
            xc, yc, bw, bh = coords
            box = [(xc - bw / 2) * w, (yc - bh / 2) * h, bw * w, bh * h]
        else:
            pts = [v * (w if j % 2 == 0 else h) for j, v in enumerate(coords)]
            xs, ys = pts[0::2], pts[1::2]
            box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            polygons = json.dumps([pts], separators=(",", ":"))
        sample["objects"].append(
            YoloObject(
                id=entity_id,
                item_ref=ItemRef(id=item_id),
                view_ref=ViewRef(name="image", id=view_id),
                category=self.classes[cls].name,
                category_id=cls,
                polygons=polygons,
                created_at=t,
                updated_at=t,
            )
        )
        refs = annotation_refs(item_id, view_id, entity_id, source_id, t)
        sample["bbox"].append(BBox(id=stable_id(entity_id, "bbox"), coords=box, confidence=1.0, **refs))
        if polygons:
            rle = mask_utils.merge(mask_utils.frPyObjects(json.loads(polygons), h, w))
            sample["mask"].append(
                CompressedRLE(id=stable_id(entity_id, "mask"), size=list(rle["size"]), counts=bytes(rle["counts"]), **refs)
            )


# --- export ----------------------------------------------------------------------------------
#: entity rows read (and label lines formatted) per batch
EXPORT_BATCH = 16384
#: file flags of a label or annotation file (a new file, or truncated: the export directory is empty)
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


def column(table: Any, name: str, default: Any = None) -> list[Any]:
    """A column as a list, or ``default`` for every row when the table has no such column."""
    return table.column(name).to_pylist() if name in table.column_names else [default] * table.num_rows


def pixel_xywh(box: Mapping[str, Any], width: float, height: float) -> list[float]:
    """A bbox row (``coords``, ``format``, ``is_normalized``) as pixels, xywh from the top-left corner."""
    c = [float(v) for v in box["coords"]]
    x, y, w, h = c if box.get("format", "xywh") == "xywh" else [c[0], c[1], c[2] - c[0], c[3] - c[1]]
    if box.get("is_normalized"):
        x, y, w, h = x * width, y * height, w * width, h * height
    return [x, y, w, h]


@dataclass
class ExportImage:
    """One item to export: its split, view (id, url, sha256), size and file name in the export."""

    item: str
    split: str
    view: dict[str, Any]
    width: int
    height: int
    name: str


def table_columns(ds: Any, table: str) -> list[str]:
    """The column names of a table of dataset version ``ds``."""
    return list(ds.open_lance(table).schema.names)


def export_names(ds: Any, roles: Roles, flat: bool = False, columns: tuple[str, ...] = ()) -> pa.Table:
    """The items with an image view, in item order, as one Arrow table (``item``, ``split``, ``name``,
    ``view``, ``url``, ``sha256``, ``width``, ``height`` and the item ``columns`` the table has), each
    with a file name whose stem (the name without its suffix: the label or annotation file's name) is
    unique in its split (``flat``: across splits, for layouts with one images folder): the item's
    ``file_name`` when it has one, else the view url's base name; a clash is prefixed by the item id.
    An item's image is its last view in table order. Python holds the stems seen and one slice of
    :data:`EXPORT_BATCH` names at a time."""
    present = set(table_columns(ds, roles.item))
    items = ds.to_arrow(roles.item, columns=["id", *(c for c in ("split", "file_name", *columns) if c in present)])
    views = ds.to_arrow(roles.image, columns=["id", "item_ref", "url", "width", "height", "sha256"])
    view_items = ref_ids(views, "item_ref").combine_chunks()
    last = pc.index_in(items.column("id"), value_set=view_items.take(np.arange(len(view_items) - 1, -1, -1)), skip_nulls=True)
    keep = pc.indices_nonzero(pc.is_valid(last))
    items = items.take(keep)
    views = views.take(pc.subtract(len(view_items) - 1, pc.take(last, keep).cast(pa.int64())))
    splits = (
        pc.if_else(pc.fill_null(pc.not_equal(items.column("split"), ""), False), items.column("split"), "default")
        if "split" in present
        else pa.array(["default"] * items.num_rows, pa.string())
    )
    urls = pc.fill_null(views.column("url"), "")
    used: dict[str, set[str]] = defaultdict(set)
    names: list[pa.Array] = []
    for start in range(0, items.num_rows, EXPORT_BATCH):
        stop = min(start + EXPORT_BATCH, items.num_rows)
        found = column(items.slice(start, stop - start), "file_name", "")
        chunk = []
        for it, split, name, url in zip(
            items.column("id")[start:stop].to_pylist(), splits[start:stop].to_pylist(), found, urls[start:stop].to_pylist()
        ):
            name = name or os.path.basename(url) or f"{it}.jpg"
            seen = used["" if flat else split]
            stem = export_stem(name)
            if stem in seen:
                name = f"{it}-{os.path.basename(name)}"
                stem = export_stem(name)
            seen.add(stem)
            chunk.append(name)
        names.append(pa.array(chunk, pa.string()))
    out = {
        "item": items.column("id"),
        "split": splits,
        "name": pa.chunked_array(names, pa.string()),
        "view": views.column("id"),
        "url": urls,
        "sha256": views.column("sha256"),
        "width": pc.fill_null(views.column("width"), 0),
        "height": pc.fill_null(views.column("height"), 0),
    }
    out.update({c: items.column(c) for c in columns if c in present})
    return pa.table(out)


def image_list(table: pa.Table) -> list[ExportImage]:
    """The rows of an :func:`export_names` table as :class:`ExportImage`."""
    return [
        ExportImage(it, split, {"id": view, "url": url, "sha256": sha}, w, h, name)
        for it, split, name, view, url, sha, w, h in zip(
            *(table.column(c).to_pylist() for c in ("item", "split", "name", "view", "url", "sha256", "width", "height"))
        )
    ]


def export_images(ds: Any, roles: Roles, flat: bool = False) -> list[ExportImage]:
    """:func:`export_names` as a list of :class:`ExportImage`."""
    return image_list(export_names(ds, roles, flat))


def plain_name(name: str) -> bool:
    """Whether ``name`` is one path component that pathlib keeps as it is (no ``/``, not ``.`` or empty)."""
    return bool(name) and "/" not in name and name != "."


def strip_suffix(name: str) -> str:
    """``Path(name).with_suffix("")`` of a :func:`plain_name`, as text."""
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def export_stem(name: str) -> str:
    """The stem of an exported image's label or annotation file, as compared for clashes (case-folded,
    a subfolder's ``/`` as ``_``, as a flat layout names it)."""
    if plain_name(name):
        return strip_suffix(name).lower()
    return Path(name).with_suffix("").as_posix().replace("/", "_").lower()


def write_file(path: str, data: bytes) -> None:
    """Write ``data`` as the file ``path`` (created, or truncated) with one open and no buffering."""
    fd = os.open(path, WRITE_FLAGS, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class LabelFiles:
    """Where the per-image files of an export go: ``root/<folder>/<split>/<stem><suffix>`` (without
    the split folder when ``split`` is None), folders made once, names joined as text."""

    def __init__(self, out_dir: Path, folder: str, suffix: str) -> None:
        self.out_dir = out_dir
        self.folder = folder
        self.suffix = suffix
        self.dirs: dict[str | None, tuple[str, str] | None] = {}
        self.made: set[Path] = set()

    def target(self, split: str | None, name: str) -> tuple[str, str]:
        """(the file path to write, its path relative to the export directory, posix) of image ``name``."""
        if split not in self.dirs:
            self.dirs[split] = None
            if split is None or plain_name(split):
                folder = self.out_dir / self.folder / split if split is not None else self.out_dir / self.folder
                self._mkdir(folder)
                self.dirs[split] = (str(folder), f"{self.folder}/{split}" if split is not None else self.folder)
        base = self.dirs[split]
        if base is not None and plain_name(name):
            leaf = strip_suffix(name) + self.suffix
            return f"{base[0]}/{leaf}", f"{base[1]}/{leaf}"
        parts = [self.folder] if split is None else [self.folder, split]
        path = self.out_dir.joinpath(*parts) / Path(name).with_suffix(self.suffix)
        self._mkdir(path.parent)
        return str(path), path.relative_to(self.out_dir).as_posix()

    def _mkdir(self, folder: Path) -> None:
        if folder not in self.made:
            folder.mkdir(parents=True, exist_ok=True)
            self.made.add(folder)


#: entities (or images) an export formats at a time: the images are taken in ranges of item order
#: holding about this many of each, with their entities and first boxes
PART_ROWS = 100_000


def scan_in_order(ds: Any, table: str, columns: Mapping[str, pa.DataType]) -> pa.RecordBatchReader:
    """The ``columns`` of ``table`` in table order, read in batches of :data:`EXPORT_BATCH`, with
    ``pos``, the row's position; a column ``ref.id`` is the id field of a ref column (named
    ``ref_id``), a column the table lacks is null (of the type given)."""
    lance_ds = ds.open_lance(table, low_memory=True)
    schema = lance_ds.schema
    fields = [pa.field("pos", pa.int64())]
    read: list[str] = []
    for name, kind in columns.items():
        head, _, sub = name.partition(".")
        if head in schema.names:
            if head not in read:
                read.append(head)
            top = schema.field(head).type
            kind = top.field(sub).type if sub else top
        fields.append(pa.field(name.replace(".", "_"), kind))
    out_schema = pa.schema(fields)

    def batches() -> Iterator[pa.RecordBatch]:
        start = 0
        for batch in lance_ds.to_batches(columns=read, batch_size=EXPORT_BATCH):
            n = batch.num_rows
            arrays: list[Any] = [pa.array(np.arange(start, start + n, dtype=np.int64))]
            for name, out_field in zip(columns, fields[1:]):
                head, _, sub = name.partition(".")
                if head not in read:
                    arrays.append(pa.nulls(n, out_field.type))
                elif sub:
                    arrays.append(pc.struct_field(batch.column(head), sub))
                else:
                    arrays.append(batch.column(head))
            start += n
            yield pa.RecordBatch.from_arrays(arrays, schema=out_schema)

    return pa.RecordBatchReader.from_batches(out_schema, batches())


class EntityPartitions:
    """The entities of a version's images, a range of images at a time: DuckDB joins the range's
    images (rows of an :func:`export_names` table), the entities of those items (with the
    ``columns``, null where the table lacks one), each entity's class (``cls``: its category's
    value in ``classes``, null for another category) and its first bbox row (``coords``,
    ``format``, ``is_normalized``; first in table order), and hands the rows over by image and, within
    an image, in entity table order (``ipos``: the image's position in the range). A range holds
    about ``part_rows`` images and entities, so what DuckDB and Python hold is one range's rows;
    every range reads the entity and bbox tables once."""

    def __init__(
        self, ds: Any, roles: Roles, images: pa.Table, classes: Mapping[str, int], columns: Mapping[str, pa.DataType], part_rows: int
    ) -> None:
        self.ds, self.roles, self.images, self.classes, self.columns = ds, roles, images, classes, columns
        entities = ds.num_rows(roles.entity) if roles.entity is not None else 0
        self.parts = max(1, -(-max(images.num_rows, entities) // part_rows))

    def __enter__(self) -> EntityPartitions:
        con = self.con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        # the scans have no statistics: keep every hash table on the side written on the right
        # (a partition's rows), never on a whole scanned table
        con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        classes = pa.table(
            {"category": pa.array(list(self.classes), pa.string()), "cls": pa.array(list(self.classes.values()), pa.int64())}
        )
        con.register("t_classes", classes)
        con.register("t_images", pa.table({"item": self.images.column("item"), "pos": np.arange(self.images.num_rows, dtype=np.int64)}))
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def part(self, column: str, part: int) -> str:
        return f"hash({column}) % {self.parts} = {part}"

    def positions(self, part: int) -> np.ndarray:
        """The positions (in the images table, ascending) of the images of hash partition ``part``."""
        query = f"SELECT pos FROM t_images WHERE {self.part('item', part)} ORDER BY pos"
        return np.array([pos for (pos,) in self.con.execute(query).fetchall()], dtype=np.int64)

    def rows(self, part: int, positions: np.ndarray) -> Iterator[pa.RecordBatch]:
        """The entity rows of hash partition ``part`` (whose images are at ``positions``), in
        batches of :data:`EXPORT_BATCH`; ``ipos`` indexes ``positions``."""
        roles, con = self.roles, self.con
        if roles.entity is None or not len(positions):
            return
        images = self.images.take(pa.array(positions, pa.int64()))
        con.register(
            "t_part",
            pa.table(
                {
                    "item": images.column("item"),
                    "width": images.column("width"),
                    "height": images.column("height"),
                    "ipos": np.arange(len(positions), dtype=np.int64),
                }
            ),
        )
        wanted = {"id": pa.string(), "item_ref.id": pa.string(), "category": pa.string(), **self.columns}
        con.register("t_ent", scan_in_order(self.ds, roles.entity, wanted))
        con.execute(
            "CREATE OR REPLACE TEMP TABLE part_entities AS SELECT e.*, p.ipos, p.width, p.height "
            f"FROM (SELECT * FROM t_ent WHERE {self.part('item_ref_id', part)}) e JOIN t_part p ON p.item = e.item_ref_id"
        )
        if roles.bbox is not None:
            con.register(
                "t_box",
                scan_in_order(
                    self.ds,
                    roles.bbox,
                    {"entity_ref.id": pa.string(), "coords": pa.list_(pa.float64()), "format": pa.string(), "is_normalized": pa.bool_()},
                ),
            )
            box = (
                "(SELECT DISTINCT ON (entity_ref_id) entity_ref_id AS eid, coords, format, is_normalized FROM t_box "
                "WHERE entity_ref_id IN (SELECT id FROM part_entities WHERE id <> '') ORDER BY entity_ref_id, pos)"
            )
        else:
            box = "(SELECT NULL::VARCHAR AS eid, NULL::DOUBLE[] AS coords, NULL::VARCHAR AS format, NULL::BOOLEAN AS is_normalized LIMIT 0)"
        extra = "".join(f", e.{name} AS {name}" for name in self.columns)
        query = (
            f"SELECT e.ipos, e.width, e.height, e.category, c.cls{extra}, b.coords, b.format, b.is_normalized "
            f"FROM part_entities e LEFT JOIN t_classes c ON c.category = e.category LEFT JOIN {box} b ON b.eid = e.id "
            "ORDER BY e.ipos, e.pos"
        )
        try:
            yield from con.sql(query).to_arrow_reader(EXPORT_BATCH)
        finally:
            con.execute("DROP TABLE IF EXISTS part_entities")
            for name in ("t_part", "t_ent", "t_box"):
                con.unregister(name)


def box_pixels(batch: pa.RecordBatch, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pixel_xywh` of the boxes of ``rows`` of an :class:`EntityPartitions` batch (``coords``,
    ``format``, ``is_normalized``, on images of ``width`` x ``height``): x, y, w, h arrays."""
    take = pa.array(rows, pa.int64())
    c = box_coords(batch.column("coords").take(take))
    xywh = pc.fill_null(pc.equal(batch.column("format").take(take), "xywh"), False).to_numpy(zero_copy_only=False)
    norm = pc.fill_null(batch.column("is_normalized").take(take), False).to_numpy(zero_copy_only=False)
    width = batch.column("width").to_numpy()[rows].astype(np.float64)
    height = batch.column("height").to_numpy()[rows].astype(np.float64)
    x, y = c[:, 0], c[:, 1]
    w = np.where(xywh, c[:, 2], c[:, 2] - c[:, 0])
    h = np.where(xywh, c[:, 3], c[:, 3] - c[:, 1])
    return (
        np.where(norm, x * width, x),
        np.where(norm, y * height, y),
        np.where(norm, w * width, w),
        np.where(norm, h * height, h),
    )


def box_coords(coords: Any) -> np.ndarray:
    """A bbox ``coords`` column as an (n, 4) float64 array (as :func:`pixel_xywh` reads each row)."""
    coords = coords.combine_chunks() if hasattr(coords, "combine_chunks") else coords
    if coords.null_count == 0 and len(coords):
        lengths = pc.list_value_length(coords)
        flat = pc.list_flatten(coords)
        if pc.all(pc.equal(lengths, 4)).as_py() and flat.null_count == 0:
            return flat.to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, 4)
    rows = [[float(v) for v in c] for c in coords.to_pylist()]  # raises as pixel_xywh does on a bad row
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def place_split_media(ds: Any, roles: Roles, images: list[ExportImage], dest: Path, media: str) -> int:
    """Write the images of ``images`` as ``dest/<name>`` in batches; the number written."""
    done = 0
    for start in range(0, len(images) if media != "none" else 0, MEDIA_BATCH):
        part = images[start : start + MEDIA_BATCH]
        views = with_content(ds, roles.image, [dict(im.view) for im in part])
        done += place_media(ds, views, dest, [im.name for im in part], media)
    return done


def merge_polygons(polygons: list[list[float]]) -> list[float]:
    """One ring through every polygon of a multi-polygon (``[[x1, y1, …], …]``): each next polygon
    is joined at its vertex nearest to the ring so far by a zero-width bridge there and back, so the
    object stays one line, its points are all kept and its box is the box of all the parts."""
    ring = [(polygons[0][j], polygons[0][j + 1]) for j in range(0, len(polygons[0]) - 1, 2)]
    for poly in polygons[1:]:
        pts = [(poly[j], poly[j + 1]) for j in range(0, len(poly) - 1, 2)]
        if not pts:
            continue
        _, i, k = min(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2, i, k) for i, a in enumerate(ring) for k, b in enumerate(pts))
        ring = ring[: i + 1] + pts[k:] + pts[: k + 1] + ring[i:]
    return [v for p in ring for v in p]


def clamp01(v: np.ndarray) -> np.ndarray:
    """``min(max(v, 0.0), 1.0)`` elementwise, as Python computes it (NaN and -0.0 kept)."""
    v = np.where(v < 0.0, 0.0, v)
    return np.where(v > 1.0, 1.0, v)


#: "%d %.6f …" line formats by number of coordinates (a label line: the class and 6 decimal places)
_LINE_FORMATS: dict[int, str] = {}


def line_format(n: int) -> str:
    """The %-format of a label line of ``n`` coordinates."""
    fmt = _LINE_FORMATS.get(n)
    if fmt is None:
        fmt = _LINE_FORMATS[n] = "%d " + " ".join(["%.6f"] * n)
    return fmt


def polygon_lines(classes: list[int], polygons: list[str], widths: np.ndarray, heights: np.ndarray) -> tuple[list[str], list[bool]]:
    """The label lines of polygon objects (JSON ``[[x1, y1, …], …]`` in pixels, a multi-polygon merged
    into one ring) and whether each was merged; coordinates normalised and formatted column-wise."""
    rings: list[list[float]] = []
    merged: list[bool] = []
    for text in polygons:
        polys = json.loads(text)
        if type(polys) is list and len(polys) == 1 and type(polys[0]) is list:
            ring = polys[0]
            rings.append(ring if len(ring) % 2 == 0 else ring[:-1])
            merged.append(False)
        else:
            merged.append(len(polys) > 1)
            rings.append(merge_polygons(polys))
    lengths = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    values = np.fromiter((v for r in rings for v in r), dtype=np.float64, count=int(lengths.sum()))
    points = lengths // 2
    values[0::2] /= np.repeat(widths.astype(np.float64), points)
    values[1::2] /= np.repeat(heights.astype(np.float64), points)
    flat = clamp01(values).tolist()
    lines = []
    start = 0
    for cls, n in zip(classes, lengths.tolist()):
        lines.append(line_format(n) % (cls, *flat[start : start + n]))
        start += n
    return lines, merged


def box_lines(
    classes: list[int], x: np.ndarray, y: np.ndarray, bw: np.ndarray, bh: np.ndarray, w: np.ndarray, h: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """The label lines of boxes in pixels (xywh) on images of ``w`` x ``h``, clipped to the image,
    and whether each was clipped by more than float noise; computed column-wise, each value as the
    same Python float expression would give it."""
    w, h = w.astype(np.float64), h.astype(np.float64)
    x1 = np.where(x < 0.0, 0.0, x)
    y1 = np.where(y < 0.0, 0.0, y)
    right, bottom = x + bw, y + bh
    x2 = np.where(w < right, w, right)
    y2 = np.where(h < bottom, h, bottom)
    worst = x1 - x
    for v in (y1 - y, right - x2, bottom - y2):
        worst = np.where(v > worst, v, worst)
    clipped = worst > 1e-6 * np.maximum(w, h)
    dw, dh = x2 - x1, y2 - y1
    bw = np.where(dw < 0.0, 0.0, dw)
    bh = np.where(dh < 0.0, 0.0, dh)
    cols = np.stack([clamp01((x1 + bw / 2) / w), clamp01((y1 + bh / 2) / h), clamp01(bw / w), clamp01(bh / h)], axis=1).tolist()
    fmt = line_format(4)
    return [fmt % (cls, *row) for cls, row in zip(classes, cols)], clipped


def export_yolo(
    ds: Any, out: str | os.PathLike[str], *, media: str = "copy", provenance_extra: Mapping[str, Any] | None = None
) -> ExportResult:
    """Write dataset version ``ds`` in the Ultralytics YOLO layout: ``data.yaml``, ``labels/<split>/``
    (a box line per object, a polygon line per polygon of an object that has them) and the images
    under ``images/<split>/`` (``media``: copy, link or none).

    The items are taken in ranges of item order (:class:`EntityPartitions`, :data:`PART_ROWS` images
    and entities each): a range's label lines are formatted column-wise a batch at a time, its label
    files written (one write each) and its images placed before the next range is read."""
    check_media_mode(media)
    out_dir = prepare_out(out)
    roles = Roles(ds)
    check_splits(ds, roles)
    cats = sorted(categories_of(ds, roles), key=lambda c: c.id)
    class_of = {c.name: i for i, c in enumerate(cats)}
    prov = provenance(ds, "yolo", **dict(provenance_extra or {}))
    images = export_names(ds, roles)
    counts: dict[str, int] = defaultdict(int)
    files = [""] * images.num_rows  # in item order, whatever the order of the partitions
    per_split: dict[str, int] = defaultdict(int)
    labels = LabelFiles(out_dir, "labels", ".txt")
    with EntityPartitions(ds, roles, images, class_of, {"polygons": pa.string()}, PART_ROWS) as parts:
        for p in range(parts.parts):
            positions = parts.positions(p)
            part = image_list(images.take(pa.array(positions, pa.int64())))
            entries: list[list[LabelEntry]] = [[] for _ in part]
            for batch in parts.rows(p, positions):
                for i, entry in zip(batch.column("ipos").to_numpy().tolist(), label_batch(batch)):
                    entries[i].append(entry)
            by_split: dict[str, list[ExportImage]] = defaultdict(list)
            for pos, im, found in zip(positions.tolist(), part, entries):
                by_split[im.split].append(im)
                lines = []
                for entry in found:
                    if entry is None:
                        counts["skipped_annotations"] += 1
                    elif type(entry) is str:
                        lines.append(entry)
                    else:
                        counts[entry[0]] += 1
                        lines.append(entry[1])
                path, rel = labels.target(im.split, im.name)
                write_file(path, ("\n".join(lines) + "\n").encode() if lines else b"")
                files[pos] = rel
                counts[f"annotations.{im.split}"] += len(lines)
            for split, ims in by_split.items():
                per_split[split] += len(ims)
                counts["images_written"] += place_split_media(ds, roles, ims, out_dir / "images" / split, media)
    for split, n in sorted(per_split.items()):
        counts[f"images.{split}"] = n
    splits = sorted(per_split)
    doc: dict[str, Any] = {"path": str(out_dir.resolve())}
    doc.update({s: f"images/{s}" for s in splits})
    doc["nc"] = len(cats)
    doc["names"] = [c.name for c in cats]
    doc["pinlake"] = {**prov, "splits": splits, "category_ids": [c.id for c in cats]}
    (out_dir / "data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    files.insert(0, "data.yaml")
    counts.setdefault("images_written", 0)
    return ExportResult("yolo", out_dir, files, dict(counts), prov)


#: a label entry of an object: its line, None (skipped), or (the count it adds to, its line)
LabelEntry = str | None | tuple[str, str]


def label_batch(batch: pa.RecordBatch) -> list[LabelEntry]:
    """The label entries of a batch of :class:`EntityPartitions` rows (``cls``, ``polygons`` and the
    box), the lines formatted column-wise: a polygon line when the object has polygons, else a box
    line when it has a box, else None (so too for no class or an image of no size)."""
    classes = batch.column("cls").to_pylist()
    polygons = batch.column("polygons").to_pylist()
    has_box = pc.is_valid(batch.column("coords")).to_numpy(zero_copy_only=False).tolist()
    widths = batch.column("width").to_numpy()
    heights = batch.column("height").to_numpy()
    line: list[LabelEntry] = [None] * len(classes)
    poly_rows: list[int] = []
    poly_classes: list[int] = []
    box_rows: list[int] = []
    box_classes: list[int] = []
    for j, (cls, w, h) in enumerate(zip(classes, widths.tolist(), heights.tolist())):
        if cls is None or not w or not h:
            continue
        if polygons[j]:
            poly_rows.append(j)
            poly_classes.append(cls)
        elif has_box[j]:
            box_rows.append(j)
            box_classes.append(cls)
    if poly_rows:
        rows = np.array(poly_rows, dtype=np.int64)
        texts, merged = polygon_lines(poly_classes, [polygons[j] for j in poly_rows], widths[rows], heights[rows])
        for j, text, m in zip(poly_rows, texts, merged):
            line[j] = ("merged_polygons", text) if m else text
    if box_rows:
        rows = np.array(box_rows, dtype=np.int64)
        w, h = widths[rows], heights[rows]
        texts, clipped = box_lines(box_classes, *box_pixels(batch, rows), w, h)
        for j, text, c in zip(box_rows, texts, clipped.tolist()):
            line[j] = ("clipped_boxes", text) if c else text
    return line


__all__ = [
    "ExportImage",
    "YoloBuilder",
    "YoloItem",
    "YoloObject",
    "column",
    "EXPORT_BATCH",
    "PART_ROWS",
    "EntityPartitions",
    "LabelFiles",
    "box_coords",
    "box_pixels",
    "box_lines",
    "clamp01",
    "label_batch",
    "line_format",
    "plain_name",
    "polygon_lines",
    "strip_suffix",
    "table_columns",
    "write_file",
    "export_images",
    "export_names",
    "image_list",
    "scan_in_order",
    "export_stem",
    "export_yolo",
    "file_name_of",
    "image_for_label",
    "image_size",
    "merge_polygons",
    "label_path",
    "parse_line",
    "pixel_xywh",
    "place_split_media",
    "read_names",
]
