"""COCO in and out: :class:`CocoBuilder` turns COCO instances / person-keypoints files into a dataset
version, :func:`export_coco` writes one version back as COCO files that ``pycocotools`` reads.

What is kept, per COCO field:

- ``images``: ``file_name``, ``width``, ``height`` and the image ``id`` (item columns ``file_name``,
  ``coco_id``); every other image field (``license``, ``coco_url``…) as JSON in the item's ``extra``.
- ``annotations``: one ``objects`` entity each (``category``, ``category_id``, ``iscrowd``, ``area``,
  ``coco_id``; other fields as JSON in ``extra``), with a ``bbox`` row (pixels, xywh), a ``mask``
  row (``CompressedRLE``: polygons and uncompressed RLE are encoded by ``pycocotools.mask``; a
  compressed RLE is kept as given) and a ``keypoints`` row (x, y per point; v 0/1/2 as the states
  hidden/invisible/visible; ``template_id`` ``coco:<category id>``). Polygons are also kept as given
  (the entity's ``polygons``), so an export writes the same polygons back; the RLE is exact either way.
- ``categories``: the dataset's ``info.categories`` (id, name, supercategory, keypoint names, skeleton).

Splits: one file per split (``{"train": "instances_train.json", "val": ...}``), or one file and a
split name. Every file is read and checked before anything is written: a bad annotation stops the
build with its file, annotation id and field, unless ``lenient`` (it is then skipped and counted in
the version's lineage, ``pinlake.skipped_annotations``). The source files' sha256 are in the lineage.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pycocotools import mask as mask_utils

from pinlake.datasets.build.base import DatasetBuilder, stable_id
from pinlake.datasets.build.columnar import TableSpec, ref_array, stable_id_column
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.formats.common import (
    MEDIA_BATCH,
    STATE_TO_V,
    V_TO_STATE,
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
    split_problem,
    with_content,
)
from pinlake.datasets.info import Category, DatasetInfo
from pinlake.errors import InputFileError, ValidationError
from pinlake.features.base import ItemRef, ViewRef
from pinlake.features.groups import BBox, CompressedRLE, EntityWithCategory, Image, KeyPoints, SourceKind
from pinlake.storage import S3Path
from pinlake.util.mediapath import files_inside, url_problem

IMAGE_KEYS = ("id", "file_name", "width", "height")
#: where an annotation without an ``id`` keeps its position in the file (its entity id derives from it)
INDEX_KEY = "_pinlake_index"
ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox", "segmentation", "area", "iscrowd", "keypoints", "num_keypoints", INDEX_KEY)
LENIENT_HINT = "Fix the file, or pass --lenient (lenient=True) to skip bad annotations and count them."


class CocoObject(EntityWithCategory):
    """One COCO annotation's object: its category and the COCO fields that are not geometry."""

    category_id: int = 0
    iscrowd: bool = False
    area: float = 0.0
    coco_id: int = 0
    #: the segmentation polygons as given (JSON), "" when the mask came as RLE or there is none
    polygons: str = ""
    #: the annotation's other fields (JSON object)
    extra: str = ""


class CocoItem(DatasetItem):
    """A COCO image: the view, one object per annotation, and its box, mask and keypoints."""

    image: Image
    objects: list[CocoObject] = []
    bbox: list[BBox] = []
    mask: list[CompressedRLE] = []
    keypoints: list[KeyPoints] = []
    coco_id: int = 0
    file_name: str = ""
    extra: str = ""


@dataclass
class _Split:
    file: Path
    sha256: str
    images: list[dict[str, Any]]
    #: the kept annotations, grouped by image in the images' order (file order within an image)
    annotations: list[dict[str, Any]]
    #: the annotations of ``images[i]`` are ``annotations[bounds[i]:bounds[i + 1]]``
    bounds: np.ndarray


