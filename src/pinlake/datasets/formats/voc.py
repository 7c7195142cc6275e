"""Pascal VOC in and out: :class:`VocBuilder` turns a VOC folder (``VOCdevkit/VOC2007``-style) into a
dataset version, :func:`export_voc` writes one version back in the same layout.

The layout::

    Annotations/<id>.xml        one file per image
    JPEGImages/<filename>       the images
    ImageSets/Main/<split>.txt  the ids of each split (train.txt, val.txt, test.txt…)

Splits: every ``ImageSets/Main/<split>.txt`` with no ``_`` in its name (``<class>_<split>.txt``
are per-class lists); ``trainval`` is left out when ``train`` and ``val`` are both there (it is their
union). Without ``ImageSets/Main``, every annotation file is in split ``split``.

What is kept, per XML element:

- ``filename``, ``folder``, ``size`` (``width``, ``height`` on the image view, ``depth`` on the item),
  ``segmented``; every other child of ``<annotation>`` (``source``, ``owner``…) as JSON in the
  item's ``extra`` (``{tag: [value, …]}``, a value being the text or the same for the children);
- each ``<object>``: one ``objects`` entity (``category`` = ``name``, ``pose``, ``truncated``,
  ``difficult``; its other children, ``occluded``, ``part``… as JSON in ``extra``) and a ``bbox`` row.

Boxes: VOC gives 1-based pixel corners, both inclusive (a box from column 1 to 10 is 10 pixels
wide). pinlake stores pixels, xywh from the top-left corner of the image (as COCO and YOLO imports
do): ``x = xmin - 1``, ``y = ymin - 1``, ``w = xmax - xmin + 1``, ``h = ymax - ymin + 1``. The
export does the inverse (``xmin = x + 1``, ``xmax = x + w``), so integer corners come back equal,
and a COCO box ``[10, 10, 50, 40]`` is written as xmin 11, ymin 11, xmax 60, ymax 50.

Classes: VOC has no class list. ``info.categories`` are the ``name`` values numbered from 1 in
sorted order, unless the folder holds a ``pinlake.json`` written by :func:`export_voc` (its
``categories`` keep the ids of the exported dataset).

Bad input stops the build before anything is written, naming the file and the XML element: an
annotation with no ``<size>`` (or no positive ``width``/``height``), an ``<object>`` with no
``<name>`` or ``<bndbox>`` or with a bad coordinate (with ``lenient`` such objects are skipped and
counted in the lineage, ``pinlake.skipped_annotations``), a split list naming a missing annotation
file, an annotation whose image is missing.

Export: ``Annotations/<stem>.xml`` per item, ``JPEGImages/`` (``media`` copy, link or none),
``ImageSets/Main/<split>.txt``, and ``pinlake.json`` (the pin's provenance and the categories).
"""

from __future__ import annotations

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pinlake.datasets.build.base import DatasetBuilder, stable_id
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.formats.common import (
    ExportResult,
    Roles,
    categories_of,
    check_media_mode,
    check_splits,
    default_info,
    prepare_out,
    provenance,
)
from pinlake.datasets.formats.yolo import (
    EntityPartitions,
    box_pixels,
    column,
    export_names,
    image_list,
    place_split_media,
    plain_name,
    strip_suffix,
    write_file,
)
from pinlake.datasets.info import Category, DatasetInfo
from pinlake.errors import InputFileError
from pinlake.features.base import EntityRef, ItemRef, SourceRef, ViewRef
from pinlake.features.groups import BBox, EntityWithCategory, Image, SourceKind
from pinlake.storage import S3Path

ITEM_TAGS = ("filename", "folder", "size", "segmented", "object")
OBJECT_TAGS = ("name", "pose", "truncated", "difficult", "bndbox")
CORNERS = ("xmin", "ymin", "xmax", "ymax")
LENIENT_HINT = "Fix the file, or pass --lenient (lenient=True) to skip bad objects and count them."
META_FILE = "pinlake.json"


