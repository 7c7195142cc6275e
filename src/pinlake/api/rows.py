"""Rows as JSON (Pixano's REST shape) and request bodies back to validated rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from pinlake.api.deps import ApiError, jsonable
from pinlake.features.base import BaseSchema, SchemaRef
from pinlake.features.groups import base_schema_of

# URL segment of each schema group, and the reverse
GROUP_SEGMENTS = {
    "views": "views",
    "entities": "entities",
    "annotations": "annotations",
    "embeddings": "embeddings",
    "sources": "source",
}
WRITABLE_SEGMENTS = ("views", "entities", "annotations")
SYSTEM_FIELDS = ("id", "created_at", "updated_at")


def media_url(dataset: str, table: str, row: Any) -> str | None:
    """Where the browser fetches the bytes of a view row: /media, /objects or the view's own media route."""
    url = getattr(row, "url", None)
    content = getattr(row, "content", None)
    if content:
        return f"/views/{quote(dataset)}/{quote(table)}/{quote(row.id)}/media"
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("lake://"):
        sha = url[len("lake://") :] or getattr(row, "sha256", "")
        return f"/objects/{quote(sha)}"
    if "://" in url:
        return url if url.startswith(("http://", "https://")) else None
    return "/media/" + quote(url.lstrip("/"))


def row_json(dataset: str, table: str, row: BaseSchema) -> dict[str, Any]:
    """``{id, created_at, updated_at, table_info{name, group, base_schema}, data{...}}``; bytes never inline."""
    schema = type(row)
    data: dict[str, Any] = {}
    for name in schema.model_fields:
        if name in SYSTEM_FIELDS:
            continue
        v = getattr(row, name, None)
        if isinstance(v, SchemaRef):
            v = {"name": v.name, "id": v.id}
        elif isinstance(v, (bytes, bytearray, memoryview)):
            v = None  # length and url below
        data[name] = jsonable(v)
    out: dict[str, Any] = {
        "id": row.id,
        "created_at": jsonable(getattr(row, "created_at", None)),
        "updated_at": jsonable(getattr(row, "updated_at", None)),
        "table_info": {"name": table, "group": schema.group, "base_schema": base_schema_of(schema).__name__},
        "data": data,
    }
    lengths = {n: len(getattr(row, n)) for n in schema.model_fields if isinstance(getattr(row, n, None), (bytes, bytearray, memoryview))}
    if lengths:
        out["bytes"] = lengths
    if schema.group == "views":
        out["media_url"] = media_url(dataset, table, row)
    return out


def _flatten(raw: Any, index: int) -> dict[str, Any]:
    """Accept a flat row or Pixano's ``{id, data: {...}}`` shape."""
    if not isinstance(raw, dict):
        raise ApiError(422, f"row {index}: expected a JSON object, got {type(raw).__name__}")
    if isinstance(raw.get("data"), dict):
        row = dict(raw["data"])
        for k in SYSTEM_FIELDS:
            if raw.get(k) is not None:
                row.setdefault(k, raw[k])
        return row
    return {k: v for k, v in raw.items() if k not in ("table_info", "media_url", "bytes")}


def validation_detail(exc: PydanticValidationError, prefix: list[Any]) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


class BodyError(ApiError):
    """422 with FastAPI-style ``detail`` naming the fields."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        first = detail[0] if detail else {"loc": [], "msg": "invalid body"}
        where = ".".join(str(x) for x in first["loc"])
        super().__init__(422, f"invalid body: field {where!r}: {first['msg']}")
        self.detail = detail


def validate_body(
    model: type[BaseModel],
    body: Any,
    flatten: Callable[[Any, int], dict[str, Any]],
    what: str,
    require_id: bool = False,
    *,
    loc: Sequence[Any] = ("body",),
    allow_empty: bool = False,
) -> list[Any]:
    """Each object of ``body`` (one or a list), flattened then validated as ``model``; one 422 naming every
    bad field (``loc``: where the list is in the request, e.g. ``("body", "tables", "bbox", "add")``)."""
    raws = body if isinstance(body, list) else [body]
    if not raws and not allow_empty:
        raise BodyError([{"loc": list(loc), "msg": f"no {what}s given", "type": "value_error"}])
    out, detail = [], []
    for i, raw in enumerate(raws):
        flat = flatten(raw, i)
        if require_id and not flat.get("id"):
            detail.append({"loc": [*loc, i, "id"], "msg": f"Field required (the id of the {what} to update)", "type": "missing"})
            continue
        try:
            out.append(model.model_validate(flat))
        except PydanticValidationError as exc:
            detail.extend(validation_detail(exc, [*loc, i]))
    if detail:
        raise BodyError(detail)
    return out


def validate_rows(
    schema: type[BaseModel], body: Any, table: str, require_id: bool = False, *, loc: Sequence[Any] = ("body",), allow_empty: bool = False
) -> list[BaseModel]:
    return validate_body(schema, body, _flatten, "row", require_id, loc=loc, allow_empty=allow_empty)
