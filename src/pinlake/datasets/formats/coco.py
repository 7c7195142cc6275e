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
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pycocotools import mask as mask_utils

from pinlake.datasets.build.base import DatasetBuilder, stable_id
from pinlake.datasets.build.columnar import TableSpec, ref_array
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.formats.common import (
    MEDIA_BATCH,
    STATE_TO_V,
    V_TO_STATE,
    ExportResult,
    Roles,
    categories_of,
    check_media_mode,
    place_media,
    prepare_out,
    provenance,
    ref_ids,
    with_content,
)
from pinlake.datasets.info import Category, DatasetInfo
from pinlake.errors import InputFileError
from pinlake.features.base import EntityRef, ItemRef, SourceRef, ViewRef
from pinlake.features.groups import BBox, CompressedRLE, EntityWithCategory, Image, KeyPoints, SourceKind
from pinlake.storage import S3Path

IMAGE_KEYS = ("id", "file_name", "width", "height")
ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox", "segmentation", "area", "iscrowd", "keypoints", "num_keypoints")
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
    annotations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def _load(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such COCO file", hint="Pass the annotations JSON (e.g. instances_train.json).") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
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
    return rle, json.dumps(segmentation, separators=(",", ":")) if kind == "polygons" else ""


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
        target = Path(str(target_dir)) if not isinstance(target_dir, S3Path) else target_dir
        name = target.name if hasattr(target, "name") else str(target_dir)
        super().__init__(target_dir, dataset_item, info or DatasetInfo(id=name, name=name.replace("_", " ").title()))
        files = dict(annotations) if isinstance(annotations, Mapping) else {split: annotations}
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
        images: dict[int, dict[str, Any]] = {}
        folder = self.images_dirs[split]
        for i, img in enumerate(data["images"]):
            where = f"{path}: images[{i}]"
            if not isinstance(img, dict) or not isinstance(img.get("id"), int) or not isinstance(img.get("file_name"), str):
                raise InputFileError(f"{where}: needs an integer 'id' and a 'file_name'")
            if not all(isinstance(img.get(k), int) and img[k] > 0 for k in ("width", "height")):
                raise InputFileError(f"{where} (id {img['id']}): needs positive integer 'width' and 'height'")
            if img["id"] in images:
                raise InputFileError(f"{where}: image id {img['id']} is used twice")
            if not (folder / img["file_name"]).is_file():
                raise InputFileError(
                    f"{where} (id {img['id']}): image file {img['file_name']!r} is not in {folder}",
                    hint="Pass the folder holding the images (--images DIR).",
                )
            images[img["id"]] = img
        by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
        ids: set[Any] = set()
        for i, ann in enumerate(data.get("annotations") or []):
            if not isinstance(ann, dict):
                raise InputFileError(f"{path}: annotations[{i}]: must be an object")
            aid = ann.get("id", i)
            where = f"{path}: annotation id {aid}"
            if aid in ids:
                self._bad(f"{where}: the id is used twice")
                continue
            ids.add(aid)
            img = images.get(ann.get("image_id"))  # type: ignore[arg-type]
            if img is None:
                self._bad(f"{where}: image_id {ann.get('image_id')!r} is not an image of the file")
                continue
            cat = cats.get(ann.get("category_id"))  # type: ignore[arg-type]
            if cat is None:
                known = ", ".join(str(c) for c in sorted(cats))
                self._bad(f"{where}: category_id {ann.get('category_id')!r} is not in categories (ids: {known})")
                continue
            problem = self._geometry(ann, img, cat)
            if problem:
                self._bad(f"{where}: {problem}")
                continue
            by_image[img["id"]].append(ann)
        return _Split(path, data["_sha256"], list(images.values()), dict(by_image))

    def _geometry(self, ann: dict[str, Any], img: dict[str, Any], cat: Category) -> str:
        """What is wrong with an annotation's bbox, segmentation or keypoints ("" when nothing)."""
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
        return ""

    # --- samples ----------------------------------------------------------------------------
    def count_samples(self) -> int | None:
        return sum(len(sp.images) for sp in self.splits.values())

    def _images(
        self, batch: int = 256
    ) -> Iterator[tuple[str, str, dict[str, Any], str, Path, list[dict[str, Any]], list[dict[str, Any] | None]]]:
        """Per image: (split, source id, image, view url, file, its annotations, their RLEs); the
        RLEs of ``batch`` images at a time (:func:`rles_of_images`)."""
        for split, sp in self.splits.items():
            folder = self.images_dirs[split]
            rel_root = folder.resolve().relative_to(self.common_root)
            # one source per file (a later split added with mode="add" brings its own)
            source_id = self.add_source(
                f"coco:{sp.file.name}:{sp.sha256[:12]}", SourceKind.OTHER, file=sp.file.name, sha256=sp.sha256, split=split
            )
            for start in range(0, len(sp.images), batch):
                imgs = sp.images[start : start + batch]
                anns = [sp.annotations.get(img["id"], []) for img in imgs]
                rles = rles_of_images([([a.get("segmentation") for a in aa], img["height"], img["width"]) for aa, img in zip(anns, imgs)])
                for img, aa, rr in zip(imgs, anns, rles):
                    rel = img["file_name"] if str(rel_root) == "." else (rel_root / img["file_name"]).as_posix()
                    url = f"{self.url_prefix}/{rel}" if self.url_prefix else rel
                    yield split, source_id, img, url, folder / img["file_name"], aa, rr

    def generate_data(self) -> Iterator[dict[str, Any]]:
        """One sample per image (the row path, for a custom ``dataset_item``)."""
        cats = {c.id: c for c in self.categories}
        t = self.build_time
        for split, source_id, img, url, path, anns, rles in self._images():
            item_id = stable_id(self.info.id or self.target_dir.name, split, img["file_name"])
            extra = {k: v for k, v in img.items() if k not in IMAGE_KEYS}
            item = self._create_item(
                split, item_id, coco_id=img["id"], file_name=img["file_name"], extra=json.dumps(extra, sort_keys=True) if extra else ""
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
        entity_id = stable_id(item_id, "objects", ann.get("id"))
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
                polygons=json.dumps(seg, separators=(",", ":")) if isinstance(seg, list) and seg else "",
                extra=json.dumps(extra, sort_keys=True) if extra else "",
                created_at=t,
                updated_at=t,
            )
        )
        refs: dict[str, Any] = {
            "item_ref": ItemRef(id=item_id),
            "view_ref": ViewRef(name="image", id=view_id),
            "entity_ref": EntityRef(name="objects", id=entity_id),
            "source_ref": SourceRef(id=source_id),
            "created_at": t,
            "updated_at": t,
        }
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
        cats = {c.id: c for c in self.categories}
        name = self.info.id or self.target_dir.name
        cols: dict[str, dict[str, list[Any]]] = {}
        n = 0

        def reset() -> None:
            nonlocal n
            n = 0
            cols.clear()
            for t in provided:
                cols[t] = defaultdict(list)

        def flush() -> tuple[int, dict[str, pa.Table]]:
            out = {}
            for t, c in cols.items():
                rows = len(c["id"])
                if not rows:
                    continue
                arrays = {k: pa.array(v) for k, v in c.items() if not k.endswith(("_ref", "_at"))}
                for k in ref:
                    if k in c:
                        arrays[k] = ref_array(REF_NAMES[k], c[k])
                stamps = pa.array([self.build_time] * rows, pa.timestamp("us"))
                arrays.update(created_at=stamps, updated_at=stamps)
                spec = specs[t]
                assert spec is not None
                out[t] = spec.table(rows, arrays)
            return n, out

        reset()
        for split, source_id, img, url, path, anns, rles in self._images():
            item_id = stable_id(name, split, img["file_name"])
            view_id = stable_id(item_id, "image")
            extra = {k: v for k, v in img.items() if k not in IMAGE_KEYS}
            it = cols["item"]
            it["id"].append(item_id)
            it["split"].append(split)
            it["coco_id"].append(img["id"])
            it["file_name"].append(img["file_name"])
            it["extra"].append(json.dumps(extra, sort_keys=True) if extra else "")
            im = cols["image"]
            im["id"].append(view_id)
            im["item_ref"].append(item_id)
            im["url"].append(url)
            im["width"].append(img["width"])
            im["height"].append(img["height"])
            im["format"].append(image_format(path))
            im["content"].append(path.read_bytes() if self.embed else None)
            for ann, rle in zip(anns, rles):
                cat = cats[ann["category_id"]]
                entity_id = stable_id(item_id, "objects", ann.get("id"))
                seg = ann.get("segmentation")
                extra = {k: v for k, v in ann.items() if k not in ANNOTATION_KEYS}
                ob = cols["objects"]
                ob["id"].append(entity_id)
                ob["item_ref"].append(item_id)
                ob["view_ref"].append(view_id)
                ob["category"].append(cat.name)
                ob["category_id"].append(cat.id)
                ob["iscrowd"].append(bool(ann.get("iscrowd", 0)))
                ob["area"].append(float(ann.get("area", 0.0) or 0.0))
                ob["coco_id"].append(int(ann["id"]) if isinstance(ann.get("id"), int) else 0)
                ob["polygons"].append(json.dumps(seg, separators=(",", ":")) if isinstance(seg, list) and seg else "")
                ob["extra"].append(json.dumps(extra, sort_keys=True) if extra else "")
                refs = (item_id, view_id, entity_id, source_id)
                if ann.get("bbox") is not None:
                    self._ann_row(cols["bbox"], stable_id(entity_id, "bbox"), refs, coords=[float(v) for v in ann["bbox"]], confidence=1.0)
                if rle is not None:
                    self._ann_row(cols["mask"], stable_id(entity_id, "mask"), refs, size=list(rle["size"]), counts=bytes(rle["counts"]))
                kp = ann.get("keypoints")
                if kp:
                    coords = [float(kp[j + d]) for j in range(0, len(kp), 3) for d in (0, 1)]
                    states = [V_TO_STATE[int(kp[j])] for j in range(2, len(kp), 3)]
                    self._ann_row(
                        cols["keypoints"],
                        stable_id(entity_id, "keypoints"),
                        refs,
                        template_id=f"coco:{cat.id}",
                        coords=coords,
                        states=states,
                    )
            n += 1
            if n >= chunk_size:
                yield flush()
                reset()
        if n:
            yield flush()

    @staticmethod
    def _ann_row(c: dict[str, list[Any]], row_id: str, refs: tuple[str, str, str, str], **values: Any) -> None:
        c["id"].append(row_id)
        for key, value in zip(("item_ref", "view_ref", "entity_ref", "source_ref"), refs):
            c[key].append(value)
        for key, value in values.items():
            c[key].append(value)