class VocObject(EntityWithCategory):
    """One VOC ``<object>``: its class name and flags; its other children as JSON in ``extra``."""

    pose: str = "Unspecified"
    truncated: bool = False
    difficult: bool = False
    extra: str = ""


class VocItem(DatasetItem):
    """A VOC image: the view, one object per ``<object>`` and its box."""

    image: Image
    objects: list[VocObject] = []
    bbox: list[BBox] = []
    file_name: str = ""
    folder: str = ""
    depth: int = 3
    segmented: bool = False
    extra: str = ""


@dataclass
class _Annotation:
    file: Path
    image: Path
    file_name: str
    width: int
    height: int
    depth: int
    folder: str
    segmented: bool
    extra: dict[str, Any]
    objects: list[dict[str, Any]] = field(default_factory=list)


def element_to_obj(e: ET.Element) -> Any:
    """An element as plain data: its stripped text when it has no children, else ``{tag: [value…]}``."""
    children = list(e)
    if not children:
        return (e.text or "").strip()
    out: dict[str, list[Any]] = {}
    for c in children:
        out.setdefault(c.tag, []).append(element_to_obj(c))
    return out


def obj_to_elements(parent: ET.Element, data: Mapping[str, list[Any]]) -> None:
    """The inverse of :func:`element_to_obj` for the children of ``parent``."""
    for tag, values in data.items():
        for v in values:
            child = ET.SubElement(parent, tag)
            if isinstance(v, dict):
                obj_to_elements(child, v)
            else:
                child.text = str(v)


def _text(e: ET.Element | None, tag: str, default: str = "") -> str:
    child = e.find(tag) if e is not None else None
    return (child.text or "").strip() if child is not None else default


def _flag(value: str) -> bool:
    try:
        return bool(int(float(value)))
    except ValueError:
        return value.lower() in ("true", "yes")


def find_root(source: Path) -> Path:
    """The VOC folder of ``source``: itself when it has ``Annotations/``, else its one child that has."""
    if (source / "Annotations").is_dir():
        return source
    if source.is_dir():
        found = sorted(p for p in source.iterdir() if (p / "Annotations").is_dir())
        if len(found) == 1:
            return found[0]
    raise InputFileError(
        f"{source}: not a VOC folder (no Annotations/)", hint="Pass the folder holding Annotations/, JPEGImages/ and ImageSets/Main/."
    )


def number(value: str) -> float:
    """A VOC coordinate: an int when it is one (written back the same), else a float."""
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(value)
    return v


