"""Optional HTTP API (FastAPI) over a library: `pinlake serve LIBRARY MEDIA_DIR`."""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    from pinlake.api.app import create_app as _create_app  # lazy: FastAPI loads with the app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
