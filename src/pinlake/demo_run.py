"""Run the demo end to end on embedded defaults (engine only; the flows extend it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pinlake.datasets.builders.folder import ImageFolderBuilder
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.info import DatasetInfo
from pinlake.demo import DEMO_NAME, HealthDatasetItem, generate_health_images
from pinlake.library import Library


@dataclass
class DemoResult:
    dataset: Dataset
    assets: Path


def run_demo(library: Path, assets: Path) -> DemoResult:
    lib = Library(library).ensure()
    source = Path(assets) / DEMO_NAME
    generate_health_images(source)
    builder = ImageFolderBuilder(
        source, lib.dataset_path(DEMO_NAME), HealthDatasetItem,
        DatasetInfo(id=DEMO_NAME, name="Health Images", description="Demo: generated health images with boxes and keypoints"),
        url_prefix=f"/{DEMO_NAME}",
    )
    mode = "overwrite" if (lib.dataset_path(DEMO_NAME) / "info.json").exists() else "create"
    return DemoResult(builder.build(mode=mode), source)