class VocBuilder(DatasetBuilder):
    """A dataset from a Pascal VOC folder (``source``: the folder with ``Annotations/``,
    ``JPEGImages/`` and ``ImageSets/Main/``; a ``VOCdevkit`` holding one such folder works too).
    ``split``: the split of every annotation when there is no ``ImageSets/Main``. ``embed``: copy the
    image bytes into the dataset. ``lenient``: skip bad objects instead of stopping (counted).
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        target_dir: str | os.PathLike[str] | S3Path,
        info: DatasetInfo | None = None,
        *,
        split: str = "train",
        dataset_item: type[DatasetItem] = VocItem,
        embed: bool = False,
        url_prefix: str = "",
        lenient: bool = False,
    ) -> None:
        super().__init__(target_dir, dataset_item, info or default_info(target_dir))
        self.root = find_root(Path(source))
        self.embed = embed
        self.lenient = lenient
        self.url_prefix = url_prefix.rstrip("/")
        self.skipped: list[str] = []
        digest = hashlib.sha256()
        self.splits: dict[str, list[_Annotation]] = {}
        for split_name, ids in self._split_lists(split).items():
            anns = []
            for ann_file in ids:
                raw = ann_file.read_bytes()
                digest.update(ann_file.name.encode() + b"\0" + raw)
                anns.append(self._parse(ann_file, raw))
            self.splits[split_name] = anns
        self.categories = self._categories()
        self.info.categories = self.categories
        self.info.media = {"url_prefix": self.url_prefix, "root": str(self.root.resolve())}
        self.sha256 = digest.hexdigest()
        self.lineage["source_sha256"] = json.dumps({"Annotations": self.sha256}, sort_keys=True)
        self.lineage["source_format"] = "voc"
        if lenient:
            self.lineage["skipped_annotations"] = len(self.skipped)

    # --- reading and checking -------------------------------------------------------------
    def _split_lists(self, default: str) -> dict[str, list[Path]]:
        """{split: annotation files}, from ImageSets/Main (a listed id with no annotation stops)."""
        folder = self.root / "ImageSets" / "Main"
        lists = sorted(p for p in folder.glob("*.txt") if "_" not in p.stem) if folder.is_dir() else []
        names = {p.stem for p in lists}
        if {"train", "val"} <= names:
            lists = [p for p in lists if p.stem != "trainval"]
        if not lists:
            files = sorted((self.root / "Annotations").glob("*.xml"))
            if not files:
                raise InputFileError(f"{self.root / 'Annotations'}: no annotation (.xml) files")
            return {default: files}
        out: dict[str, list[Path]] = {}
        for listing in lists:
            files = []
            for no, line in enumerate(listing.read_text().splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                ann = self.root / "Annotations" / f"{parts[0]}.xml"
                if not ann.is_file():
                    raise InputFileError(
                        f"{listing}:{no}: id {parts[0]!r} has no annotation file (Annotations/{parts[0]}.xml)",
                        hint="Remove the id from the split list or restore its annotation.",
                    )
                files.append(ann)
            out[listing.stem] = files
        return out

    def _bad(self, message: str) -> None:
        if not self.lenient:
            raise InputFileError(message, hint=LENIENT_HINT)
        self.skipped.append(message)

    def _parse(self, path: Path, raw: bytes) -> _Annotation:
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as exc:
            line, col = exc.position
            raise InputFileError(f"{path}:{line}: invalid XML (column {col})") from None
        if root.tag != "annotation":
            raise InputFileError(f"{path}: <{root.tag}>: not a VOC annotation (the root element must be <annotation>)")
        size = root.find("size")
        if size is None:
            raise InputFileError(f"{path}: <annotation> has no <size>", hint="Add <size><width>…</width><height>…</height></size>.")
        try:
            width, height = int(float(_text(size, "width"))), int(float(_text(size, "height")))
            depth = int(float(_text(size, "depth", "3") or "3"))
        except ValueError:
            width = height = depth = 0
        if width <= 0 or height <= 0:
            raise InputFileError(f"{path}: <size>: needs positive integer <width> and <height>")
        file_name = _text(root, "filename") or f"{path.stem}.jpg"
        image = self.root / "JPEGImages" / file_name
        if not image.is_file():
            raise InputFileError(
                f"{path}: <filename> {file_name!r}: no such image in {self.root / 'JPEGImages'}",
                hint="Restore the image or fix <filename>.",
            )
        extra: dict[str, list[Any]] = {c.tag: [] for c in root if c.tag not in ITEM_TAGS}
        for c in root:
            if c.tag not in ITEM_TAGS:
                extra[c.tag].append(element_to_obj(c))
        ann = _Annotation(
            path, image, file_name, width, height, depth, _text(root, "folder"), _flag(_text(root, "segmented", "0") or "0"), extra
        )
        for i, obj in enumerate(root.findall("object"), 1):
            where = f"{path}: <object> #{i}"
            name = _text(obj, "name")
            if not name:
                self._bad(f"{where}: no <name>")
                continue
            where += f" ({name!r})"
            box = obj.find("bndbox")
            if box is None:
                self._bad(f"{where}: no <bndbox>")
                continue
            try:
                xmin, ymin, xmax, ymax = (number(_text(box, k)) for k in CORNERS)
            except ValueError:
                self._bad(f"{where}: <bndbox> needs numbers <xmin>, <ymin>, <xmax>, <ymax>")
                continue
            if xmax < xmin or ymax < ymin:
                self._bad(f"{where}: <bndbox>: xmax < xmin or ymax < ymin ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})")
                continue
            others: dict[str, list[Any]] = {}
            for c in obj:
                if c.tag not in OBJECT_TAGS:
                    others.setdefault(c.tag, []).append(element_to_obj(c))
            ann.objects.append(
                {
                    "no": i,
                    "name": name,
                    "pose": _text(obj, "pose", "Unspecified") or "Unspecified",
                    "truncated": _flag(_text(obj, "truncated", "0") or "0"),
                    "difficult": _flag(_text(obj, "difficult", "0") or "0"),
                    "box": [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1],
                    "extra": others,
                }
            )
        return ann

    def _categories(self) -> list[Category]:
        names = sorted({o["name"] for anns in self.splits.values() for a in anns for o in a.objects})
        meta = self.root / META_FILE
        declared: list[Category] = []
        if meta.is_file():
            try:
                declared = [Category.model_validate(c) for c in json.loads(meta.read_text()).get("categories", [])]
            except (ValueError, TypeError, AttributeError):
                raise InputFileError(f"{meta}: 'categories' must be a list of {{id, name}}") from None
        known = {c.name for c in declared}
        start = max((c.id for c in declared), default=0) + 1
        return declared + [Category(id=start + i, name=n) for i, n in enumerate(x for x in names if x not in known)]

    # --- samples ----------------------------------------------------------------------------
    def count_samples(self) -> int | None:
        return sum(len(anns) for anns in self.splits.values())

    def generate_data(self) -> Iterator[dict[str, Any]]:
        t = self.build_time
        source_id = self.add_source(f"voc:{self.root.name}:{self.sha256[:12]}", SourceKind.OTHER, file=self.root.name, sha256=self.sha256)
        root = self.root.resolve()
        for split, anns in self.splits.items():
            for a in anns:
                item_id = stable_id(self.info.id or self.target_dir.name, split, a.file.stem)
                item = self._create_item(
                    split,
                    item_id,
                    file_name=a.file_name,
                    folder=a.folder,
                    depth=a.depth,
                    segmented=a.segmented,
                    extra=json.dumps(a.extra, sort_keys=True) if a.extra else "",
                )
                rel = a.image.resolve().relative_to(root).as_posix()
                view = Image(
                    id=stable_id(item_id, "image"),
                    item_ref=ItemRef(id=item_id),
                    url=f"{self.url_prefix}/{rel}" if self.url_prefix else rel,
                    width=a.width,
                    height=a.height,
                    format=a.image.suffix.lstrip(".").upper().replace("JPG", "JPEG"),
                    content=a.image.read_bytes() if self.embed else None,
                    created_at=t,
                    updated_at=t,
                )
                sample: dict[str, Any] = {"item": item, "image": view, "objects": [], "bbox": []}
                for o in a.objects:
                    entity_id = stable_id(item_id, "objects", o["no"])
                    sample["objects"].append(
                        VocObject(
                            id=entity_id,
                            item_ref=ItemRef(id=item_id),
                            view_ref=ViewRef(name="image", id=view.id),
                            category=o["name"],
                            pose=o["pose"],
                            truncated=o["truncated"],
                            difficult=o["difficult"],
                            extra=json.dumps(o["extra"], sort_keys=True) if o["extra"] else "",
                            created_at=t,
                            updated_at=t,
                        )
                    )
                    sample["bbox"].append(
                        BBox(
                            id=stable_id(entity_id, "bbox"),
                            item_ref=ItemRef(id=item_id),
                            view_ref=ViewRef(name="image", id=view.id),
                            entity_ref=EntityRef(name="objects", id=entity_id),
                            source_ref=SourceRef(id=source_id),
                            coords=o["box"],
                            confidence=1.0,
                            created_at=t,
                            updated_at=t,
                        )
                    )
                yield sample


# --- export ----------------------------------------------------------------------------------
def corner(v: float) -> str:
    """A VOC coordinate as text: an integer when it is one, else up to 6 decimal places."""
    r = round(v)
    if abs(v - r) < 1e-9:
        return str(int(r))
    return f"{v:.6f}".rstrip("0").rstrip(".")


def corners(v: np.ndarray) -> list[str]:
    """:func:`corner` of every value of ``v``, the integer test done column-wise."""
    r = np.round(v)  # half to even, as round()
    whole = np.isfinite(v) & (np.abs(v - r) < 1e-9)
    return [str(int(n)) if ok else corner(x) for x, n, ok in zip(v.tolist(), r.tolist(), whole.tolist())]


#: an XML element to write: (tag, text or None, children or None)
XmlNode = tuple[str, "str | None", "list[XmlNode] | None"]


def obj_to_nodes(data: Mapping[str, Any]) -> list[XmlNode]:
    """:func:`obj_to_elements` as :data:`XmlNode` children."""
    out: list[XmlNode] = []
    for tag, values in data.items():
        for v in values:
            out.append((tag, None, obj_to_nodes(v)) if isinstance(v, dict) else (tag, str(v), None))
    return out


def xml_escape(text: str) -> str:
    """Element text escaped as ElementTree escapes it (``&``, ``<``, ``>``)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def xml_node(node: XmlNode, level: int) -> str:
    """An element as ``ET.indent(root)`` (two spaces a level) and ``ElementTree.write`` write it, at
    depth ``level`` below the root; its tail is the parent's business."""
    tag, text, children = node
    if children:
        inner = "\n" + "  " * (level + 1)
        head = xml_escape(text) if text and text.strip() else inner
        body = inner.join(xml_node(c, level + 1) for c in children)
        return f"<{tag}>{head}{body}\n{'  ' * level}</{tag}>"
    if text:
        return f"<{tag}>{xml_escape(text)}</{tag}>"
    return f"<{tag} />"


