"""Helpers of the API tests (a module of its own name, so it never collides with another folder's conftest)."""

from __future__ import annotations

from pathlib import Path

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_client(root: Path, token: str | None = None, **kwargs):
    from fastapi.testclient import TestClient

    from pinlake.api.app import create_app

    return TestClient(create_app(root / "library", root / "assets", token=token, **kwargs), raise_server_exceptions=False)
