"""The FastAPI application: ``create_app(library, media_dir, token=None)``.

Reads are open; writes need the bearer token (``token=`` or ``PINLAKE_API_TOKEN``). Errors are
JSON: ``{"error": message, "hint": hint}`` (plus ``detail`` naming fields on 422).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pinlake import __version__
from pinlake.api import deps, routes_datasets, routes_items, routes_media, routes_tables
from pinlake.api.deps import DEFAULT_USER, MAX_BODY_BYTES, MAX_SQL_BYTES, USER_RE, ApiError, ApiState
from pinlake.errors import ConflictError, NotFoundError, PinlakeError, ValidationError
from pinlake.storage import location

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("pinlake.api")


def _error(status: int, message: str, hint: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if hint:
        body["hint"] = hint
    body.update(extra)
    return JSONResponse(body, status_code=status)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, declared (``Content-Length``) or streamed
    (``Transfer-Encoding: chunked``: read here, up to the limit, before the app sees it)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> JSONResponse:
        return _error(
            413,
            f"request body over the {self.max_bytes}-byte limit",
            "Send fewer rows per request (split the batch over several requests).",
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server reads exactly Content-Length bytes
            return
        # No declared length: the body arrives in chunks. Buffer it up to the limit (the routes read
        # whole JSON bodies anyway) so that going over is answered here with 413, not by the app.
        buffered: list[Any] = []
        seen = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":  # the client went away
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Any:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


def create_app(
    library: str | os.PathLike[str],
    media_dir: str | os.PathLike[str] | None = None,
    token: str | None = None,
    *,
    max_body_bytes: int | None = None,
    max_sql_bytes: int | None = None,
    user: str | None = None,
    user_header: str | None = None,
) -> FastAPI:
    """The pinlake API over ``library``; view urls resolve under ``media_dir``.

    Limits: request bodies over ``max_body_bytes`` get 413 (default ``PINLAKE_API_MAX_BODY_BYTES`` or
    16 MiB); a ``POST /sql`` answer whose JSON is over ``max_sql_bytes`` gets 422 (default
    ``PINLAKE_API_MAX_SQL_BYTES`` or 8 MiB).

    Writes are recorded as made by ``user`` (default ``PINLAKE_API_USER`` or ``api``: the token's
    identity), or by the value of the request header ``user_header`` (default
    ``PINLAKE_API_USER_HEADER``; unset: no header is trusted) when a proxy in front of the server sets it.
    """
    app = FastAPI(
        title="pinlake",
        description="Versioned datasets: read any version or tag, write with a token (each write is a new version).",
        version=_version(),
    )
    app.state.pinlake = ApiState(
        library=location(library),
        media_dir=Path(media_dir) if media_dir is not None else None,
        token=token if token is not None else (os.environ.get("PINLAKE_API_TOKEN") or None),
        max_sql_bytes=_limit(max_sql_bytes, "PINLAKE_API_MAX_SQL_BYTES", MAX_SQL_BYTES),
        user=_identity(user, "PINLAKE_API_USER") or DEFAULT_USER,
        user_header=_identity(user_header, "PINLAKE_API_USER_HEADER"),
    )
    max_body_bytes = _limit(max_body_bytes, "PINLAKE_API_MAX_BODY_BYTES", MAX_BODY_BYTES)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        detail = getattr(exc, "detail", None)
        extra = {"detail": detail} if detail else {}
        resp = _error(exc.status, exc.message, exc.hint, **extra)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    @app.exception_handler(PinlakeError)
    async def _pinlake_error(request: Request, exc: PinlakeError) -> JSONResponse:
        status = (
            404
            if isinstance(exc, NotFoundError)
            else 422
            if isinstance(exc, ValidationError)
            else 409
            if isinstance(exc, ConflictError)
            else 400
        )
        return _error(status, exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
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

    @app.get("/auth", tags=["meta"], summary="Whether the server takes writes, and whether this request's bearer token is right")
    def auth(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(deps.bearer)) -> dict[str, Any]:
        state = deps.get_state(request)
        ok = deps.token_ok(request, creds)
        return {"writes_enabled": bool(state.token), "authenticated": ok, "user": deps.request_user(request) if ok else None}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def _limit(value: int | None, env: str, default: int) -> int:
    """A byte limit: the argument, else the environment variable ``env``, else ``default``."""
    if value is None:
        text = os.environ.get(env, "").strip()
        if not text:
            return default
        if not text.isdigit():
            raise ValidationError(f"{env}={text!r} is not a number of bytes", hint=f"Set {env} to a positive integer, e.g. {default}.")
        value = int(text)
    if value < 1:
        raise ValidationError(
            f"{env} (or the matching create_app argument) must be at least 1 byte, got {value}", hint=f"The default is {default}."
        )
    return value


def _identity(value: str | None, env: str) -> str | None:
    """A user name or header name: the argument, else the environment variable, else None."""
    text = (value if value is not None else os.environ.get(env, "")).strip()
    if text and not USER_RE.match(text):
        raise ValidationError(f"{env}={text!r}: expected 1 to 128 printable characters", hint="e.g. alice, or X-Remote-User for a header.")
    return text or None


def _version() -> str:
    return __version__