def plain_tags(nodes: list[XmlNode]) -> bool:
    """Whether no tag of ``nodes`` is namespaced (``{uri}tag``, which ElementTree writes with prefixes)."""
    return all(not tag.startswith("{") and (not children or plain_tags(children)) for tag, _, children in nodes)


def to_element(node: XmlNode, parent: ET.Element | None = None) -> ET.Element:
    """An :data:`XmlNode` as an ElementTree element (under ``parent`` when given)."""
    tag, text, children = node
    e = ET.Element(tag) if parent is None else ET.SubElement(parent, tag)
    e.text = text
    for c in children or ():
        to_element(c, e)
    return e


#: an object to write: name, pose, truncated, difficult, the four corners as text, the other children
VocEntry = tuple[str, str, bool, bool, list[str], list[XmlNode]]


def annotation_xml(nodes: list[XmlNode], objects: list[VocEntry]) -> bytes:
    """The ``<annotation>`` file of its children ``nodes`` and ``objects``, byte for byte what
    ``ET.indent`` and ``ElementTree.write(encoding="utf-8")`` write (namespaced tags through ElementTree)."""
    if plain_tags(nodes) and all(plain_tags(o[5]) for o in objects):
        body = "\n  ".join([*(xml_node(n, 1) for n in nodes), *(object_xml(*o) for o in objects)])
        return f"<annotation>\n  {body}\n</annotation>".encode("utf-8", "xmlcharrefreplace")
    root = to_element(("annotation", None, [*nodes, *(object_node(*o) for o in objects)]))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode").encode("utf-8", "xmlcharrefreplace")


