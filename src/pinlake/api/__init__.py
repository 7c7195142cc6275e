"""Optional HTTP API (FastAPI) over a library: `pinlake serve LIBRARY MEDIA_DIR`.

``create_app`` loads on first use (:mod:`pinlake.util.lazy`): importing the package does not load FastAPI.
"""

from __future__ import annotations

from pinlake.util.lazy import lazy_names

_LAZY = {"create_app": "pinlake.api.app"}

__all__ = ["create_app"]

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
