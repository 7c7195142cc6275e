"""Dataset items with their views, entities and annotations: ``/items/{dataset}/``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pinlake.api.deps import MAX_PAGE, ApiError, Pin, get_state, jsonable, open_for_request, pin_query, pinned, request_user, require_token
from pinlake.api.rows import BodyError, row_json, validate_body, validate_rows
from pinlake.features.groups import base_schema_of
from pinlake.library.annotate import MAX_EDIT_ROWS, TableEdits, edit_item, item_context

router = APIRouter(prefix="/items", tags=["items"])

NAME = Path(..., min_length=1, max_length=128, description="Dataset name")
GROUP_KEYS = {"views": "views", "entities": "entities", "annotations": "annotations", "embeddings": "embeddings"}

ITEM_EXAMPLE = [
    {
        "id": "",
        "split": "train",
        "image_type": "xray",
        "image": {"url": "/health_images/train/xray-train-002.jpg", "width": 256, "height": 256, "format": "JPEG"},
        "objects": [],
        "bbox": [],
        "keypoints": [],
    }
]


def item_json(ds: Any, item: Any) -> dict[str, Any]:
    """``{id, split, item{...}, views{table: row}, entities{table: [rows]}, annotations{...}, embeddings{...}}``."""
    cls = type(item)
    meta = {name: jsonable(getattr(item, name, None)) for name in cls.metadata_fields()}
    out: dict[str, Any] = {"id": item.id, "split": item.split, "item": meta}
    for key in GROUP_KEYS:
        out[key] = {}
    for table, (schema, is_list) in cls.table_fields().items():
        group = schema.group
        if group not in GROUP_KEYS:
            continue
        value = getattr(item, table, None)
        if is_list:
            out[group][table] = [row_json(ds.name, table, r) for r in (value or [])]
        else:
            out[group][table] = row_json(ds.name, table, value) if value is not None else None
    return out


def _flatten_item(raw: Any, index: int) -> dict[str, Any]:
    """Accept a flat DatasetItem dict or the shape returned by GET (item/views/entities/annotations)."""
    if not isinstance(raw, dict):
        raise BodyError([{"loc": ["body", index], "msg": "expected a JSON object", "type": "dict_type"}])
    if not any(isinstance(raw.get(k), dict) for k in ("item", *GROUP_KEYS)):
        return raw
    flat: dict[str, Any] = {k: v for k, v in raw.items() if k in ("id", "split")}
    if isinstance(raw.get("item"), dict):
        flat.update(raw["item"])
    for key in GROUP_KEYS:
        for table, value in (raw.get(key) or {}).items():
            flat[table] = value
    return flat


def _row_data(value: Any) -> Any:
    if isinstance(value, list):
        return [_row_data(v) for v in value]
    if isinstance(value, dict) and isinstance(value.get("data"), dict):
        return {**value["data"], **({"id": value["id"]} if value.get("id") else {})}
    return value


def validate_items(ds: Any, body: Any, require_id: bool = False) -> list[Any]:
    cls = ds.dataset_item
    tables = cls.table_fields()

    def flatten(raw: Any, index: int) -> dict[str, Any]:
        return {k: (_row_data(v) if k in tables else v) for k, v in _flatten_item(raw, index).items()}

    return validate_body(cls, body, flatten, "item", require_id)


@router.get("/{dataset}/", summary="Items with their views, entities and annotations")
def list_items(
    request: Request,
    dataset: str = NAME,
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    skip: int = Query(0, ge=0, le=2**62),
    split: str | None = Query(None, max_length=200),
    pin: Pin = Depends(pin_query),
) -> dict[str, Any]:
    ds = pinned(request, dataset, pin)
    where = "split = '" + split.replace("'", "''") + "'" if split else None
    items = ds.get_data("item", where=where, limit=limit, skip=skip)
    total = ds.to_arrow("item", columns=["id"], filter=where).num_rows if where else ds.num_items
    return {
        "dataset": ds.name,
        "dataset_version": ds.version,
        "total": total,
        "limit": limit,
        "skip": skip,
        "items": [item_json(ds, it) for it in ds.assemble(items)],
    }


@router.get(
    "/{dataset}/{id}",
    summary="One item with its views, entities and annotations",
    description="Also `dataset_version` (the version read: an edit names it as its `base_version`), `sources` "
    "(the source rows its annotations point at, by id) and `categories` (per entity table with a category: the "
    "dataset's categories, then every one its entities use) and `tables` (group and base schema of each table; a "
    "bbox table also says `normalized`: whether most of the dataset's boxes of this version are normalised, null "
    "while it has none: the editor draws new boxes that way).",
)
def get_item(request: Request, dataset: str = NAME, id: str = Path(..., max_length=256), pin: Pin = Depends(pin_query)) -> dict[str, Any]:
    ds = pinned(request, dataset, pin)
    item = ds.get_dataset_items(id)
    context = item_context(ds, item)
    return {
        **item_json(ds, item),
        "dataset_version": ds.version,
        "sources": {sid: row_json(ds.name, "source", row) for sid, row in context["sources"].items()},
        "categories": context["categories"],
        "tables": {
            t: {
                "group": schema.group,
                "base_schema": base_schema_of(schema).__name__,
                **({"normalized": context["normalized"][t]} if t in context["normalized"] else {}),
            }
            for t, (schema, _is_list) in type(item).table_fields().items()
        },
    }


# --- the editor's save: one item's edits as one version -------------------------------------------------
ID = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TableEditsBody(BaseModel):
    """The edits of one entity or annotation table: rows in the shape GET returns (``{id, data}``) or flat."""

    model_config = ConfigDict(extra="forbid")
    add: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_EDIT_ROWS, description="New rows (no id: one is made)")
    update: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_EDIT_ROWS, description="Whole rows replacing theirs, by id")
    delete: list[ID] = Field(
        default_factory=list, max_length=MAX_EDIT_ROWS, description="Ids to delete; an entity takes its annotations with it"
    )


class ItemEditBody(BaseModel):
    """One save of the editor: every edit of one item, applied as one dataset version."""

    model_config = ConfigDict(extra="forbid")
    base_version: int = Field(..., ge=1, le=2**62, description="The version the edit was made on (`dataset_version` of GET)")
    message: str = Field("", max_length=2000, description="What the edit does, shown in the version timeline")
    tables: dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], TableEditsBody] = Field(
        ..., min_length=1, max_length=64, description="Edits per entity or annotation table"
    )


class ItemEditResponse(BaseModel):
    dataset: str
    item_id: str
    dataset_version: int = Field(description="The new version")
    base_version: int
    source_id: str = Field(description="The `human` source row the added and changed annotations point at")
    ids: list[str] = Field(description="Ids of the added rows")
    added: dict[str, list[str]]
    updated: dict[str, list[str]]
    deleted: dict[str, list[str]] = Field(description="Deleted ids per table, an entity's annotations included")


EDIT_EXAMPLE = {
    "base_version": 1,
    "message": "box the left lung",
    "tables": {
        "objects": {"add": [{"id": "e1", "data": {"view_ref": {"name": "image", "id": "VIEW_ID"}, "category": "lung"}}]},
        "bbox": {
            "add": [
                {
                    "data": {
                        "view_ref": {"name": "image", "id": "VIEW_ID"},
                        "entity_ref": {"name": "objects", "id": "e1"},
                        "coords": [10, 20, 30, 40],
                    }
                }
            ]
        },
    },
}


@router.post(
    "/{dataset}/{id}/edits",
    dependencies=[Depends(require_token)],
    response_model=ItemEditResponse,
    summary="Save an item's edits (one new dataset version, by a human)",
    description="Adds, updates and deletes entities and annotations of one item as ONE new version, recorded with "
    "source kind `human`, the user, the message and the item id. Rows are validated by the dataset's schemas (422 naming "
    "`body.tables.<table>.<add|update>.<i>.<field>`); unknown item or row ids are 404; an edit whose `base_version` is "
    "older than the latest, where rows it touches changed since, is refused with 409 and nothing is written.",
    responses={404: {"description": "Unknown dataset, item, version or row ids"}, 409: {"description": "Rows changed since base_version"}},
)
def edit(
    request: Request, dataset: str = NAME, id: str = Path(..., max_length=256), body: ItemEditBody = Body(..., examples=[EDIT_EXAMPLE])
) -> dict[str, Any]:
    user = request_user(request)
    ds = open_for_request(get_state(request), dataset)
    tables: dict[str, TableEdits] = {}
    detail: list[dict[str, Any]] = []
    for table, e in body.tables.items():
        schema = ds.schema.schemas.get(table)
        if schema is None:
            raise BodyError(
                [{"loc": ["body", "tables", table], "msg": f"dataset {ds.name!r} has no table {table!r}", "type": "value_error"}]
            )
        rows: dict[str, list[Any]] = {}
        for kind in ("add", "update"):
            try:
                loc = ("body", "tables", table, kind)
                rows[kind] = validate_rows(schema, getattr(e, kind), table, require_id=kind == "update", loc=loc, allow_empty=True)
            except BodyError as exc:
                detail.extend(exc.detail)
        if not detail:
            tables[table] = TableEdits(add=rows["add"], update=rows["update"], delete=list(e.delete))
    if detail:
        raise BodyError(detail)
    result = edit_item(ds, id, tables, base_version=body.base_version, user=user, message=body.message).to_dict()
    return {**result, "ids": [i for ids in result["added"].values() for i in ids]}


@router.post("/{dataset}/", status_code=201, dependencies=[Depends(require_token)], summary="Add items (new dataset version)")
def add_items(request: Request, dataset: str = NAME, body: Any = Body(..., examples=[ITEM_EXAMPLE])) -> dict[str, Any]:
    ds = open_for_request(get_state(request), dataset)
    ids = ds.add_dataset_items(validate_items(ds, body))
    return {"ids": ids, "dataset_version": ds.version}


@router.put("/{dataset}/", dependencies=[Depends(require_token)], summary="Replace items by id (new dataset version)")
def update_items(request: Request, dataset: str = NAME, body: Any = Body(..., examples=[ITEM_EXAMPLE])) -> dict[str, Any]:
    ds = open_for_request(get_state(request), dataset)
    ids = ds.update_dataset_items(validate_items(ds, body, require_id=True))
    return {"ids": ids, "dataset_version": ds.version}


@router.delete("/{dataset}/", dependencies=[Depends(require_token)], summary="Delete items and their rows (new dataset version)")
def delete_items(request: Request, dataset: str = NAME, ids: list[str] = Query(..., min_length=1, max_length=MAX_PAGE)) -> dict[str, Any]:
    ds = open_for_request(get_state(request), dataset)
    deleted = ds.delete_dataset_items(ids)
    if not deleted:
        raise ApiError(404, f"dataset {ds.name!r} has none of the items {ids[:5]}")
    return {"ids": deleted, "dataset_version": ds.version}