OBJECT_XML = (
    "<object>\n    <name>%s</name>\n    <pose>%s</pose>\n    <truncated>%s</truncated>\n    <difficult>%s</difficult>\n    <bndbox>\n"
    "      <xmin>%s</xmin>\n      <ymin>%s</ymin>\n      <xmax>%s</xmax>\n      <ymax>%s</ymax>\n    </bndbox>%s\n  </object>"
)


def object_node(name: str, pose: str, truncated: bool, difficult: bool, box: list[str], extra: list[XmlNode]) -> XmlNode:
    """An ``<object>`` element as an :data:`XmlNode`."""
    return (
        "object",
        None,
        [
            ("name", name, None),
            ("pose", pose, None),
            ("truncated", "1" if truncated else "0", None),
            ("difficult", "1" if difficult else "0", None),
            ("bndbox", None, [(tag, v, None) for tag, v in zip(CORNERS, box)]),
            *extra,
        ],
    )


def object_xml(name: str, pose: str, truncated: bool, difficult: bool, box: list[str], extra: list[XmlNode]) -> str:
    """An ``<object>`` element at level 1 (a child of ``<annotation>``), as :func:`xml_node` writes
    :func:`object_node` (one %-format for the usual object)."""
    if not name or not pose:
        return xml_node(object_node(name, pose, truncated, difficult, box, extra), 1)
    rest = "".join("\n    " + xml_node(n, 2) for n in extra)
    return OBJECT_XML % (xml_escape(name), xml_escape(pose), "1" if truncated else "0", "1" if difficult else "0", *box, rest)


