"""Dataset items with their views, entities and annotations: ``/items/{dataset}/``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from pinlake.api.deps import MAX_PAGE, ApiError, Pin, get_state, jsonable, open_for_request, pinned, require_token
from pinlake.api.rows import BodyError, row_json, validate_body

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
    pin: Pin = Depends(),
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


@router.get("/{dataset}/{id}", summary="One item with its views, entities and annotations")
def get_item(request: Request, dataset: str = NAME, id: str = Path(..., max_length=256), pin: Pin = Depends()) -> dict[str, Any]:
    ds = pinned(request, dataset, pin)
    return item_json(ds, ds.get_dataset_items(id))


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
