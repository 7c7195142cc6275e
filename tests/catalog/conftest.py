import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pinlake.cli import app, register_commands


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    """The demo dataset built once into a library (with a catalog); tests get a copy."""
    from pinlake.demo.run import run_demo

    root = tmp_path_factory.mktemp("catalog_template")
    (root / "library" / "_catalog").mkdir(parents=True)
    run_demo(root / "library", root / "assets")
    return root


@pytest.fixture
def lib(demo_template, tmp_path) -> Path:
    """A library holding the health_images demo (version 1, catalogued by the write hook)."""
    shutil.copytree(demo_template / "library", tmp_path / "library")
    shutil.copytree(demo_template / "assets", tmp_path / "assets")
    return tmp_path / "library"


@pytest.fixture
def ds(lib):
    from pinlake.datasets.dataset import Dataset

    return Dataset(lib / "health_images", media_dir=lib.parent / "assets")


@pytest.fixture
def cli():
    register_commands()
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def make_versions():
    return _make_versions


def _make_versions(ds):
    """v2: one item's image_type changed; v3: one item deleted (cascade)."""
    first = ds.get_data("item", limit=1)[0]
    ds.update_data("item", [dict(first.model_dump(), image_type="changed")])
    victim = ds.get_data("item", limit=1, skip=3)[0]
    ds.delete_dataset_items([victim.id])
    return first.id, victim.id
