"""Shared state of the API and its calls into the engine.

Everything the routers need from outside :mod:`pinlake.datasets` goes through this module: the lake
(objects by sha256), the version history (tags, diff) and the catalog (lineage, SQL), imported inside
the call so the app starts fast. Engine errors (PinlakeError) become JSON errors in ``app.py``.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pinlake.catalog.store import Catalog
from pinlake.errors import NotFoundError, ValidationError
from pinlake.library.connection import Library
from pinlake.library.diff import diff_versions
from pinlake.library.info import read_key
from pinlake.library.lineage import lineage_of
from pinlake.library.sql import sql as run_sql
from pinlake.library.versions import ChannelState, channel_state, resolve, tags_of
from pinlake.util.sqltext import sql_str

MAX_PAGE = 1000
MAX_BODY_BYTES = 16 * 1024 * 1024  # request bodies (PINLAKE_API_MAX_BODY_BYTES / create_app(max_body_bytes=))
MAX_SQL_BYTES = 8 * 1024 * 1024  # JSON body of a POST /sql answer (PINLAKE_API_MAX_SQL_BYTES / create_app(max_sql_bytes=))


DEFAULT_USER = "api"  # the token's identity unless PINLAKE_API_USER / create_app(user=) names one
USER_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


class ApiError(Exception):
    """An HTTP error with a JSON body ``{"error": message, "hint": hint}``."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


@dataclass
class ApiState:
    library: Any  # a Path, or an S3Path (pinlake.storage)
    media_dir: Path | None = None
    token: str | None = None
    max_sql_bytes: int = MAX_SQL_BYTES
    #: who writes with the token (recorded as a version's pinlake.user); a request's ``user_header``
    #: (set by a proxy the server trusts) names the user instead when present
    user: str = DEFAULT_USER
    user_header: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the last ``GET /datasets/`` answer and the :func:`pinlake.library.info.listing_key` it was made at
    listing: tuple[Any, bytes] | None = None
    #: recent answers of table reads: {url: (dataset's read key, JSON body)}, the newest last
    reads: OrderedDict[str, tuple[Any, bytes]] = field(default_factory=OrderedDict)
    reads_lock: threading.Lock = field(default_factory=threading.Lock)
    reads_bytes: int = 0


def get_state(request: Request) -> ApiState:
    return request.app.state.pinlake


#: answers of table reads kept, and their bytes at most (the least recently used goes first)
READ_CACHE_SIZE = 512
READ_CACHE_BYTES = 64 * 1024 * 1024


async def cached_read(request: Request, dataset: str, make: Callable[[], Any]) -> Response:
    """The JSON answer of a GET that reads dataset ``dataset`` only: the one made earlier for the same
    URL while the dataset's :func:`pinlake.library.info.read_key` is unchanged, else ``make()``'s,
    kept for the next request. Errors are raised as they come and never kept.

    The key and a kept answer are had on the event loop (a few small file reads); ``make`` runs in
    the thread pool, so a hit never waits for a thread behind the reads that miss."""
    state = get_state(request)
    key = read_key(Library(state.library), dataset)
    url = f"{request.url.path}?{request.url.query}"
    if key is not None:
        with state.reads_lock:
            hit = state.reads.get(url)
            if hit is not None and hit[0] == key:
                state.reads.move_to_end(url)
                return Response(hit[1], media_type="application/json")
    body = await run_in_threadpool(lambda: _to_json(make()))
    if (
        key is not None and len(body) <= READ_CACHE_BYTES // 8
    ):  # the key was read before the data: a write in between only makes this entry never match
        with state.reads_lock:
            old = state.reads.pop(url, None)
            state.reads_bytes += len(body) - (len(old[1]) if old else 0)
            state.reads[url] = (key, body)
            while len(state.reads) > READ_CACHE_SIZE or state.reads_bytes > READ_CACHE_BYTES:
                state.reads_bytes -= len(state.reads.popitem(last=False)[1][1])
    return Response(body, media_type="application/json")


# --- auth --------------------------------------------------------------------
bearer = HTTPBearer(auto_error=False, description="PINLAKE_API_TOKEN, needed for writes")