#: entities (or images) the export formats at a time (:class:`EntityPartitions`)
PART_ROWS = 100_000
#: the entity columns an object takes (null where the entity table has none)
OBJECT_COLUMNS = {"pose": pa.string(), "truncated": pa.bool_(), "difficult": pa.bool_(), "extra": pa.string()}


def export_voc(
    ds: Any, out: str | os.PathLike[str], *, media: str = "copy", provenance_extra: Mapping[str, Any] | None = None
) -> ExportResult:
    """Write dataset version ``ds`` as Pascal VOC: ``Annotations/<stem>.xml`` per item (size, and
    per object name, pose, truncated, difficult, bndbox), ``ImageSets/Main/<split>.txt``, the
    images in ``JPEGImages/`` (``media``: copy, link or none) and ``pinlake.json`` (provenance and
    categories).

    The items are taken in ranges of item order (:class:`EntityPartitions`, :data:`PART_ROWS` images
    and entities each): a range's objects are formatted a batch at a time (corners column-wise), its
    annotation files written (one write each) and its images placed before the next range is read."""
    check_media_mode(media)
    out_dir = prepare_out(out)
    roles = Roles(ds)
    check_splits(ds, roles)
    cats = sorted(categories_of(ds, roles), key=lambda c: c.id)
    prov = provenance(ds, "voc", **dict(provenance_extra or {}))
    images = export_names(ds, roles, flat=True, columns=("folder", "depth", "segmented", "extra"))
    counts: dict[str, int] = defaultdict(int)
    stems = [""] * images.num_rows  # in item order, whatever the order of the partitions
    (out_dir / "Annotations").mkdir()
    folder = str(out_dir / "Annotations")
    known = {c.name: i for i, c in enumerate(cats)}
    with EntityPartitions(ds, roles, images, known, OBJECT_COLUMNS, PART_ROWS) as parts:
        for p in range(parts.parts):
            positions = parts.positions(p)
            table = images.take(pa.array(positions, pa.int64()))
            part = image_list(table)
            entries: list[list[VocEntry | None]] = [[] for _ in part]
            for batch in parts.rows(p, positions):
                for i, entry in zip(batch.column("ipos").to_numpy().tolist(), object_batch(batch)):
                    entries[i].append(entry)
            meta = zip(
                column(table, "folder", ""), column(table, "depth", 3), column(table, "segmented", False), column(table, "extra", "")
            )
            for pos, im, found, (item_folder, depth, segmented, extra) in zip(positions.tolist(), part, entries, meta):
                if plain_name(im.name):
                    stem = strip_suffix(im.name)
                else:  # an image in a subfolder: a flat id
                    stem = Path(im.name).with_suffix("").as_posix().replace("/", "_")
                nodes: list[XmlNode] = [
                    ("folder", item_folder or "JPEGImages", None),
                    ("filename", im.name, None),
                    ("size", None, [("width", str(im.width), None), ("height", str(im.height), None), ("depth", str(depth or 3), None)]),
                    ("segmented", "1" if segmented else "0", None),
                    *obj_to_nodes(_json_dict(extra)),
                ]
                objects: list[VocEntry] = []
                for entry in found:
                    if entry is None:
                        counts["skipped_annotations"] += 1
                        continue
                    objects.append(entry)
                n = len(objects)
                write_file(f"{folder}/{stem}.xml", annotation_xml(nodes, objects))
                stems[pos] = stem
                counts[f"annotations.{im.split}"] += n
                counts[f"images.{im.split}"] += 1
            counts["images_written"] += place_split_media(ds, roles, part, out_dir / "JPEGImages", media)
    images_written = counts.pop("images_written", 0)
    files = [f"Annotations/{stem}.xml" for stem in stems]
    split_ids: dict[str, list[str]] = defaultdict(list)
    for split, stem in zip(images.column("split").to_pylist(), stems):
        split_ids[split].append(stem)
    sets = out_dir / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    for split, ids in sorted(split_ids.items()):
        (sets / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        files.append(f"ImageSets/Main/{split}.txt")
    counts["images_written"] = images_written
    doc = {"pinlake": prov, "categories": [c.model_dump() for c in cats]}
    (out_dir / META_FILE).write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    files.append(META_FILE)
    return ExportResult("voc", out_dir, files, dict(counts), prov)


def object_batch(batch: pa.RecordBatch) -> list[VocEntry | None]:
    """The objects of a batch of :class:`EntityPartitions` rows: a :data:`VocEntry`, or None for one
    skipped (no box, or a category not in the classes), the corners computed column-wise."""
    categories = batch.column("category").to_pylist()
    known = pc.is_valid(batch.column("cls")).to_numpy(zero_copy_only=False)
    has_box = pc.is_valid(batch.column("coords")).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(known & has_box)
    found: list[VocEntry | None] = [None] * len(categories)
    if len(rows):
        x, y, w, h = box_pixels(batch, rows)
        text = corners(np.stack([x + 1, y + 1, x + w, y + h], axis=1).reshape(-1))
        take = pa.array(rows, pa.int64())
        poses, truncated, difficult, extra = (batch.column(c).take(take).to_pylist() for c in OBJECT_COLUMNS)
        for k, j in enumerate(rows.tolist()):
            found[j] = (
                str(categories[j]),
                poses[k] or "Unspecified",
                bool(truncated[k]),
                bool(difficult[k]),
                text[4 * k : 4 * k + 4],
                obj_to_nodes(_json_dict(extra[k])),
            )
    return found


def _json_dict(text: Any) -> dict[str, list[Any]]:
    """An ``extra`` JSON of the ``{tag: [values]}`` shape (anything else, e.g. COCO's extra fields, is left out)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and k.isidentifier() and isinstance(v, list)}


__all__ = [
    "VocBuilder",
    "VocItem",
    "VocObject",
    "XmlNode",
    "VocEntry",
    "annotation_xml",
    "corner",
    "corners",
    "element_to_obj",
    "export_voc",
    "obj_to_elements",
    "obj_to_nodes",
    "object_node",
    "object_batch",
    "OBJECT_COLUMNS",
    "PART_ROWS",
    "object_xml",
    "xml_escape",
    "xml_node",
]
