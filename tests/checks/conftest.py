"""Small real datasets for the quality checks: the demo health images built from a folder (embedded
bytes, so every image has a content hash) and variants of that folder that leak or duplicate an image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from check_data import copy_image

from pinlake.datasets.dataset import Dataset
from pinlake.demo.data import HealthDatasetItem, generate_health_images
from pinlake.library import Library
from pinlake.library.build import build_folder


@pytest.fixture
def make_ds(tmp_path: Path) -> Callable[..., Dataset]:
    """make_ds(name, leak=False, duplicate=False, embed=True) -> the dataset built from a fresh demo folder (6 train, 3 test)."""

    def make(name: str = "h", *, leak: bool = False, duplicate: bool = False, embed: bool = True) -> Dataset:
        root = tmp_path / "assets" / name / "health_images"
        generate_health_images(root, n_train=6, n_test=3)
        if leak:
            copy_image(root, "train", "test", "leaked-copy.jpg")
        if duplicate:
            copy_image(root, "train", "train", "duplicate-copy.jpg")
        lib = Library(tmp_path / "library").ensure()
        build_folder(lib, root, name, embed=embed, item=HealthDatasetItem)
        return lib.get_dataset(name)

    return make
