"""A small real YOLO (Ultralytics) dataset made here: images drawn with Pillow, data.yaml with a
names list (or mapping), train and val splits as folders (or as .txt lists), label files with box
lines and polygon lines, and an image with no label file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from PIL import Image as PILImage
from PIL import ImageDraw

NAMES = ["circle", "square", "triangle"]
SIZES = [(160, 120), (128, 128), (96, 144), (200, 100)]
#: split -> {image file: label lines (None: no label file)}
LABELS: dict[str, dict[str, list[str] | None]] = {
    "train": {
        "a.jpg": ["0 0.500000 0.500000 0.250000 0.400000", "1 0.125000 0.200000 0.100000 0.150000"],
        "b.png": ["2 0.100000 0.100000 0.900000 0.100000 0.500000 0.800000", "0 0.312500 0.671875 0.375000 0.250000"],
        "c.jpg": None,
    },
    "val": {
        "d.png": ["1 0.700000 0.300000 0.200000 0.400000", "2 0.250000 0.250000 0.750000 0.300000 0.600000 0.900000 0.200000 0.700000"],
    },
}


def write_image(path: Path, size: tuple[int, int], shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = PILImage.new("RGB", size, (shade, 80, 160))
    ImageDraw.Draw(im).ellipse([5, 5, size[0] // 2, size[1] // 2], fill=(200, 200, 40))
    im.save(path)


def write_dataset(
    root: Path, *, names: Any = None, lists: bool = False, labels: dict[str, dict[str, list[str] | None]] | None = None
) -> Path:
    """The dataset under ``root``; returns its data.yaml. ``lists``: splits as train.txt / val.txt."""
    labels = labels if labels is not None else LABELS
    n = 0
    doc: dict[str, Any] = {"path": str(root)}
    for split, files in labels.items():
        listed = []
        for name, lines in files.items():
            write_image(root / "images" / split / name, SIZES[n % len(SIZES)], 30 * n)
            n += 1
            listed.append(f"./images/{split}/{name}")
            if lines is not None:
                label = root / "labels" / split / f"{Path(name).stem}.txt"
                label.parent.mkdir(parents=True, exist_ok=True)
                label.write_text("".join(f"{line}\n" for line in lines))
        if lists:
            (root / f"{split}.txt").write_text("\n".join(listed) + "\n")
            doc[split] = f"{split}.txt"
        else:
            doc[split] = f"images/{split}"
    doc["names"] = names if names is not None else NAMES
    (root / "data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root / "data.yaml"


def label_files(root: Path) -> dict[str, list[str]]:
    """{labels/<split>/<stem>.txt: sorted lines} of a YOLO dataset (an absent file as no lines)."""
    out = {}
    for split_dir in sorted((root / "images").iterdir()):
        for image in sorted(split_dir.iterdir()):
            label = root / "labels" / split_dir.name / f"{image.stem}.txt"
            lines = label.read_text().splitlines() if label.is_file() else []
            out[f"{split_dir.name}/{image.stem}"] = sorted(line for line in lines if line.strip())
    return out


def six_places(line: str) -> str:
    """A label line with its coordinates written to 6 places (how an export writes them)."""
    cls, *coords = line.split()
    return " ".join([cls, *(f"{float(v):.6f}" for v in coords)])