def _load(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such COCO file", hint="Pass the annotations JSON (e.g. instances_train.json).") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputFileError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("categories"), list):
        raise InputFileError(f"{path}: not a COCO file (needs 'images', 'annotations' and 'categories' lists)")
    data["_sha256"] = hashlib.sha256(raw).hexdigest()
    return data


def _categories(path: Path, raw: list[Any]) -> list[Category]:
    out: list[Category] = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or not isinstance(c.get("name"), str):
            raise InputFileError(f"{path}: categories[{i}]: needs an integer 'id' and a string 'name'")
        out.append(Category.model_validate(c))
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise InputFileError(f"{path}: categories: id {next(i for i in ids if ids.count(i) > 1)} is used twice")
    return out


def polygons_text(polygons: list[Any]) -> str:
    """An annotation's polygons as compact JSON (the entity's ``polygons``)."""
    return orjson.dumps(polygons).decode()


def extra_text(fields: Mapping[str, Any]) -> str:
    """Fields pinlake has no column for, as JSON with sorted keys (an item's or entity's ``extra``)."""
    return orjson.dumps(dict(fields), option=orjson.OPT_SORT_KEYS).decode()


def entity_key(ann: dict[str, Any]) -> object:
    """What an annotation's entity id derives from: its COCO id, else its position in the file."""
    return ann["id"] if ann.get("id") is not None else f"#{ann[INDEX_KEY]}"


def finite_numbers(values: list[Any]) -> bool:
    """Every value is a finite number (one C-level pass: ``math.fsum`` refuses anything else, and
    a NaN or an infinity makes the sum non-finite)."""
    try:
        return math.isfinite(math.fsum(values))
    except (TypeError, ValueError, OverflowError):
        return False


def segmentation_kind(segmentation: Any) -> str:
    """``polygons``, ``rle`` (uncompressed counts) or ``compressed`` for a well-formed COCO
    segmentation; ValueError names what is malformed."""
    if isinstance(segmentation, list):
        if not segmentation or not all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 for p in segmentation):
            raise ValueError("polygons must be lists of at least 3 x, y pairs")
        if not all(finite_numbers(p) for p in segmentation):
            raise ValueError("polygon coordinates must be finite numbers")
        return "polygons"
    if isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        size = segmentation["size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise ValueError("an RLE 'size' must be [height, width]")
        counts = segmentation["counts"]
        if isinstance(counts, list):
            if not all(isinstance(v, int) and v >= 0 for v in counts) or sum(counts) != size[0] * size[1]:
                raise ValueError("uncompressed RLE counts must be non-negative integers summing to height × width")
            return "rle"
        if isinstance(counts, str):
            return "compressed"
        raise ValueError("RLE 'counts' must be a list of integers or a string")
    raise ValueError("segmentation must be a list of polygons or an RLE object {size, counts}")


def rles_of(segmentations: list[Any], height: int, width: int) -> list[dict[str, Any] | None]:
    """Compressed RLEs ``{size, counts: bytes}`` of one image's well-formed segmentations (None for
    an absent one)."""
    return rles_of_images([(segmentations, height, width)])[0]


def rles_of_images(images: list[tuple[list[Any], int, int]]) -> list[list[dict[str, Any] | None]]:
    """:func:`rles_of` for several images ``(segmentations, height, width)``: the polygons of all
    images of one size are encoded in one ``frPyObjects`` call, those of one annotation merged."""
    out: list[list[dict[str, Any] | None]] = [[None] * len(segs) for segs, _, _ in images]
    by_size: dict[tuple[int, int], tuple[list[list[float]], list[tuple[int, int]]]] = defaultdict(lambda: ([], []))
    for i, (segs, h, w) in enumerate(images):
        for j, seg in enumerate(segs):
            if isinstance(seg, list) and seg:
                polys, owner = by_size[(h, w)]
                polys.extend(seg)
                owner.extend([(i, j)] * len(seg))
            elif isinstance(seg, dict):
                if isinstance(seg["counts"], list):
                    out[i][j] = mask_utils.frPyObjects(seg, seg["size"][0], seg["size"][1])
                else:
                    out[i][j] = {"size": list(seg["size"]), "counts": seg["counts"].encode()}
    for (h, w), (polys, owner) in by_size.items():
        parts: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        for key, rle in zip(owner, mask_utils.frPyObjects(polys, h, w)):
            parts[key].append(rle)
        for (i, j), rles in parts.items():
            out[i][j] = rles[0] if len(rles) == 1 else mask_utils.merge(rles)
    return out


def rle_of(segmentation: Any, height: int, width: int) -> tuple[dict[str, Any], str]:
    """(the compressed RLE, the polygons as given in JSON or "") of one COCO segmentation."""
    kind = segmentation_kind(segmentation)
    rle = rles_of([segmentation], height, width)[0]
    assert rle is not None
    return rle, polygons_text(segmentation) if kind == "polygons" else ""


def geometry_problem(ann: dict[str, Any], cat: Category) -> str:
    """What is wrong with an annotation's bbox, segmentation, keypoints, area or iscrowd ("" when nothing)."""
    box = ann.get("bbox")
    if box is not None:
        if not (isinstance(box, list) and len(box) == 4 and finite_numbers(box)):
            return f"field 'bbox': must be [x, y, width, height] of finite numbers, got {box!r}"
        if box[2] < 0 or box[3] < 0:
            return f"field 'bbox': width and height must be >= 0, got {box!r}"
    seg = ann.get("segmentation")
    if seg is not None and seg != []:
        try:
            segmentation_kind(seg)
        except (ValueError, TypeError) as exc:
            return f"field 'segmentation': {exc}"
    kp = ann.get("keypoints")
    if kp is not None and kp != []:
        names = len(cat.keypoints)
        if not isinstance(kp, list) or len(kp) != 3 * names:
            n = len(kp) if isinstance(kp, list) else "no list of"
            return f"field 'keypoints': {n} numbers, expected 3 × {names} keypoint names of category {cat.name!r} = {3 * names}"
        if not finite_numbers(kp) or any(kp[j] not in V_TO_STATE for j in range(2, len(kp), 3)):
            return "field 'keypoints': x, y, v triples with v in 0, 1, 2"
    area = ann.get("area")
    if area is not None and not finite_numbers([area]):
        return f"field 'area': must be a finite number, got {area!r}"
    if ann.get("iscrowd", 0) not in (0, 1, None):
        return f"field 'iscrowd': must be 0 or 1, got {ann.get('iscrowd')!r}"
    return ""


#: what the columnar check converts; a value it cannot convert sends the file to the row-by-row check
NUMBERS = pa.list_(pa.float64())
POLYGONS = pa.list_(NUMBERS)


def well_formed(anns: list[Any], position: Mapping[int, int], cats: Mapping[int, Category]) -> bool:
    """True when every annotation would pass :meth:`CocoBuilder._check_annotations` unchanged: unique
    integer ids, a known image and category, and the geometry of :func:`geometry_problem`, checked a
    column at a time (Arrow conversion, numpy predicates). False when in doubt, never True for an
    annotation that check refuses."""
    try:
        if not all(type(a) is dict for a in anns):
            return False
        ids = [a.get("id") for a in anns]
        if not all(type(i) is int for i in ids) or len(set(ids)) != len(ids):
            return False
        if not all(type(a.get("image_id")) is int and a["image_id"] in position for a in anns):
            return False
        cat_ids = [a.get("category_id") for a in anns]
        if not all(type(c) is int for c in cat_ids) or not set(cat_ids) <= cats.keys():
            return False
        if not {a.get("iscrowd", 0) for a in anns} <= {0, 1, None}:
            return False
        areas = pa.array([a.get("area") for a in anns], pa.float64())
        if not np.isfinite(areas.drop_null().to_numpy()).all():
            return False
        boxes = pa.array([a.get("bbox") for a in anns], NUMBERS)
        present = boxes.drop_null()
        if len(present):
            if not pc.all(pc.equal(pc.list_value_length(present), 4)).as_py():
                return False
            xywh = present.flatten().to_numpy(zero_copy_only=False).reshape(-1, 4)
            if not np.isfinite(xywh).all() or (xywh[:, 2:] < 0).any():
                return False
        segs = [a.get("segmentation") for a in anns]
        polygons = [s for s in segs if type(s) is list and s]
        for s in segs:
            if s is not None and type(s) is not list:
                segmentation_kind(s)  # an RLE object (few in a file): checked one by one
        if polygons:
            outer = pa.array(polygons, POLYGONS)
            inner = outer.flatten()
            if inner.null_count or not len(inner):
                return False
            lengths = pc.list_value_length(inner).to_numpy()
            if (lengths < 6).any() or (lengths % 2).any() or not np.isfinite(inner.flatten().to_numpy(zero_copy_only=False)).all():
                return False
        with_points = [(a["keypoints"], a["category_id"]) for a in anns if a.get("keypoints") is not None and a["keypoints"] != []]
        if with_points:
            points = pa.array([kp for kp, _ in with_points], NUMBERS)
            expected = np.array([3 * len(cats[c].keypoints) for _, c in with_points])
            if points.null_count or not np.array_equal(pc.list_value_length(points).to_numpy(), expected):
                return False
            xyv = points.flatten().to_numpy(zero_copy_only=False)
            if not np.isfinite(xyv).all() or not np.isin(xyv[2::3], list(V_TO_STATE)).all():
                return False
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return False
    return True


class CocoBuilder(DatasetBuilder):
    """A dataset from COCO annotation files and the folder holding their images.

    ``annotations``: one file (its split is ``split``) or ``{split: file}``. ``images_dir``: where
    each image's ``file_name`` is (one folder, or ``{split: folder}``). ``embed``: copy the image bytes
    into the dataset (else views reference the files, as folder builds do). ``lenient``: skip bad
    annotations instead of stopping (counted in the lineage).
    """

    def __init__(
        self,
        annotations: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
        images_dir: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
        target_dir: str | os.PathLike[str] | S3Path,
        info: DatasetInfo | None = None,
        *,
        split: str = "train",
        dataset_item: type[DatasetItem] = CocoItem,
        embed: bool = False,
        url_prefix: str = "",
        lenient: bool = False,
    ) -> None:
        super().__init__(target_dir, dataset_item, info or default_info(target_dir))
        files = dict(annotations) if isinstance(annotations, Mapping) else {split: annotations}
        for name in files:
            if split_problem(name):
                raise InputFileError(split_problem(name), hint="Name the split like train, val or test (--split).")
        dirs = dict(images_dir) if isinstance(images_dir, Mapping) else dict.fromkeys(files, images_dir)
        missing = sorted(set(files) - set(dirs))
        if missing:
            raise InputFileError(f"no images folder for split {missing[0]!r}", hint="Pass images_dir={split: folder} for every split.")
        self.images_dirs = {s: Path(d) for s, d in dirs.items()}
        for s, d in self.images_dirs.items():
            if not d.is_dir():
                raise InputFileError(f"{d}: the images folder of split {s!r} does not exist", hint="Pass --images DIR.")
        roots = {str(d.resolve()) for d in self.images_dirs.values()}
        self.common_root = Path(os.path.commonpath(sorted(roots)))
        #: each split's images folder relative to the common root (its view urls start with it)
        self.rel_roots = {s: d.resolve().relative_to(self.common_root).as_posix() for s, d in self.images_dirs.items()}
        self.url_prefix = url_prefix.rstrip("/")
        self.embed = embed
        self.lenient = lenient
        self.skipped: list[str] = []
        self.splits: dict[str, _Split] = {}
        categories: list[Category] | None = None
        for s, f in files.items():
            data = _load(Path(f))
            cats = _categories(Path(f), data["categories"])
            if categories is None:
                categories = cats
            elif [(c.id, c.name) for c in cats] != [(c.id, c.name) for c in categories]:
                raise InputFileError(
                    f"{f}: its categories differ from those of the other split files", hint="Use one class list for all splits."
                )
            self.splits[s] = self._check_split(s, Path(f), data, {c.id: c for c in cats})
        self.categories = categories or []
        self.info.categories = self.categories
        self.info.media = {"url_prefix": self.url_prefix, "root": str(self.common_root)}
        self.lineage["source_sha256"] = json.dumps({s: sp.sha256 for s, sp in self.splits.items()}, sort_keys=True)
        self.lineage["source_format"] = "coco"
        if lenient:
            self.lineage["skipped_annotations"] = len(self.skipped)

    # --- reading and checking -------------------------------------------------------------
    def _bad(self, message: str) -> None:
        if not self.lenient:
            raise InputFileError(message, hint=LENIENT_HINT)
        self.skipped.append(message)

    def _check_split(self, split: str, path: Path, data: dict[str, Any], cats: dict[int, Category]) -> _Split:
        images = self._check_images(split, path, data["images"])
        position = {img["id"]: i for i, img in enumerate(images)}
        anns = data.get("annotations") or []
        if not isinstance(anns, list):
            raise InputFileError(f"{path}: 'annotations' must be a list of objects")
        # the columnar check passes a well-formed file at once; any doubt sends the file through
        # the row-by-row check, which names the first problem (or skips it, lenient)
        kept = anns if well_formed(anns, position, cats) else self._check_annotations(path, anns, position, cats)
        at = np.fromiter((position[a["image_id"]] for a in kept), np.int64, len(kept))
        order = np.argsort(at, kind="stable")
        bounds = np.searchsorted(at[order], np.arange(len(images) + 1))
        return _Split(path, data["_sha256"], images, [kept[k] for k in order.tolist()], bounds)

    def _check_images(self, split: str, path: Path, raw: list[Any]) -> list[dict[str, Any]]:
        folder = self.images_dirs[split]
        names: list[str] = [img["file_name"] if isinstance(img, dict) and isinstance(img.get("file_name"), str) else "" for img in raw]
        present = files_inside(folder, names)
        seen: set[int] = set()
        for i, img in enumerate(raw):
            where = f"{path}: images[{i}]"
            if not isinstance(img, dict) or not isinstance(img.get("id"), int) or not isinstance(img.get("file_name"), str):
                raise InputFileError(f"{where}: needs an integer 'id' and a 'file_name'")
            if not all(isinstance(img.get(k), int) and img[k] > 0 for k in ("width", "height")):
                raise InputFileError(f"{where} (id {img['id']}): needs positive integer 'width' and 'height'")
            if img["id"] in seen:
                raise InputFileError(f"{where}: image id {img['id']} is used twice")
            seen.add(img["id"])
            problem = url_problem(img["file_name"]) if not img["file_name"].startswith("/") else "is an absolute path"
            if problem:
                raise InputFileError(
                    f"{where} (id {img['id']}): file_name {img['file_name']!r} {problem}", hint="Name images relative to --images."
                )
            if not present[i]:
                raise InputFileError(
                    f"{where} (id {img['id']}): image file {img['file_name']!r} is not in {folder} (missing, or a link that leaves it)",
                    hint="Pass the folder holding the images (--images DIR).",
                )
        return raw

    def _check_annotations(self, path: Path, anns: list[Any], position: dict[int, int], cats: dict[int, Category]) -> list[dict[str, Any]]:
        """The annotations that pass, one by one (the first bad one stops the build unless lenient)."""
        kept = []
        ids: set[Any] = set()
        for i, ann in enumerate(anns):
            if not isinstance(ann, dict):
                raise InputFileError(f"{path}: annotations[{i}]: must be an object")
            aid = ann.get("id")
            where = f"{path}: annotation id {aid}" if aid is not None else f"{path}: annotations[{i}]"
            if aid is not None and not isinstance(aid, (int, str)):
                self._bad(f"{path}: annotations[{i}]: 'id' must be an integer, got {aid!r}")
                continue
            key = aid if aid is not None else ("index", i)  # an annotation without id is known by its position
            if key in ids:
                self._bad(f"{where}: the id is used twice")
                continue
            ids.add(key)
            if aid is None:
                ann[INDEX_KEY] = i
            image_id = ann.get("image_id")
            if not isinstance(image_id, int) or image_id not in position:
                self._bad(f"{where}: image_id {image_id!r} is not an image of the file")
                continue
            cat_id = ann.get("category_id")
            cat = cats.get(cat_id) if isinstance(cat_id, int) else None
            if cat is None:
                known = ", ".join(str(c) for c in sorted(cats))
                self._bad(f"{where}: category_id {cat_id!r} is not in categories (ids: {known})")
                continue
            problem = geometry_problem(ann, cat)
            if problem:
                self._bad(f"{where}: {problem}")
                continue
            kept.append(ann)
        return kept

    # --- samples ----------------------------------------------------------------------------
    def count_samples(self) -> int | None:
        return sum(len(sp.images) for sp in self.splits.values())

    def _source(self, split: str, sp: _Split) -> str:
        # one source per file (a later split added with mode="add" brings its own)
        return self.add_source(f"coco:{sp.file.name}:{sp.sha256[:12]}", SourceKind.OTHER, file=sp.file.name, sha256=sp.sha256, split=split)

    def _url(self, split: str, file_name: str) -> str:
        rel = file_name if self.rel_roots[split] == "." else f"{self.rel_roots[split]}/{file_name}"
        return f"{self.url_prefix}/{rel}" if self.url_prefix else rel

    def _images(
        self, batch: int = 256
    ) -> Iterator[tuple[str, str, dict[str, Any], str, Path, list[dict[str, Any]], list[dict[str, Any] | None]]]:
        """Per image: (split, source id, image, view url, file, its annotations, their RLEs); the
        RLEs of ``batch`` images at a time (:func:`rles_of_images`)."""
        for split, sp in self.splits.items():
            folder = self.images_dirs[split]
            source_id = self._source(split, sp)
            for start in range(0, len(sp.images), batch):
                imgs = sp.images[start : start + batch]
                anns = [sp.annotations[sp.bounds[i] : sp.bounds[i + 1]] for i in range(start, start + len(imgs))]
                rles = rles_of_images([([a.get("segmentation") for a in aa], img["height"], img["width"]) for aa, img in zip(anns, imgs)])
                for img, aa, rr in zip(imgs, anns, rles):
                    yield split, source_id, img, self._url(split, img["file_name"]), folder / img["file_name"], aa, rr

    def generate_data(self) -> Iterator[dict[str, Any]]:
        """One sample per image (the row path, for a custom ``dataset_item``)."""
        cats = {c.id: c for c in self.categories}
        t = self.build_time
        for split, source_id, img, url, path, anns, rles in self._images():
            item_id = stable_id(self.info.id or self.target_dir.name, split, img["file_name"])
            extra = {k: v for k, v in img.items() if k not in IMAGE_KEYS}
            item = self._create_item(
                split, item_id, coco_id=img["id"], file_name=img["file_name"], extra=extra_text(extra) if extra else ""
            )
            view = Image(
                id=stable_id(item_id, "image"),
                item_ref=ItemRef(id=item_id),
                url=url,
                width=img["width"],
                height=img["height"],
                format=image_format(path),
                content=path.read_bytes() if self.embed else None,
                created_at=t,
                updated_at=t,
            )
            sample: dict[str, Any] = {"item": item, "image": view, "objects": [], "bbox": [], "mask": [], "keypoints": []}
            for ann, rle in zip(anns, rles):
                self._annotation(sample, ann, rle, cats[ann["category_id"]], item_id, view.id, source_id)
            yield sample

    def _annotation(
        self,
        sample: dict[str, Any],
        ann: dict[str, Any],
        rle: dict[str, Any] | None,
        cat: Category,
        item_id: str,
        view_id: str,
        source_id: str,
    ) -> None:
        t = self.build_time
        entity_id = stable_id(item_id, "objects", entity_key(ann))
        extra = {k: v for k, v in ann.items() if k not in ANNOTATION_KEYS}
        seg = ann.get("segmentation")
        sample["objects"].append(
            CocoObject(
                id=entity_id,
                item_ref=ItemRef(id=item_id),
                view_ref=ViewRef(name="image", id=view_id),
                category=cat.name,
                category_id=cat.id,
                iscrowd=bool(ann.get("iscrowd", 0)),
                area=float(ann.get("area", 0.0) or 0.0),
                coco_id=int(ann["id"]) if isinstance(ann.get("id"), int) else 0,
                polygons=polygons_text(seg) if isinstance(seg, list) and seg else "",
                extra=extra_text(extra) if extra else "",
                created_at=t,
                updated_at=t,
            )
        )
        refs = annotation_refs(item_id, view_id, entity_id, source_id, t)
        if ann.get("bbox") is not None:
            sample["bbox"].append(BBox(id=stable_id(entity_id, "bbox"), coords=[float(v) for v in ann["bbox"]], confidence=1.0, **refs))
        if rle is not None:
            sample["mask"].append(
                CompressedRLE(id=stable_id(entity_id, "mask"), size=list(rle["size"]), counts=bytes(rle["counts"]), **refs)
            )
        kp = ann.get("keypoints")
        if kp:
            coords = [float(kp[j + d]) for j in range(0, len(kp), 3) for d in (0, 1)]
            states = [V_TO_STATE[int(kp[j])] for j in range(2, len(kp), 3)]
            sample["keypoints"].append(
                KeyPoints(id=stable_id(entity_id, "keypoints"), template_id=f"coco:{cat.id}", coords=coords, states=states, **refs)
            )

    # --- columnar: Arrow tables straight from the parsed JSON (the default item class) ---------
    def generate_tables(self, chunk_size: int) -> Iterator[tuple[int, dict[str, pa.Table]]] | None:
        if self.dataset_item is not CocoItem:
            return None  # a custom item class: its models validate each row (generate_data)
        return self._table_chunks(chunk_size)

    def _table_chunks(self, chunk_size: int) -> Iterator[tuple[int, dict[str, pa.Table]]]:
        """The tables of ``chunk_size`` images at a time, a column at a time: the values picked out of
        the parsed JSON, converted by Arrow, ids hashed by :func:`stable_id_column` (the ids of the
        row path), masks encoded by :func:`rles_of_images`."""
        schemas = self.schema.schemas
        ref = ("item_ref", "view_ref", "entity_ref", "source_ref")
        stamp = ("created_at", "updated_at")
        provided = {
            "item": {"id", "split", "coco_id", "file_name", "extra", *stamp},
            "image": {"id", "item_ref", "url", "width", "height", "format", "content", *stamp},
            "objects": {"id", "item_ref", "view_ref", "category", "category_id", "iscrowd", "area", "coco_id", "polygons", "extra", *stamp},
            "bbox": {"id", *ref, "coords", "confidence", *stamp},
            "mask": {"id", *ref, "size", "counts", *stamp},
            "keypoints": {"id", *ref, "template_id", "coords", "states", *stamp},
        }
        specs = {t: TableSpec.of(t, schemas[t], cols) for t, cols in provided.items()}
        if any(spec is None for spec in specs.values()):  # pragma: no cover - CocoItem provides every required field
            raise RuntimeError("CocoItem tables need fields the columnar import does not fill")
        for split, sp in self.splits.items():
            source_id = self._source(split, sp)
            for start in range(0, len(sp.images), chunk_size):
                stop = min(start + chunk_size, len(sp.images))
                tables = self._chunk_tables(split, sp, start, stop, source_id)
                out = {}
                for t, cols in tables.items():
                    n = len(cols["id"])
                    if n:
                        stamps = pa.array([self.build_time] * n, pa.timestamp("us"))
                        out[t] = specs[t].table(n, {**cols, "created_at": stamps, "updated_at": stamps})  # type: ignore[union-attr]
                yield stop - start, out

    def _chunk_tables(self, split: str, sp: _Split, start: int, stop: int, source_id: str) -> dict[str, dict[str, pa.Array]]:
        """The columns of each table for images ``start:stop`` of split ``sp``."""
        imgs = sp.images[start:stop]
        anns = sp.annotations[sp.bounds[start] : sp.bounds[stop]]
        per_image = np.diff(sp.bounds[start : stop + 1])
        folder = self.images_dirs[split]
        names = pa.array([img["file_name"] for img in imgs], pa.string())
        item_ids = stable_id_column(self.info.id or self.target_dir.name, split, names)
        view_ids = stable_id_column(item_ids, "image")
        tables = {
            "item": {
                "id": item_ids,
                "split": pa.array([split] * len(imgs), pa.string()),
                "coco_id": pa.array([img["id"] for img in imgs], pa.int64()),
                "file_name": names,
                "extra": pa.array(_extras(imgs, IMAGE_KEYS), pa.string()),
            },
            "image": {
                "id": view_ids,
                "item_ref": ref_array("item", item_ids),
                "url": pa.array([self._url(split, img["file_name"]) for img in imgs], pa.string()),
                "width": pa.array([img["width"] for img in imgs], pa.int64()),
                "height": pa.array([img["height"] for img in imgs], pa.int64()),
                "format": pa.array([image_format(Path(img["file_name"])) for img in imgs], pa.string()),
                "content": pa.array(
                    [(folder / img["file_name"]).read_bytes() for img in imgs] if self.embed else [None] * len(imgs), pa.binary()
                ),
            },
        }
        owner = pa.array(np.repeat(np.arange(len(imgs), dtype=np.int64), per_image))
        ann_items, ann_views = item_ids.take(owner), view_ids.take(owner)
        entity_ids = stable_id_column(ann_items, "objects", pa.array([str(entity_key(a)) for a in anns], pa.string()))
        cats = {c.id: c for c in self.categories}
        cat_ids = [a["category_id"] for a in anns]
        segs = [a.get("segmentation") for a in anns]
        tables["objects"] = {
            "id": entity_ids,
            "item_ref": ref_array("item", ann_items),
            "view_ref": ref_array("image", ann_views),
            "category": pa.array([cats[c].name for c in cat_ids], pa.string()),
            "category_id": pa.array(cat_ids, pa.int64()),
            "iscrowd": pa.array([bool(a.get("iscrowd", 0)) for a in anns], pa.bool_()),
            "area": pa.array([float(a.get("area", 0.0) or 0.0) for a in anns], pa.float64()),
            "coco_id": pa.array([a["id"] if isinstance(a.get("id"), int) else 0 for a in anns], pa.int64()),
            "polygons": pa.array([polygons_text(s) if type(s) is list and s else "" for s in segs], pa.string()),
            "extra": pa.array(_extras(anns, ANNOTATION_KEYS), pa.string()),
        }

        def rows(kind: str, picked: list[int], **columns: pa.Array) -> None:
            at = pa.array(picked, pa.int64())
            tables[kind] = {
                "id": stable_id_column(entity_ids.take(at), kind),
                "item_ref": ref_array("item", ann_items.take(at)),
                "view_ref": ref_array("image", ann_views.take(at)),
                "entity_ref": ref_array("objects", entity_ids.take(at)),
                "source_ref": ref_array("source", [source_id] * len(picked)),
                **columns,
            }

        boxed = [k for k, a in enumerate(anns) if a.get("bbox") is not None]
        rows("bbox", boxed, coords=pa.array([anns[k]["bbox"] for k in boxed], NUMBERS), confidence=pa.array(np.ones(len(boxed))))
        offsets = np.concatenate([[0], np.cumsum(per_image)]).tolist()
        spans = zip(imgs, offsets[:-1], offsets[1:])
        rles = [r for rr in rles_of_images([(segs[b0:b1], img["height"], img["width"]) for img, b0, b1 in spans]) for r in rr]
        masked = [k for k, r in enumerate(rles) if r is not None]
        rows(
            "mask",
            masked,
            size=pa.array([list(rles[k]["size"]) for k in masked], pa.list_(pa.int64())),  # type: ignore[index]
            counts=pa.array([bytes(rles[k]["counts"]) for k in masked], pa.binary()),  # type: ignore[index]
        )
        pointed = [k for k, a in enumerate(anns) if a.get("keypoints")]
        xyv = pa.array([anns[k]["keypoints"] for k in pointed], NUMBERS)
        triples = xyv.flatten().to_numpy(zero_copy_only=False).reshape(-1, 3)
        point_offsets = pa.array(
            np.concatenate([[0], np.cumsum(pc.list_value_length(xyv).to_numpy(zero_copy_only=False) // 3)]), pa.int32()
        )
        states = np.array([V_TO_STATE[v] for v in range(3)], dtype=object)[triples[:, 2].astype(np.int64)]
        rows(
            "keypoints",
            pointed,
            template_id=pa.array([f"coco:{cat_ids[k]}" for k in pointed], pa.string()),
            coords=pa.ListArray.from_arrays(pc.multiply(point_offsets, 2), pa.array(triples[:, :2].ravel(), pa.float64())),
            states=pa.ListArray.from_arrays(point_offsets, pa.array(states, pa.string())),
        )
        return tables


def _extras(rows: list[dict[str, Any]], known: tuple[str, ...]) -> list[str]:
    """Per row, its fields outside ``known`` as JSON (:func:`extra_text`), "" for none."""
    if set().union(*rows) <= set(known):
        return [""] * len(rows)
    extras = ({k: v for k, v in r.items() if k not in known} for r in rows)
    return [extra_text(e) if e else "" for e in extras]


#: the table a ref column of an annotation row names
REF_NAMES = {"item_ref": "item", "view_ref": "image", "entity_ref": "objects", "source_ref": "source"}


def image_format(path: Path) -> str:
    """The image format named by a file's extension (JPEG for .jpg)."""
    ext = path.suffix.lstrip(".").upper()
    return {"JPG": "JPEG", "TIF": "TIFF"}.get(ext, ext)


# --- export ----------------------------------------------------------------------------------
#: polygons text as the imports write it (lists of numbers only): copied into the JSON as it is;
#: anything else is parsed and written again, so an edited value cannot inject JSON
POLYGONS_TEXT = re.compile(r"\[\[[-+0-9.eE, \[\]]*\]\]")
#: rows an export formats at a time (memory stays flat whatever the dataset's size)
EXPORT_BATCH = 8192


def export_coco(
    ds: Any, out: str | os.PathLike[str], *, media: str = "copy", provenance_extra: Mapping[str, Any] | None = None
) -> ExportResult:
    """Write dataset version ``ds`` as COCO: ``annotations/<split>.json`` per split (images,
    annotations with bbox, segmentation, keypoints, area and iscrowd, categories, and an ``info``
    naming the dataset, version and lock) and the images under ``images/<split>/`` (``media``:
    copy, link or none).

    DuckDB joins the version's Lance tables (each entity with its first box, mask and keypoints,
    its image's id and size) and hands the rows over in record batches, which are formatted and
    written as they come (Python holds one batch and the file names of one split). The joins run
    per hash partition of the entities (:data:`PART_ROWS` each, every annotation table filtered to
    the partition), so what DuckDB holds is one partition's annotations and one narrow row per
    item, whatever the number of annotations (measured in bench/NOTES.md). The annotations are
    written by partition, by id within one; the images too.
    """
    check_media_mode(media)
    out_dir = prepare_out(out)
    roles = Roles(ds)
    check_splits(ds, roles)
    cats = categories_of(ds, roles)
    prov = provenance(ds, "coco", **dict(provenance_extra or {}))
    counts: dict[str, int] = defaultdict(int)
    files: list[str] = []
    with _ExportConnection(ds, roles, {c.name: c.id for c in cats}) as x:
        con = x.con
        points = x.points()
        categories = []
        for c in cats:
            # COCO ties keypoints to their category's names: a category without names gets kp1..kpN
            n = max(points.get(c.id, 0), len(c.keypoints))
            points[c.id] = n
            names = list(c.keypoints) + [f"kp{i + 1}" for i in range(len(c.keypoints), n)]
            category: dict[str, Any] = {"id": c.id, "name": c.name, "supercategory": c.supercategory}
            if names:
                category.update(keypoints=names, skeleton=c.skeleton)
            categories.append(category)
        info = {
            "description": f"{ds.name} version {ds.version}, exported by pinlake",
            "version": str(ds.version),
            "date_created": prov["exported_at"],
            "pinlake": prov,
        }
        counts["skipped_annotations"] = x.skipped()
        coco_ids = x.unique_coco_ids()
        (out_dir / "annotations").mkdir(exist_ok=True)
        for (split,) in con.execute("SELECT DISTINCT split FROM ids ORDER BY split").fetchall():
            target = out_dir / "annotations" / f"{split}.json"
            with target.open("w", encoding="utf-8") as fh:
                fh.write('{"info":' + json.dumps(info) + ',"categories":' + json.dumps(categories) + ',"images":[')
                n_images = _write_images(x, fh, split, out_dir / "images" / split, media, counts)
                fh.write('],"annotations":[')
                n_anns = _write_annotations(x, fh, split, points, coco_ids)
                fh.write("]}")
            files.append(str(target.relative_to(out_dir)))
            counts[f"images.{split}"] = n_images
            counts[f"annotations.{split}"] = n_anns
    if not counts["skipped_annotations"]:
        del counts["skipped_annotations"]
    return ExportResult("coco", out_dir, files, dict(counts), prov)


#: entities an export joins at a time: the annotations are written in hash partitions of about this
#: many entities (the items' images too, by item), so what DuckDB holds is one partition's rows
PART_ROWS = 50_000


class _ExportConnection:
    """A DuckDB connection with the version's tables and a temp table ``ids``: one narrow row per
    item that has an image (its split, COCO image id, first image view and its size), filled a
    partition at a time. :meth:`images` and :meth:`anns` are the queries of one partition."""

    def __init__(self, ds: Any, roles: Roles, category_ids: dict[str, int]) -> None:
        self.ds, self.roles, self.category_ids = ds, roles, category_ids
        self.parts = 1

    def part(self, column: str, part: int) -> str:
        return f"hash({column}) % {self.parts} = {part}"

    def __enter__(self) -> _ExportConnection:
        ds, roles = self.ds, self.roles
        con = self.con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        for table in ds.tables:
            con.register(f"t_{table}", ds.open_lance(table, low_memory=True))
        con.register("t_categories", pa.table({"category": list(self.category_ids), "category_id": list(self.category_ids.values())}))
        self.item_cols = set(ds.schema.schemas[roles.item].model_fields)
        rows = con.execute(f"SELECT count(*) FROM t_{roles.item}").fetchall()[0][0]
        if roles.entity is not None:
            rows = max(rows, con.execute(f"SELECT count(*) FROM t_{roles.entity}").fetchall()[0][0])
        self.parts = max(1, -(-rows // PART_ROWS))
        coco_id = "coco_id" if "coco_id" in self.item_cols else "NULL::BIGINT"
        # an item without an image is no COCO image; an item's image is its first view (by id)
        con.execute("CREATE TEMP TABLE items (id VARCHAR, split VARCHAR, coco_id BIGINT, view VARCHAR, width BIGINT, height BIGINT)")
        for part in range(self.parts):
            con.execute(
                f"INSERT INTO items SELECT i.id, coalesce(i.split, 'default'), {coco_id}, v.view, v.width, v.height "
                f"FROM (SELECT * FROM t_{roles.item} WHERE {self.part('id', part)}) i "
                f"JOIN (SELECT DISTINCT ON (item_ref.id) item_ref.id AS iid, id AS view, width, height FROM t_{roles.image} "
                f"WHERE {self.part('item_ref.id', part)} ORDER BY item_ref.id, id) v ON v.iid = i.id"
            )
        unique = con.execute("SELECT count(DISTINCT coco_id) = count(*) AND min(coco_id) > 0 FROM items").fetchall()[0][0]
        image_id = "coco_id" if unique else "row_number() OVER (ORDER BY split, coco_id, id)"
        con.execute(f"CREATE TEMP TABLE ids AS SELECT id, split, {image_id} AS image_id, coco_id, view, width, height FROM items")
        con.execute("DROP TABLE items")
        return self

    def images(self, part: int) -> str:
        """The COCO images of item partition ``part`` (split as parameter), by image id."""
        roles = self.roles
        file_name = "i.file_name" if "file_name" in self.item_cols else "''"
        extra = "i.extra" if "extra" in self.item_cols else "''"
        return (
            f"SELECT ids.id AS item, ids.image_id, {file_name} AS file_name, {extra} AS extra, ids.view, v.url, v.sha256, ids.width, ids.height "
            f"FROM ids JOIN (SELECT * FROM t_{roles.item} WHERE {self.part('id', part)}) i ON i.id = ids.id "
            f"JOIN (SELECT id, url, sha256 FROM t_{roles.image} WHERE {self.part('item_ref.id', part)}) v ON v.id = ids.view "
            f"WHERE ids.split = ? AND {self.part('ids.id', part)} ORDER BY ids.image_id"
        )

    def anns(self, part: int) -> str:
        """The annotations of entity partition ``part``: each entity with its item's split and image
        id, its category id and its first box, mask and keypoints (the annotation tables filtered
        to the partition before the joins)."""
        ds, roles = self.ds, self.roles
        if roles.entity is None:
            return "SELECT NULL::VARCHAR AS split, NULL::BIGINT AS image_id, NULL::BIGINT AS category_id, 0 AS n_points LIMIT 0"
        ent = set(ds.schema.schemas[roles.entity].model_fields)

        def col(name: str, default: str) -> str:
            return f"o.{name}" if name in ent else default

        def first(table: str | None, columns: dict[str, str]) -> str:
            """The first row per entity of an annotation table (``columns``: name -> type when absent)."""
            if table is None:
                return "(SELECT NULL::VARCHAR AS eid, " + ", ".join(f"NULL::{t} AS {c}" for c, t in columns.items()) + " LIMIT 0)"
            return (
                f"(SELECT DISTINCT ON (entity_ref.id) entity_ref.id AS eid, {', '.join(columns)} FROM t_{table} "
                f"WHERE {self.part('entity_ref.id', part)} ORDER BY entity_ref.id, id)"
            )

        box = first(roles.bbox, {"coords": "DOUBLE[]", "format": "VARCHAR", "is_normalized": "BOOLEAN"})
        mask = first(roles.mask, {"size": "BIGINT[]", "counts": "BLOB"})
        kp = first(roles.keypoints, {"coords": "DOUBLE[]", "states": "VARCHAR[]"})
        return f"""
            SELECT ids.split, ids.image_id, c.category_id, o.id AS eid,
                   {col("coco_id", "NULL::BIGINT")} AS coco_id, {col("iscrowd", "false")} AS iscrowd, {col("area", "0.0")} AS area,
                   {col("polygons", "''")} AS polygons, {col("extra", "''")} AS extra,
                   b.coords AS box, b.format AS box_format, b.is_normalized AS box_norm, ids.width, ids.height,
                   m.size AS mask_size, m.counts AS mask_counts, k.coords AS kp_coords, k.states AS kp_states,
                   coalesce(len(k.states), 0) AS n_points
            FROM (SELECT * FROM t_{roles.entity} WHERE {self.part("id", part)}) o
            LEFT JOIN ids ON ids.id = o.item_ref.id
            LEFT JOIN t_categories c ON c.category = o.category
            LEFT JOIN {box} b ON b.eid = o.id
            LEFT JOIN {mask} m ON m.eid = o.id
            LEFT JOIN {kp} k ON k.eid = o.id
        """

    def points(self) -> dict[int, int]:
        """Per category id, the most keypoints of one of its entities' keypoint rows."""
        out: dict[int, int] = defaultdict(int)
        entity, keypoints = self.roles.entity, self.roles.keypoints
        if entity is None or keypoints is None:
            return out
        for part in range(self.parts):
            query = (
                f"SELECT c.category_id, max(len(k.states)) FROM (SELECT entity_ref.id AS eid, states FROM t_{keypoints} "
                f"WHERE {self.part('entity_ref.id', part)}) k JOIN (SELECT id, category FROM t_{entity} WHERE {self.part('id', part)}) o "
                "ON o.id = k.eid JOIN t_categories c ON c.category = o.category WHERE len(k.states) > 0 GROUP BY ALL"
            )
            for cat_id, n in self.con.execute(query).fetchall():
                out[cat_id] = max(out[cat_id], n)
        return out

    def skipped(self) -> int:
        """Entities that no COCO annotation can carry: no category of the export, or no image."""
        entity = self.roles.entity
        if entity is None:
            return 0
        query = (
            "SELECT count(*) FROM (SELECT item_ref.id AS iid, category FROM t_{} WHERE {}) o LEFT JOIN ids ON ids.id = o.iid "
            "LEFT JOIN t_categories c ON c.category = o.category WHERE ids.id IS NULL OR c.category_id IS NULL"
        )
        return sum(int(self.con.execute(query.format(entity, self.part("id", p))).fetchall()[0][0]) for p in range(self.parts))

    def unique_coco_ids(self) -> bool:
        """The entities' COCO ids are positive and unique (checked a hash partition of ids at a time)."""
        entity = self.roles.entity
        if entity is None or "coco_id" not in self.ds.schema.schemas[entity].model_fields:
            return False
        query = "SELECT count(DISTINCT coco_id) = count(*) AND coalesce(min(coco_id), 1) > 0 FROM t_{} WHERE {}"
        return all(self.con.execute(query.format(entity, self.part("coco_id", p))).fetchall()[0][0] for p in range(self.parts))

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def _write_images(x: _ExportConnection, fh: Any, split: str, media_dir: Path, media: str, counts: dict[str, int]) -> int:
    """Stream the split's ``images`` entries, a partition at a time (and place their media); returns how many."""
    used: set[str] = set()
    n = 0
    for part in range(x.parts):
        for batch in x.con.sql(x.images(part), params=[split]).to_arrow_reader(EXPORT_BATCH):
            rows = batch.to_pylist()
            views, names, parts = [], [], []
            for r in rows:
                name = r["file_name"] or os.path.basename(r["url"] or "") or f"{r['item']}.jpg"
                if name in used:
                    name = f"{r['item']}-{os.path.basename(name)}"
                used.add(name)
                entry: dict[str, Any] = {"id": r["image_id"], "file_name": name, "width": r["width"], "height": r["height"]}
                if r["extra"]:
                    entry.update({k: v for k, v in json.loads(r["extra"]).items() if k not in entry})
                parts.append(json.dumps(entry))
                views.append({"id": r["view"], "url": r["url"], "sha256": r["sha256"]})
                names.append(name)
            fh.write(("," if n else "") + ",".join(parts))
            n += len(rows)
            if media != "none":
                for start in range(0, len(views), MEDIA_BATCH):
                    part_views = with_content(x.ds, x.roles.image, views[start : start + MEDIA_BATCH])
                    counts["images_written"] += place_media(x.ds, part_views, media_dir, names[start : start + MEDIA_BATCH], media)
    return n


def _write_annotations(x: _ExportConnection, fh: Any, split: str, points: dict[int, int], coco_ids: bool) -> int:
    """Stream the split's ``annotations``, a partition at a time (ids: the COCO ids when ``coco_ids``
    (unique and positive), else 1..n in partition order, by COCO id and entity id within one)."""
    valid = "category_id IS NOT NULL AND image_id IS NOT NULL"
    n = 0
    for part in range(x.parts):
        ann_id = "coco_id" if coco_ids else f"{n} + row_number() OVER (ORDER BY coco_id, eid)"
        reader = x.con.sql(
            f"SELECT *, {ann_id} AS ann_id FROM ({x.anns(part)}) WHERE {valid} AND split = ? ORDER BY ann_id", params=[split]
        ).to_arrow_reader(EXPORT_BATCH)
        for batch in reader:
            parts = [_annotation_json(r, points) for r in batch.to_pylist()]
            fh.write(("," if n else "") + ",".join(parts))
            n += len(parts)
    return n


def _polygons_json(entity_id: str, text: str) -> str:
    """Polygons text that is not plain number lists, parsed and written again (never spliced)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not (isinstance(value, list) and all(isinstance(p, list) and finite_numbers(p) for p in value)):
        raise ValidationError(
            f"objects row {entity_id!r}: field 'polygons' is not a list of polygons (lists of x, y numbers)",
            hint="Fix the row's polygons (or clear them: the mask is exported instead).",
        )
    return json.dumps(value)


def _annotation_json(r: dict[str, Any], points: dict[int, int]) -> str:
    """One COCO annotation as JSON text (polygons written as kept, not parsed)."""
    coco: dict[str, Any] = {
        "id": r["ann_id"],
        "image_id": r["image_id"],
        "category_id": r["category_id"],
        "iscrowd": int(bool(r["iscrowd"])),
    }
    if r["box"] is not None:
        c = r["box"]
        x, y, w, h = c if r["box_format"] == "xywh" else [c[0], c[1], c[2] - c[0], c[3] - c[1]]
        if r["box_norm"]:
            iw, ih = r["width"] or 1, r["height"] or 1
            x, y, w, h = x * iw, y * ih, w * iw, h * ih
        coco["bbox"] = [x, y, w, h]
    if r["kp_states"] is not None:
        xy, states = r["kp_coords"], r["kp_states"]
        triples: list[Any] = []
        for j, state in enumerate(states):
            triples += [xy[2 * j], xy[2 * j + 1], STATE_TO_V.get(state, 2)]
        triples += [0, 0, 0] * (points.get(r["category_id"], 0) - len(states))  # v=0: not labelled
        coco["keypoints"] = triples
        coco["num_keypoints"] = sum(1 for state in states if STATE_TO_V.get(state, 2) > 0)
    area = r["area"]
    if not area:
        if r["mask_counts"] is not None:
            area = float(mask_utils.area({"size": list(r["mask_size"]), "counts": bytes(r["mask_counts"])}))
        elif "bbox" in coco:
            area = coco["bbox"][2] * coco["bbox"][3]
    coco["area"] = float(area or 0.0)
    if r["extra"]:
        coco.update({k: v for k, v in json.loads(r["extra"]).items() if k not in coco})
    text = json.dumps(coco)
    if r["polygons"]:
        polygons = r["polygons"] if POLYGONS_TEXT.fullmatch(r["polygons"]) else _polygons_json(r["eid"], r["polygons"])
        return text[:-1] + ',"segmentation":' + polygons + "}"
    if r["mask_counts"] is not None:
        seg = {"size": list(r["mask_size"]), "counts": bytes(r["mask_counts"]).decode()}
        return text[:-1] + ',"segmentation":' + json.dumps(seg) + "}"
    return text


__all__ = ["CocoBuilder", "CocoItem", "CocoObject", "export_coco", "rle_of"]
