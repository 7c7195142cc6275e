"""Small real COCO files made here: images drawn with Pillow, a detection file (boxes, polygons,
multi-polygons, an uncompressed-RLE crowd region, a compressed RLE) and a person-keypoints file (the
17 COCO keypoints with the COCO skeleton)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw
from pycocotools import mask as mask_utils

PERSON_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]  # fmt: skip
SIZES = [(160, 120), (128, 128), (96, 144), (200, 100)]


def uncompressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE (column-major run lengths, starting with zeros) of a binary mask."""
    flat = np.asfortranarray(mask).ravel(order="F").astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = int(v), 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def write_images(folder: Path, n: int = 4) -> list[dict[str, Any]]:
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        im = PILImage.new("RGB", (w, h), (20 * i, 80, 160))
        ImageDraw.Draw(im).ellipse([10, 10, w // 2, h // 2], fill=(200, 200, 40))
        name = f"img{i:03d}.{'png' if i % 2 else 'jpg'}"
        im.save(folder / name)
        images.append({"id": 100 + i, "file_name": name, "width": w, "height": h, "license": 1, "date_captured": f"2026-01-0{i + 1}"})
    return images


def detection(folder: Path) -> dict[str, Any]:
    """instances.json content for the images in ``folder`` (written too)."""
    images = write_images(folder)
    cats = [{"id": 1, "name": "circle", "supercategory": "shape"}, {"id": 3, "name": "square", "supercategory": "shape"}]
    anns: list[dict[str, Any]] = []

    def add(image: dict[str, Any], cat: int, seg: Any, bbox: list[float], iscrowd: int = 0, **extra: Any) -> None:
        rle = (
            mask_utils.frPyObjects(seg, image["height"], image["width"])
            if not isinstance(seg, dict) or isinstance(seg["counts"], list)
            else dict(seg, counts=seg["counts"].encode())
        )
        if isinstance(rle, list):
            rle = mask_utils.merge(rle)
        anns.append(
            {"id": len(anns) + 1, "image_id": image["id"], "category_id": cat, "segmentation": seg, "area": float(mask_utils.area(rle)),
             "bbox": bbox, "iscrowd": iscrowd, **extra}
        )  # fmt: skip

    a, b, c, d = images
    add(a, 1, [[10, 10, 60, 10, 60, 50, 10, 50]], [10.0, 10.0, 50.0, 40.0], attributes={"occluded": False})
    add(a, 3, [[70, 20, 100, 20, 100, 60], [110, 70, 150, 70, 150, 110, 110, 110]], [70.0, 20.0, 80.0, 90.0])
    m = np.zeros((b["height"], b["width"]), dtype=np.uint8)
    m[30:90, 20:70] = 1
    add(b, 1, uncompressed_rle(m), [20.0, 30.0, 50.0, 60.0], iscrowd=1)
    m2 = np.zeros((c["height"], c["width"]), dtype=np.uint8)
    m2[5:40, 8:60] = 1
    enc = mask_utils.encode(np.asfortranarray(m2))
    add(c, 3, {"size": enc["size"], "counts": enc["counts"].decode()}, [8.0, 5.0, 52.0, 35.0])
    add(c, 1, [[50.5, 60.25, 90.0, 60.0, 70.0, 120.0]], [50.5, 60.0, 39.5, 60.0])
    # d has no annotation: an image with nothing in it stays in the dataset
    return {
        "info": {"description": "test"},
        "licenses": [{"id": 1, "name": "CC"}],
        "images": images,
        "annotations": anns,
        "categories": cats,
    }


def keypoints(folder: Path) -> dict[str, Any]:
    """person_keypoints.json content: one or two people per image, some points not labelled (v=0) or hidden (v=1)."""
    images = write_images(folder, 3)
    rng = np.random.default_rng(3)
    anns = []
    for image in images:
        for _ in range(1 + image["id"] % 2):
            w, h = image["width"], image["height"]
            x0, y0 = float(rng.integers(0, w // 3)), float(rng.integers(0, h // 3))
            bw, bh = float(w // 2), float(h // 2)
            kp: list[float] = []
            for j in range(17):
                v = 0 if j in (3, 4) else 1 if j == 9 else 2
                kp += [0.0, 0.0, 0] if v == 0 else [round(x0 + rng.uniform(0, bw), 2), round(y0 + rng.uniform(0, bh), 2), v]
            poly = [[x0, y0, x0 + bw, y0, x0 + bw, y0 + bh, x0, y0 + bh]]
            anns.append(
                {"id": 1000 + len(anns), "image_id": image["id"], "category_id": 1, "bbox": [x0, y0, bw, bh], "area": bw * bh,
                 "iscrowd": 0, "segmentation": poly, "keypoints": kp, "num_keypoints": sum(1 for j in range(2, 51, 3) if kp[j] > 0)}
            )  # fmt: skip
    cats = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": PERSON_KEYPOINTS, "skeleton": SKELETON}]
    return {"images": images, "annotations": anns, "categories": cats}


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path