def require_token(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    token = get_state(request).token
    if not token:
        raise ApiError(401, "writes are disabled: the server has no API token", hint="Start the server with PINLAKE_API_TOKEN set.")
    if creds is None or not hmac.compare_digest(creds.credentials.encode(), token.encode()):
        raise ApiError(401, "missing or wrong bearer token", hint="Send 'Authorization: Bearer <PINLAKE_API_TOKEN>'.")


def token_ok(request: Request, creds: HTTPAuthorizationCredentials | None) -> bool:
    """The request carries the server's token (False when the server has none)."""
    token = get_state(request).token
    return bool(token) and creds is not None and hmac.compare_digest(creds.credentials.encode(), str(token).encode())


def request_user(request: Request) -> str:
    """Who makes a write: the trusted header's value when the server names one and the request sends
    it, else the token's configured identity."""
    state = get_state(request)
    if state.user_header:
        value = (request.headers.get(state.user_header) or "").strip()
        if value:
            if not USER_RE.match(value):
                raise ApiError(
                    422, f"header {state.user_header}: a user name of 1 to 128 printable characters", hint="Fix the proxy's user header."
                )
            return value
    return state.user


# --- datasets ------------------------------------------------------------------
def open_for_request(state: ApiState, name: str, version: int | None = None, tag: str | None = None) -> Any:
    """The dataset ``name`` of the library, at its latest version, ``version`` or ``tag``."""
    lib = Library(state.library)
    try:
        ds = lib.get_dataset(name, media_dir=state.media_dir)
    except ValidationError:
        raise ApiError(404, f"no dataset {name!r}") from None
    if version is not None and tag:
        raise ApiError(400, "pass either version or tag, not both")
    if tag:
        version = resolve_tag(ds, tag)
    if version is not None and version != ds.version:
        ds = ds.checkout(version)
    return ds


class Pin:
    """A read's ``?version=N`` / ``?tag=NAME`` (:func:`pin_query` reads them from the query)."""

    def __init__(self, version: int | None = None, tag: str | None = None) -> None:
        self.version = version
        self.tag = tag


async def pin_query(
    version: int | None = Query(None, ge=1, le=2**62, description="Dataset version to read"),
    tag: str | None = Query(None, min_length=1, max_length=200, description="Tag naming a dataset version"),
) -> Pin:
    """The :class:`Pin` of a request (a coroutine, so FastAPI calls it on the event loop rather
    than sending a class's ``__init__`` to the thread pool)."""
    return Pin(version, tag)


def pinned(request: Request, name: str, pin: Pin) -> Any:
    return open_for_request(get_state(request), name, pin.version, pin.tag)


# --- history: tags and diff ---------------------------------------------------------
def resolve_tag(ds: Any, tag: str) -> int:
    """The dataset version a tag (or a lock hash prefix) names."""
    return int(resolve(ds.path, tag=tag).dataset_version)


def list_tags(ds: Any, entries: list[Any] | None = None, channels: ChannelState | None = None) -> dict[int, list[str]]:
    """{dataset_version: [tag, ...]} (channels included, at their published version).

    ``entries``, ``channels``: the version log and channel state when the caller has already read them."""
    out: dict[int, list[str]] = {}
    for name, version in sorted(tags_of(ds.path, entries, channels).items()):
        out.setdefault(int(version), []).append(str(name))
    return out


# --- channels and checks (write–audit–publish) ------------------------------------------------
def channels(ds: Any) -> ChannelState:
    """The dataset's channel, published versions and verdicts: one catalog read, so a route calls
    it once and passes the state to every version it renders."""
    return channel_state(ds.path)


def version_status(channels: ChannelState | None, entry: Any) -> dict[str, Any]:
    """``{status, failed_checks}`` of one version: ``published``, ``candidate``, ``quarantined`` or
    "" (not gated when it was built), and the blocking checks of its last verdict."""
    if channels is None:
        return {"status": "", "failed_checks": []}
    decision = channels.decisions.get(entry.dataset_version) or {}
    return {"status": channels.status(entry), "failed_checks": [str(c) for c in decision.get("failed", [])]}


def checks_of(state: ApiState, ds: Any, version: int) -> list[dict[str, Any]]:
    """The ``catalog.checks`` rows of the last audit of ``ds`` at ``version`` (a gated refresh or a
    publish; the report's order, ``value`` and ``threshold`` decoded from JSON). Empty when never audited."""
    catalog = Catalog(Library(state.library).path)
    table = catalog.read("checks", filter=f"dataset = {sql_str(ds.name)} AND dataset_version = {int(version)}")
    rows = table.to_pylist()
    if not rows:
        return []
    last = max(r["checked_at"] for r in rows)  # one report's rows share their checked_at
    return [_jsonable({**r, "value": _decoded(r["value"]), "threshold": _decoded(r["threshold"])}) for r in rows if r["checked_at"] == last]


def _decoded(text: str | None) -> Any:
    """A catalog JSON cell as its value (text that is not JSON as recorded; empty: None)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


MAX_DIFF_IDS = 1000


def diff(ds: Any, a: int, b: int) -> dict[str, Any]:
    """``{dataset, a, b, tables: {table: {added, removed, changed}}, ids: [{table, change, id}] (first 1000)}``."""
    out = dict(diff_versions(ds.path, a, b))
    ids = out.get("ids")
    if ids is not None and hasattr(ids, "slice"):
        out["num_ids"] = ids.num_rows
        out["ids"] = ids.slice(0, MAX_DIFF_IDS).to_pylist()
        out["ids_truncated"] = ids.num_rows > MAX_DIFF_IDS
    return _jsonable(out)


# --- catalog: lineage and SQL -------------------------------------------------------------
def lineage(state: ApiState, ds: Any, version: int | None) -> Any:
    """Lineage of one dataset version from the catalog (runs, locks, lake versions, inputs)."""
    return _jsonable(lineage_of(f"{ds.name}@{version or ds.version}", library=state.library))


def sql(state: ApiState, query: str, limit: int) -> bytes:
    """The JSON body answering one read-only query over the library (the catalog refuses anything but
    one SELECT/EXPLAIN: HTTP 400). A body over ``state.max_sql_bytes`` is refused with 422."""
    if not query.strip().rstrip(";").strip():
        raise ApiError(400, "empty SQL query", hint='Try {"query": "SELECT * FROM catalog.versions LIMIT 5"}.')
    result = run_sql(query, library=state.library)
    budget = state.max_sql_bytes
    least = _json_lower_bound(result.slice(0, limit))
    if least > budget:  # clearly too big: never turned into Python objects
        raise _too_large(f"at least {least}", budget)
    body = _to_json(rows_of(result, limit))
    if len(body) > budget:
        raise _too_large(str(len(body)), budget)
    return body


def _too_large(size: str, budget: int) -> ApiError:
    return ApiError(
        422,
        f"SQL result too large: {size} bytes of JSON, over the {budget}-byte response limit",
        hint="Add a LIMIT, select fewer or shorter columns (e.g. length(col) instead of col), or aggregate "
        "(the server sets the limit with PINLAKE_API_MAX_SQL_BYTES).",
    )


def _json_lower_bound(table: Any) -> int:
    """A cheap lower bound of the JSON size of ``table``'s rows from its Arrow buffers: string and nested
    columns take at least a quarter of their Arrow bytes as JSON (a number at least '0,' for its 8 bytes);
    bytes are sent as their length only, so binary columns do not count."""
    import pyarrow as pa

    def has_binary(t: Any) -> bool:
        if pa.types.is_dictionary(t):
            return has_binary(t.value_type)
        if (
            pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
            or pa.types.is_fixed_size_binary(t)
            or getattr(pa.types, "is_binary_view", lambda _: False)(t)
        ):
            return True
        return any(has_binary(t.field(i).type) for i in range(t.num_fields)) if t.num_fields else False

    return sum(col.nbytes for col in table.columns if not has_binary(col.type)) // 4


def _to_json(obj: Any) -> bytes:
    """JSON as FastAPI renders a returned dict (NaN and infinities as null)."""
    import pydantic_core

    return pydantic_core.to_json(obj, inf_nan_mode="null")


def rows_of(result: Any, limit: int) -> dict[str, Any]:
    """Rows of an Arrow table as JSON (first ``limit``)."""
    return {
        "columns": list(result.column_names),
        "rows": _jsonable(result.slice(0, limit).to_pylist()),
        "num_rows": result.num_rows,
        "truncated": result.num_rows > limit,
    }


# --- lake objects ------------------------------------------------------------------
def lake_object(state: ApiState, sha256: str) -> bytes:
    """The bytes of the lake object ``sha256``."""
    lib = Library(state.library)
    if not lib.lake_path.exists():
        raise NotFoundError(f"no lake object {sha256} (the library has no lake)")
    try:
        return bytes(lib.get_datalake().get_object_bytes(sha256))
    except (KeyError, FileNotFoundError, LookupError):
        raise NotFoundError(f"no lake object {sha256}") from None


# --- JSON helpers ------------------------------------------------------------------
def _jsonable(obj: Any) -> Any:
    import datetime as dt
    import enum

    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"bytes": len(obj)}
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    for attr in ("model_dump", "to_dict", "_asdict"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            return _jsonable(fn())
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return _jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "to_pylist"):
        return _jsonable(obj.to_pylist())
    return str(obj)


jsonable = _jsonable
