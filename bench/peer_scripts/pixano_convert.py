"""Convert the benchmark's folder (seed-000 layout) to the layout `pixano data import` (0.8.0) reads.

argv: SRC_DIR (bench data v1/) OUT_DIR. Writes OUT_DIR/dataset.yaml (the import spec: one image view,
record attr ``image_type``, entity attr ``category``, bbox + keypoint annotations) and
OUT_DIR/<split>/metadata.jsonl in Pixano's JSONL v2 grammar (a ``$pixano`` header line with the bbox
defaults, then one record per image: ``views``, ``attrs``, ``entities`` with their annotations), the
images hard-linked next to it. Runs with any Python (standard library only); not measured, as the
HF peer's metadata rename is not.
"""

import json
import os
import sys
from pathlib import Path

SPEC = """pixano: 2
dataset:
  name: bench
  description: pinlake benchmark data
  workspace: image
schema:
  views:
    image: image
  record:
    attrs:
      image_type: str
  entity:
    attrs:
      category: str
  annotations: [bbox, keypoint]
"""
HEADER = {
    "$pixano": "jsonl/2",
    "defaults": {"bbox": {"format": "xywh", "is_normalized": False}, "source": {"type": "ground_truth", "name": "bench"}},
}


def record(split: str, meta: dict) -> dict:
    objs = meta["objects"]
    entities = []
    for cat, box, kp in zip(objs["category"], objs["bbox"], objs["keypoints"]):
        entities.append(
            {
                "attrs": {"category": cat},
                "annotations": [
                    {"kind": "bbox", "coords": box},
                    {"kind": "keypoints", "template_id": "bench-3pt", "coords": kp, "states": ["visible"] * (len(kp) // 2)},
                ],
            }
        )
    return {"split": split, "attrs": {"image_type": meta["image_type"]}, "views": {"image": meta["image"]}, "entities": entities}


def convert(src: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset.yaml").write_text(SPEC)
    n = 0
    for split_dir in sorted(p for p in src.iterdir() if p.is_dir()):
        dst = out / split_dir.name
        dst.mkdir(exist_ok=True)
        lines = [json.dumps(HEADER)]
        for raw in (split_dir / "metadata.jsonl").read_text().splitlines():
            meta = json.loads(raw)
            lines.append(json.dumps(record(split_dir.name, meta)))
            target = dst / meta["image"]
            if not target.exists():
                os.link(split_dir / meta["image"], target)
            n += 1
        (dst / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return n


if __name__ == "__main__":
    print(convert(Path(sys.argv[1]), Path(sys.argv[2])))
