from __future__ import annotations

from pathlib import Path

import pytest

from pinlake.datasets.build.folder import ImageFolderBuilder
from pinlake.datasets.info import DatasetInfo
from pinlake.demo.data import HealthDatasetItem, generate_health_images


@pytest.fixture
def health_folder(tmp_path: Path) -> Path:
    root = tmp_path / "assets" / "health_images"
    generate_health_images(root, n_train=6, n_test=3)
    return root


@pytest.fixture
def build_health(tmp_path: Path, health_folder: Path):
    def _build(mode: str = "create", name: str = "health_images", **kw):
        builder = ImageFolderBuilder(
            health_folder,
            tmp_path / "library" / name,
            HealthDatasetItem,
            DatasetInfo(id=name, name="Health", description="test"),
            url_prefix="/health_images",
            **kw,
        )
        return builder.build(mode=mode, flush_every_n_samples=4)

    return _build


@pytest.fixture
def health_ds(build_health):
    return build_health()
