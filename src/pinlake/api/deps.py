"""Shared state of the API and the adapters to the layers it reads.

Everything the routers need from outside :mod:`pinlake.datasets` goes through this module: the lake
(objects by sha256), the version history (tags, diff) and the catalog (lineage, SQL). Those layers
are imported lazily, inside the call; when one is not available the adapter raises
:class:`NotAvailable`, which the app answers with ``501`` and a JSON error. Wiring a layer (or
changing its call) is an edit here only.
"""

from __future__ import annotations

import hmac
import importlib
import inspect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pinlake.errors import NotFoundError, ValidationError

MAX_PAGE = 1000
MAX_BODY_BYTES = 16 * 1024 * 1024


class ApiError(Exception):
    """An HTTP error with a JSON body ``{"error": message, "hint": hint}``."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


class NotAvailable(ApiError):
    """A layer the endpoint needs is not installed/wired yet (HTTP 501)."""

    def __init__(self, what: str, module: str) -> None:
        super().__init__(501, f"{what} is not available in this installation", hint=f"needs module {module}")


@dataclass
class ApiState:
    library: Any  # a Path, or an S3Path (pinlake.storage)
    media_dir: Path | None = None
    token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def get_state(request: Request) -> ApiState:
    return request.app.state.pinlake


# --- auth --------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="PINLAKE_API_TOKEN, needed for writes")


def require_token(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    token = get_state(request).token
    if not token:
        raise ApiError(401, "writes are disabled: the server has no API token", hint="Start the server with PINLAKE_API_TOKEN set.")
    if creds is None or not hmac.compare_digest(creds.credentials.encode(), token.encode()):
        raise ApiError(401, "missing or wrong bearer token", hint="Send 'Authorization: Bearer <PINLAKE_API_TOKEN>'.")


# --- datasets ------------------------------------------------------------------
def _optional_module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with the keyword arguments it accepts."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return fn(*args, **kwargs)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    return fn(*args, **{k: v for k, v in kwargs.items() if k in params})


def open_dataset(state: ApiState, name: str, version: int | None = None, tag: str | None = None) -> Any:
    """The dataset ``name`` of the library, at its latest version, ``version`` or ``tag``."""
    from pinlake.library import Library

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
    """Query parameters ``?version=N`` / ``?tag=NAME`` of every read."""

    def __init__(
        self,
        version: int | None = Query(None, ge=1, le=2**62, description="Dataset version to read"),
        tag: str | None = Query(None, min_length=1, max_length=200, description="Tag naming a dataset version"),
    ) -> None:
        self.version = version
        self.tag = tag


def pinned(request: Request, name: str, pin: Pin) -> Any:
    return open_dataset(get_state(request), name, pin.version, pin.tag)


# --- history: tags and diff ---------------------------------------------------------
HISTORY = "pinlake.datasets.history"


def _history() -> Any:
    return _optional_module(HISTORY)


def resolve_tag(ds: Any, tag: str) -> int:
    """The dataset version a tag (or a lock hash prefix) names."""
    mod = _history()
    if mod is None or not hasattr(mod, "resolve"):
        raise NotAvailable("reading a version by tag", HISTORY)
    return int(mod.resolve(ds.path, tag=tag).dataset_version)


def list_tags(ds: Any) -> dict[int, list[str]]:
    """{dataset_version: [tag, ...]} (empty when the history layer is absent)."""
    mod = _history()
    if mod is None or not hasattr(mod, "tags_of"):
        return {}
    out: dict[int, list[str]] = {}
    for name, version in sorted(mod.tags_of(ds.path).items()):
        out.setdefault(int(version), []).append(str(name))
    return out


MAX_DIFF_IDS = 1000


def diff(ds: Any, a: int, b: int) -> dict[str, Any]:
    """``{dataset, a, b, tables: {table: {added, removed, changed}}, ids: [{table, change, id}] (first 1000)}``."""
    mod = _history()
    if mod is None or not hasattr(mod, "diff_versions"):
        raise NotAvailable("diff between versions", HISTORY)
    out = dict(mod.diff_versions(ds.path, a, b))
    ids = out.get("ids")
    if ids is not None and hasattr(ids, "slice"):
        out["num_ids"] = ids.num_rows
        out["ids"] = ids.slice(0, MAX_DIFF_IDS).to_pylist()
        out["ids_truncated"] = ids.num_rows > MAX_DIFF_IDS
    return _jsonable(out)


# --- catalog: lineage and SQL -------------------------------------------------------------
CATALOG = "pinlake.catalog"


def _first_callable(candidates: tuple[tuple[str, str], ...]) -> Callable[..., Any] | None:
    """The first ``module:attr`` of ``candidates`` that exists and is callable."""
    for module, attr in candidates:
        try:
            mod = _optional_module(module)
            fn = getattr(mod, attr, None) if mod is not None else None
        except ModuleNotFoundError as exc:  # a lazy attribute pointing at a module not written yet
            if not (exc.name or "").startswith("pinlake"):
                raise
            fn = None
        if callable(fn) and not inspect.ismodule(fn):
            return fn
    return None


LINEAGE_FUNCS = (
    (CATALOG + ".lineage", "lineage_of"),  # lineage_of("name@version", library=...)
    (CATALOG, "lineage"),
    (CATALOG + ".lineage", "lineage"),
    (CATALOG + ".lineage", "dataset_lineage"),
    (CATALOG, "get_lineage"),
)
SQL_FUNCS = ((CATALOG, "sql"), (CATALOG + ".sql", "sql"), (CATALOG + ".query", "sql"), ("pinlake", "sql"))


def lineage(state: ApiState, ds: Any, version: int | None) -> Any:
    """Lineage of one dataset version from the catalog (runs, locks, lake versions, inputs)."""
    fn = _first_callable(LINEAGE_FUNCS)
    if fn is None:
        raise NotAvailable("the lineage catalog", CATALOG)
    if fn.__name__ == "lineage_of":
        return _jsonable(_call(fn, f"{ds.name}@{version or ds.version}", library=state.library))
    return _jsonable(_call(fn, ds.name, version=version, library=state.library, dataset=ds.name))


_SQL_FORBIDDEN = re.compile(
    r"\b(insert|update|delete|merge|create|drop|alter|attach|detach|copy|export|import|install|load|pragma|set|reset|"
    r"call|checkpoint|vacuum|truncate|grant|use|begin|commit|rollback)\b|\b(read_\w+|glob|\w+_scan|getenv)\s*\(",
    re.IGNORECASE,
)


def check_read_only_sql(query: str) -> None:
    """Refuse (400) anything but one read-only SELECT."""
    stripped = re.sub(r"'(?:[^']|'')*'", "''", query)  # ignore string literals
    stripped = re.sub(r"--[^\n]*|/\*.*?\*/", " ", stripped, flags=re.S)
    body = stripped.strip().rstrip(";").strip()
    if not body:
        raise ApiError(400, "empty SQL query")
    if ";" in body:
        raise ApiError(400, "one statement only")
    if not re.match(r"(?is)^\s*(select|with|from|values|describe|show|summarize|explain)\b", body):
        raise ApiError(400, "only read-only queries (SELECT) are allowed")
    bad = _SQL_FORBIDDEN.search(body)
    if bad:
        raise ApiError(400, f"only read-only queries are allowed (found {bad.group(0).strip()!r})")
    try:
        import duckdb

        for st in duckdb.extract_statements(query):
            if st.type.name not in ("SELECT", "EXPLAIN"):
                raise ApiError(400, f"only read-only queries are allowed (statement type {st.type.name})")
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - parse errors
        raise ApiError(400, f"invalid SQL: {exc}") from None


def sql(state: ApiState, query: str, limit: int) -> dict[str, Any]:
    check_read_only_sql(query)
    fn = _first_callable(SQL_FUNCS)
    if fn is None:
        raise NotAvailable("SQL over the library", CATALOG)
    result = _call(fn, query, library=state.library)
    return rows_of(result, limit)


def rows_of(result: Any, limit: int) -> dict[str, Any]:
    """Rows of a query result (DuckDB relation, Arrow table, pandas frame or list of dicts) as JSON."""
    if hasattr(result, "arrow") and callable(result.arrow):
        result = result.arrow()
    if hasattr(result, "read_all"):
        result = result.read_all()
    if hasattr(result, "to_pylist") and hasattr(result, "column_names"):
        columns = list(result.column_names)
        rows = result.slice(0, limit).to_pylist()
        total = result.num_rows
    elif hasattr(result, "to_dict") and hasattr(result, "columns"):
        columns = [str(c) for c in result.columns]
        rows = result.head(limit).to_dict(orient="records")
        total = len(result)
    else:
        rows = list(result or [])
        total = len(rows)
        rows = rows[:limit]
        columns = list(rows[0]) if rows and isinstance(rows[0], dict) else []
    return {"columns": columns, "rows": _jsonable(rows), "num_rows": total, "truncated": total > limit}


# --- lake objects ------------------------------------------------------------------
LAKE = "pinlake.lake"


def lake_object(state: ApiState, sha256: str) -> tuple[bytes, str | None]:
    """(bytes, media type or None) of the lake object ``sha256``."""
    mod = _optional_module(LAKE)
    lake_cls = getattr(mod, "Lake", None) if mod else None
    if lake_cls is None or not hasattr(lake_cls, "get_object_bytes"):
        raise NotAvailable("reading lake objects", f"{LAKE} (Lake.get_object_bytes)")
    lake_path = state.library / "_lake"
    if not lake_path.exists():
        raise NotFoundError(f"no lake object {sha256} (the library has no lake)")
    lake = lake_cls(lake_path)
    try:
        data = lake.get_object_bytes(sha256)
    except (KeyError, FileNotFoundError, LookupError):
        raise NotFoundError(f"no lake object {sha256}") from None
    media_type = None
    getter = getattr(lake, "get_object_media_type", None)
    if callable(getter):
        try:
            media_type = getter(sha256)
        except Exception:  # noqa: BLE001 - the type is optional
            media_type = None
    return bytes(data), media_type


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
