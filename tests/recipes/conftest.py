from __future__ import annotations

from pathlib import Path

import pytest

import pinlake
from pinlake.demo import generate_health_images
from pinlake.demo_lake import ingest_demo

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="session")
def demo_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imgs") / "health_images"
    generate_health_images(root, n_train=6, n_test=3)
    return root


@pytest.fixture
def library(tmp_path: Path, demo_images: Path):
    lib = pinlake.connect(tmp_path / "library")
    ingest_demo(lib.get_datalake(), demo_images)
    return lib


@pytest.fixture
def write_recipe(tmp_path: Path):
    def _write(body: str, name: str = "r.py") -> Path:
        p = tmp_path / "recipes" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("import pinlake\n\n" + body)
        return p

    return _write