#: the table a ref column of an annotation row names
REF_NAMES = {"item_ref": "item", "view_ref": "image", "entity_ref": "objects", "source_ref": "source"}


def image_format(path: Path) -> str:
    """The image format named by a file's extension (JPEG for .jpg)."""
    ext = path.suffix.lstrip(".").upper()
    return {"JPG": "JPEG", "TIF": "TIFF"}.get(ext, ext)


# --- export ----------------------------------------------------------------------------------
def _column(table: Any, name: str, default: Any = None) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [default] * table.num_rows


def _unique_ints(values: list[Any]) -> bool:
    return all(isinstance(v, int) and v > 0 for v in values) and len(set(values)) == len(values)


def export_coco(
    ds: Any, out: str | os.PathLike[str], *, media: str = "copy", provenance_extra: Mapping[str, Any] | None = None
) -> ExportResult:
    """Write dataset version ``ds`` as COCO: ``annotations/<split>.json`` per split (images,
    annotations with bbox, segmentation, keypoints, area and iscrowd, categories, and an ``info``
    naming the dataset, version and lock) and the images under ``images/<split>/`` (``media``:
    copy, link or none)."""
    check_media_mode(media)
    out_dir = prepare_out(out)
    roles = Roles(ds)
    cats = categories_of(ds, roles)
    cat_ids = {c.name: c.id for c in cats}
    prov = provenance(ds, "coco", **dict(provenance_extra or {}))
    items = ds.to_arrow(roles.item)
    item_ids = items.column("id").to_pylist()
    splits = _column(items, "split", "default")
    coco_ids = _column(items, "coco_id")
    image_ids = coco_ids if _unique_ints(coco_ids) else list(range(1, len(item_ids) + 1))
    image_id = dict(zip(item_ids, image_ids))
    split_of = dict(zip(item_ids, splits))
    file_names = dict(zip(item_ids, _column(items, "file_name", "")))
    extras = dict(zip(item_ids, _column(items, "extra", "")))

    views = ds.to_arrow(roles.image, columns=["id", "item_ref", "url", "width", "height", "sha256"])
    view_items = ref_ids(views, "item_ref").to_pylist()
    by_item = {it: i for i, it in enumerate(view_items)}

    entities = _entity_annotations(ds, roles)
    counts: dict[str, int] = defaultdict(int)
    files: list[str] = []
    used_names: dict[str, set[str]] = defaultdict(set)
    per_split_images: dict[str, list[dict[str, Any]]] = defaultdict(list)
    per_split_views: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
    for it in item_ids:
        j = by_item.get(it)
        if j is None:
            continue
        split = split_of[it] or "default"
        url = views.column("url")[j].as_py() or ""
        name = file_names.get(it) or os.path.basename(url) or f"{it}.jpg"
        if name in used_names[split]:
            name = f"{it}-{os.path.basename(name)}"
        used_names[split].add(name)
        entry: dict[str, Any] = {
            "id": image_id[it],
            "file_name": name,
            "width": views.column("width")[j].as_py(),
            "height": views.column("height")[j].as_py(),
        }
        if extras.get(it):
            entry.update({k: v for k, v in json.loads(extras[it]).items() if k not in entry})
        per_split_images[split].append(entry)
        per_split_views[split].append(
            ({"id": views.column("id")[j].as_py(), "url": url, "sha256": views.column("sha256")[j].as_py(), "_item": it}, name)
        )

    ann_by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ent in entities:
        it = ent["item"]
        if it not in image_id or ent["category"] not in cat_ids:
            counts["skipped_annotations"] += 1
            continue
        ann_by_split[split_of[it] or "default"].append(
            {**ent["coco"], "image_id": image_id[it], "category_id": cat_ids[ent["category"]], "_id": ent["coco_id"]}
        )
    for anns in ann_by_split.values():
        ids = [a.pop("_id") for a in anns]
        for a, aid in zip(anns, ids if _unique_ints(ids) else range(1, len(anns) + 1)):
            a["id"] = aid
    # COCO ties keypoints to their category's names: a category without names gets kp1..kpN
    points: dict[int, int] = defaultdict(int)
    for anns in ann_by_split.values():
        for a in anns:
            if "keypoints" in a:
                points[a["category_id"]] = max(points[a["category_id"]], len(a["keypoints"]) // 3)
    for c in cats:
        points[c.id] = max(points.get(c.id, 0), len(c.keypoints))
    for anns in ann_by_split.values():
        for a in anns:  # every annotation of a category has its names' number of points (v=0: not labelled)
            if "keypoints" in a and len(a["keypoints"]) < 3 * points[a["category_id"]]:
                a["keypoints"] = a["keypoints"] + [0, 0, 0] * (points[a["category_id"]] - len(a["keypoints"]) // 3)
    categories = []
    for c in cats:
        names = list(c.keypoints) + [f"kp{i + 1}" for i in range(len(c.keypoints), points.get(c.id, 0))]
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
    (out_dir / "annotations").mkdir(exist_ok=True)
    for split in sorted(set(per_split_images) | set(ann_by_split)):
        doc = {"info": info, "images": per_split_images[split], "annotations": ann_by_split[split], "categories": categories}
        target = out_dir / "annotations" / f"{split}.json"
        target.write_text(json.dumps(doc, separators=(",", ":")))
        files.append(str(target.relative_to(out_dir)))
        pairs = per_split_views[split]
        for start in range(0, len(pairs) if media != "none" else 0, MEDIA_BATCH):
            part = pairs[start : start + MEDIA_BATCH]
            views_part = with_content(ds, roles.image, [v for v, _ in part])
            counts["images_written"] += place_media(ds, views_part, out_dir / "images" / split, [n for _, n in part], media)
        counts[f"images.{split}"] = len(per_split_images[split])
        counts[f"annotations.{split}"] = len(ann_by_split[split])
    return ExportResult("coco", out_dir, files, dict(counts), prov)


def _entity_annotations(ds: Any, roles: Roles) -> list[dict[str, Any]]:
    """One dict per entity: its item, category, COCO id and the COCO annotation fields of its box,
    mask (polygons when it came with them, else the RLE) and keypoints."""
    if roles.entity is None:
        return []
    ents = ds.to_arrow(roles.entity)
    ids = ents.column("id").to_pylist()
    items = ref_ids(ents, "item_ref").to_pylist()
    cats = ents.column("category").to_pylist()
    crowd = _column(ents, "iscrowd", False)
    area = _column(ents, "area", 0.0)
    coco_ids = _column(ents, "coco_id")
    polygons = _column(ents, "polygons", "")
    extras = _column(ents, "extra", "")

    def by_entity(table: str | None, columns: list[str]) -> dict[str, dict[str, Any]]:
        if table is None:
            return {}
        t = ds.to_arrow(table, columns=["entity_ref", *columns])
        keys = ref_ids(t, "entity_ref").to_pylist()
        rows = t.select(columns).to_pylist()
        out: dict[str, dict[str, Any]] = {}
        for k, r in zip(keys, rows):
            if k:
                out.setdefault(k, r)
        return out

    boxes = by_entity(roles.bbox, ["coords", "format", "is_normalized"])
    masks = by_entity(roles.mask, ["size", "counts"])
    points = by_entity(roles.keypoints, ["coords", "states"])
    sizes = _image_sizes(ds, roles) if any(b["is_normalized"] for b in boxes.values()) else {}
    out = []
    for i, eid in enumerate(ids):
        coco: dict[str, Any] = {"iscrowd": int(bool(crowd[i]))}
        box = boxes.get(eid)
        if box is not None:
            x, y, w, h = (
                box["coords"]
                if box["format"] == "xywh"
                else [*box["coords"][:2], box["coords"][2] - box["coords"][0], box["coords"][3] - box["coords"][1]]
            )
            if box["is_normalized"]:
                iw, ih = sizes.get(items[i], (1, 1))
                x, y, w, h = x * iw, y * ih, w * iw, h * ih
            coco["bbox"] = [x, y, w, h]
        m = masks.get(eid)
        if polygons[i]:
            coco["segmentation"] = json.loads(polygons[i])
        elif m is not None:
            coco["segmentation"] = {"size": list(m["size"]), "counts": bytes(m["counts"]).decode()}
        kp = points.get(eid)
        if kp is not None:
            xy, states = kp["coords"], kp["states"]
            triples = []
            for j, s in enumerate(states):
                triples += [xy[2 * j], xy[2 * j + 1], STATE_TO_V.get(s, 2)]
            coco["keypoints"] = triples
            coco["num_keypoints"] = sum(1 for s in states if STATE_TO_V.get(s, 2) > 0)
        a = area[i]
        if not a:
            if m is not None:
                a = float(mask_utils.area({"size": list(m["size"]), "counts": bytes(m["counts"])}))
            elif "bbox" in coco:
                a = coco["bbox"][2] * coco["bbox"][3]
        coco["area"] = float(a or 0.0)
        if extras[i]:
            coco.update({k: v for k, v in json.loads(extras[i]).items() if k not in coco})
        out.append({"item": items[i], "category": cats[i], "coco_id": coco_ids[i], "coco": coco})
    return out


def _image_sizes(ds: Any, roles: Roles) -> dict[str, tuple[int, int]]:
    t = ds.to_arrow(roles.image, columns=["item_ref", "width", "height"])
    return dict(zip(ref_ids(t, "item_ref").to_pylist(), zip(t.column("width").to_pylist(), t.column("height").to_pylist())))


__all__ = ["CocoBuilder", "CocoItem", "CocoObject", "export_coco", "rle_of"]
