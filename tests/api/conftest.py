"""Fixtures of the API tests: one demo library per session, a private copy for tests that write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from api_client import TOKEN, make_client  # noqa: F401 - shared with the test modules

from pinlake.demo.run import run_demo


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api-demo")
    run_demo(root / "library", root / "assets")
    return root


@pytest.fixture()
def demo(demo_root: Path, tmp_path: Path) -> Path:
    """A private copy of the demo (library + assets) a test may write to."""
    shutil.copytree(demo_root / "library", tmp_path / "library")
    shutil.copytree(demo_root / "assets", tmp_path / "assets")
    return tmp_path


@pytest.fixture()
def client(demo_root: Path, monkeypatch: pytest.MonkeyPatch):
    """Read-only client on the shared demo (no token: writes are refused)."""
    monkeypatch.delenv("PINLAKE_API_TOKEN", raising=False)
    return make_client(demo_root)


@pytest.fixture()
def writer(demo: Path):
    """Client with a token on a private copy of the demo."""
    return make_client(demo, token=TOKEN)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")
