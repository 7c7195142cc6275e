from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import pinlake
from pinlake.demo.data import generate_health_images
from pinlake.demo.lake import ingest_demo

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="session")
def demo_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imgs") / "health_images"
    generate_health_images(root, n_train=6, n_test=3)
    return root


@pytest.fixture(scope="session")
def library_template(tmp_path_factory: pytest.TempPathFactory, demo_images: Path) -> Path:
    """The demo lake ingested once; each test gets a copy (an ingest per test cost ~0.5 s)."""
    root = tmp_path_factory.mktemp("recipes-library") / "library"
    ingest_demo(pinlake.connect(root).get_datalake(), demo_images)
    return root


@pytest.fixture
def library(tmp_path: Path, library_template: Path):
    """A library of this test's own holding the demo lake."""
    shutil.copytree(library_template, tmp_path / "library")
    return pinlake.connect(tmp_path / "library")


@pytest.fixture
def write_recipe(tmp_path: Path):
    def _write(body: str, name: str = "r.py") -> Path:
        p = tmp_path / "recipes" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("import pinlake\n\n" + body)
        return p

    return _write
