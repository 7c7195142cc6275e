"""A small real Pascal VOC folder made here: images drawn with Pillow in JPEGImages/, one XML per
image in Annotations/ (size, source, owner, objects with pose, truncated, difficult, occluded,
bndbox, and a part), ImageSets/Main/train.txt and val.txt, and a per-class list that is not a split."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

SIZES = {"000001": (160, 120), "000002": (128, 128), "000003": (96, 144), "000004": (200, 100)}
#: id -> objects (name, pose, truncated, difficult, (xmin, ymin, xmax, ymax))
OBJECTS: dict[str, list[tuple[str, str, int, int, tuple[float, float, float, float]]]] = {
    "000001": [("dog", "Left", 0, 0, (11, 21, 60, 80)), ("person", "Frontal", 1, 0, (1, 1, 160, 120))],
    "000002": [("cat", "Unspecified", 0, 1, (5, 6, 40, 70))],
    "000003": [],
    "000004": [("dog", "Right", 1, 1, (100, 10, 199, 99)), ("cat", "Rear", 0, 0, (20.5, 30, 60.5, 70))],
}
SPLITS = {"train": ["000001", "000002", "000004"], "val": ["000003"]}


def annotation_xml(image_id: str, objects: list[Any], size: tuple[int, int] | None) -> str:
    parts = [
        "<annotation>",
        "  <folder>VOC2007</folder>",
        f"  <filename>{image_id}.jpg</filename>",
        "  <source><database>The VOC2007 Database</database><annotation>PASCAL VOC2007</annotation><image>flickr</image></source>",
        "  <owner><flickrid>someone</flickrid><name>?</name></owner>",
    ]
    if size is not None:
        parts.append(f"  <size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    parts.append("  <segmented>0</segmented>")
    for i, (name, pose, truncated, difficult, box) in enumerate(objects):
        coords = "".join(f"<{k}>{v:g}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
        part = (
            "<part><name>head</name><bndbox><xmin>12</xmin><ymin>22</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></part>" if i == 0 else ""
        )
        parts.append(
            f"  <object><name>{name}</name><pose>{pose}</pose><truncated>{truncated}</truncated>"
            f"<difficult>{difficult}</difficult><occluded>{i % 2}</occluded><bndbox>{coords}</bndbox>{part}</object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def write_voc(root: Path, *, objects: dict[str, list[Any]] | None = None, splits: dict[str, list[str]] | None = None) -> Path:
    """The VOC folder ``root`` (Annotations, JPEGImages, ImageSets/Main); returns ``root``."""
    objects = objects if objects is not None else OBJECTS
    splits = splits if splits is not None else SPLITS
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for n, (image_id, objs) in enumerate(objects.items()):
        size = SIZES[image_id]
        PILImage.new("RGB", size, (40 * n, 90, 150)).save(root / "JPEGImages" / f"{image_id}.jpg")
        (root / "Annotations" / f"{image_id}.xml").write_text(annotation_xml(image_id, objs, size))
    for split, ids in splits.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    (root / "ImageSets" / "Main" / "dog_train.txt").write_text("000001  1\n000002 -1\n")
    return root


def fields(path: Path) -> dict[str, Any]:
    """What a VOC annotation says, as plain data to compare: filename, size, segmented, the other
    top-level elements, and the objects (name, pose, truncated, difficult, bndbox as numbers, the rest)."""
    root = ET.parse(path).getroot()

    def plain(e: ET.Element) -> Any:
        kids = list(e)
        if not kids:
            return (e.text or "").strip()
        return sorted((k.tag, repr(plain(k))) for k in kids)

    size = root.find("size")
    assert size is not None
    objects = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        assert box is not None
        objects.append(
            {
                "name": obj.findtext("name"),
                "pose": obj.findtext("pose"),
                "truncated": int(obj.findtext("truncated") or 0),
                "difficult": int(obj.findtext("difficult") or 0),
                "bndbox": [float(box.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax")],
                "rest": sorted((c.tag, repr(plain(c))) for c in obj if c.tag not in ("name", "pose", "truncated", "difficult", "bndbox")),
            }
        )
    return {
        "filename": root.findtext("filename"),
        "size": [int(size.findtext(k) or 0) for k in ("width", "height", "depth")],
        "segmented": root.findtext("segmented"),
        "rest": sorted((c.tag, repr(plain(c))) for c in root if c.tag not in ("filename", "size", "segmented", "object")),
        "objects": sorted(objects, key=lambda o: (o["name"], o["bndbox"])),
    }
