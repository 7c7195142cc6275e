"""Names users wrote before the layout moved keep working: old item specs in registries load, and the
documented old import paths still import (with a DeprecationWarning naming the new one)."""

from __future__ import annotations

import importlib
import sys

import pytest

from pinlake.datasets.dataset_item import DatasetItem, load_dataset_item


def test_item_spec_of_registries_written_before_the_demo_package_loads():
    old, new = load_dataset_item("pinlake.demo:HealthDatasetItem"), load_dataset_item("pinlake.demo.data:HealthDatasetItem")
    assert old is new and issubclass(old, DatasetItem)


@pytest.mark.parametrize(
    ("old", "names", "new"),
    [
        ("pinlake.datasets.builders", ("DatasetBuilder", "ImageFolderBuilder"), "pinlake.datasets.build"),
        ("pinlake.recipes.lock", ("lock_recipe", "read_lock", "Lock"), "pinlake.recipes.lockfile"),
        ("pinlake.torch", ("PinnedDataset",), "pinlake.integrations.torch"),
    ],
)
def test_documented_old_import_paths_still_import(old, names, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(target, name)


def test_dataset_refresh_is_reload(tmp_path):
    from pinlake.demo.data import generate_health_images
    from pinlake.library.build import build_folder
    from pinlake.library.connection import Library

    folder = generate_health_images(tmp_path / "assets", n_train=2, n_test=1)
    ds = build_folder(Library(tmp_path / "lib"), folder.root, "tiny").dataset
    with pytest.warns(DeprecationWarning, match="reload"):
        assert ds.refresh() is ds
