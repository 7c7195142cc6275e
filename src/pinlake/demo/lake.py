"""Put the demo 'health images' into a lake, as a team would drop files into it.

``ingest_demo(lake, folder)`` uploads every image of a folder made by
:func:`pinlake.demo.data.generate_health_images` under ``health/<split>/<file>``, tagged with its
image type and split, with its metadata line (``image_type`` + ``objects``) as lake metadata.
The MRI images are also filed under ``trial/basel/patient-<n>/<file>`` (the seed-004 trial).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinlake.errors import InputFileError

BASEL_IMAGE_TYPE = "mri"
BASEL_PATIENTS = 3


@dataclass
class DemoIngest:
    lake_version: int
    uploaded: int
    object_names: list[str] = field(default_factory=list)


def ingest_demo(lake: Any, folder: str | Path) -> DemoIngest:
    """Upload the demo folder into ``lake`` (idempotent: re-running adds no new versions)."""
    root = Path(folder)
    splits = sorted(p for p in root.iterdir() if p.is_dir() and (p / "metadata.jsonl").is_file()) if root.is_dir() else []
    if not splits:
        raise InputFileError(f"{root}: no <split>/metadata.jsonl (make one with pinlake.demo.data.generate_health_images)")
    groups: dict[tuple[str, ...], list[tuple[Path, str, dict[str, Any]]]] = defaultdict(list)
    basel = 0
    for split_dir in splits:
        for line in (split_dir / "metadata.jsonl").read_text().splitlines():
            if not line.strip():
                continue
            meta = json.loads(line)
            file = meta.pop("image")
            image_type = meta.get("image_type", "unknown")
            path = split_dir / file
            groups[(image_type, split_dir.name)].append((path, f"health/{split_dir.name}/{file}", meta))
            if image_type == BASEL_IMAGE_TYPE:
                patient = f"patient-{basel % BASEL_PATIENTS + 1:03d}"
                groups[(image_type, "trial", "basel")].append((path, f"trial/basel/{patient}/{file}", meta))
                basel += 1
    names: list[str] = []
    for tags, files in sorted(groups.items()):
        lake.upload_data(
            [p for p, _, _ in files],
            tags=list(tags),
            source="demo",
            metadata=[m for _, _, m in files],
            object_names=[n for _, n, _ in files],
        )
        names.extend(n for _, n, _ in files)
    return DemoIngest(lake.version, len(names), sorted(names))


__all__ = ["ingest_demo", "DemoIngest"]
