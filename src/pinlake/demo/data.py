"""The demo: a deterministic 'health images' folder (as in Pixano's tutorial) built into a library.

No download: images are drawn with Pillow from a fixed seed. Several image types (mri,
microscope, xray, dermatology), 'objects' with a category, a box and keypoints per entity.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter

from pinlake.datasets.dataset_item import DatasetItem
from pinlake.features import BBox, EntityWithCategory, Image, KeyPoints

DEMO_NAME = "health_images"
IMAGE_TYPES = {
    "mri": ((20, 20, 30), ["heart", "lung", "liver"], "JPEG", ".jpg"),
    "microscope": ((230, 200, 210), ["red_blood_cell", "white_blood_cell"], "PNG", ".png"),
    "xray": ((10, 10, 10), ["bone", "joint"], "JPEG", ".jpg"),
    "dermatology": ((200, 160, 140), ["lesion", "mole"], "TIFF", ".tif"),
}


class HealthDatasetItem(DatasetItem):
    image: Image
    objects: list[EntityWithCategory]
    bbox: list[BBox]
    keypoints: list[KeyPoints]
    image_type: str


@dataclass
class DemoFolder:
    root: Path
    splits: dict[str, int]


def generate_health_images(root: Path, n_train: int = 24, n_test: int = 8, seed: int = 7) -> DemoFolder:
    """Write ``root/{train,test}/*.{jpg,png,tif}`` and their ``metadata.jsonl`` (same seed ⇒ same files)."""
    rng = random.Random(seed)
    root = Path(root)
    counts = {}
    for split, n in (("train", n_train), ("test", n_test)):
        split_dir = root / split
        split_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(n):
            image_type = list(IMAGE_TYPES)[i % len(IMAGE_TYPES)]
            bg, categories, fmt, ext = IMAGE_TYPES[image_type]
            w, h = rng.choice([(256, 256), (320, 240), (240, 320)])
            img = PILImage.new("RGB", (w, h), bg)
            draw = ImageDraw.Draw(img)
            objects: dict[str, list[Any]] = {"category": [], "bbox": [], "keypoints": []}
            for _ in range(rng.randint(1, 4)):
                bw, bh = rng.randint(24, w // 3), rng.randint(24, h // 3)
                x, y = rng.randint(0, w - bw - 1), rng.randint(0, h - bh - 1)
                color = tuple(rng.randint(60, 255) for _ in range(3))
                draw.ellipse([x, y, x + bw, y + bh], fill=color)
                cat = rng.choice(categories)
                objects["category"].append(cat)
                objects["bbox"].append([float(x), float(y), float(bw), float(bh)])
                cx, cy = x + bw / 2, y + bh / 2
                objects["keypoints"].append([round(cx, 1), round(cy, 1), float(x), round(cy, 1), float(x + bw), round(cy, 1)])
            img = img.filter(ImageFilter.GaussianBlur(1))
            name = f"{image_type}-{split}-{i:03d}{ext}"
            img.save(split_dir / name, format=fmt)
            lines.append({"image": name, "image_type": image_type, "objects": objects})
        (split_dir / "metadata.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        counts[split] = n
    return DemoFolder(root, counts)
