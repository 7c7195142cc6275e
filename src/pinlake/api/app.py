"""The FastAPI application: ``create_app(library, media_dir, token=None)``.

Reads are open; writes need the bearer token (``token=`` or ``PINLAKE_API_TOKEN``). Errors are
JSON: ``{"error": message, "hint": hint}`` (plus ``detail`` naming fields on 422).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pinlake.api.deps import MAX_BODY_BYTES, ApiError, ApiState
from pinlake.errors import NotFoundError, PinlakeError, ValidationError

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("pinlake.api")


def _error(status: int, message: str, hint: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if hint:
        body["hint"] = hint
    body.update(extra)
    return JSONResponse(body, status_code=status)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (declared or streamed)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _error(413, f"request body over {self.max_bytes} bytes")(scope, receive, send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise ApiError(413, f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


def create_app(
    library: str | os.PathLike[str],
    media_dir: str | os.PathLike[str] | None = None,
    token: str | None = None,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The pinlake API over ``library``; view urls resolve under ``media_dir``."""
    from pinlake.api import routes_datasets, routes_items, routes_media, routes_tables
    from pinlake.storage import location

    app = FastAPI(
        title="pinlake",
        description="Versioned datasets: read any version or tag, write with a token (each write is a new version).",
        version=_version(),
    )
    app.state.pinlake = ApiState(
        library=location(library),
        media_dir=Path(media_dir) if media_dir is not None else None,
        token=token if token is not None else (os.environ.get("PINLAKE_API_TOKEN") or None),
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        extra = {"detail": exc.detail} if getattr(exc, "detail", None) else {}
        resp = _error(exc.status, exc.message, exc.hint, **extra)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    @app.exception_handler(PinlakeError)
    async def _pinlake_error(request: Request, exc: PinlakeError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFoundError) else 422 if isinstance(exc, ValidationError) else 400
        return _error(status, exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(x) for x in first["loc"])
        return _error(422, f"invalid request: field {where!r}: {first['msg']}", detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    for router in routes_tables.routers:
        app.include_router(router)
    app.include_router(routes_items.router)
    app.include_router(routes_datasets.router)
    app.include_router(routes_media.router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/health", tags=["meta"], summary="Liveness probe")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": _version()}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def _version() -> str:
    from pinlake import __version__

    return __version__
