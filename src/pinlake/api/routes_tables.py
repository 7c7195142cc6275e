"""Table rows by group: ``/views|entities|annotations|embeddings|sources/{dataset}/{table}/``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response

from pinlake.api.deps import MAX_PAGE, ApiError, Pin, cached_read, get_state, open_for_request, pin_query, pinned, require_token
from pinlake.api.routes_media import bytes_response, guess_type
from pinlake.api.rows import GROUP_SEGMENTS, WRITABLE_SEGMENTS, row_json, validate_rows

NAME = Path(..., min_length=1, max_length=128, description="Dataset name")
TABLE = Path(..., min_length=1, max_length=128, description="Table name")

ROW_EXAMPLE = [{"id": "", "data": {"item_ref": {"name": "item", "id": "ITEM_ID"}, "category": "lesion"}}]


def _table_of(ds: Any, segment: str, table: str) -> type:
    """The schema of ``table``; 404 unless it exists and belongs to the group of ``segment``."""
    group = GROUP_SEGMENTS[segment]
    schema = ds.schema.schemas.get(table)
    if schema is None:
        raise ApiError(404, f"dataset {ds.name!r} has no table {table!r}", hint=f"Tables: {', '.join(ds.schema.tables)}")
    if schema.group != group:
        raise ApiError(404, f"table {table!r} of dataset {ds.name!r} is not in group {segment!r} (it is {schema.group!r})")
    return schema


def _rows(ds: Any, table: str, **kwargs: Any) -> list[Any]:
    if table not in ds.state.tables:  # schema table with no rows in this version
        return []
    return ds.get_data(table, **kwargs)


def _make_router(segment: str) -> APIRouter:
    router = APIRouter(prefix=f"/{segment}", tags=[segment])

    @router.get("/{dataset}/{table}/", summary=f"Rows of a table of group {segment}", response_model=list[dict[str, Any]])
    async def list_rows(
        request: Request,
        dataset: str = NAME,
        table: str = TABLE,
        limit: int = Query(50, ge=1, le=MAX_PAGE),
        skip: int = Query(0, ge=0, le=2**62),
        item_id: list[str] | None = Query(None, max_length=MAX_PAGE, description="Only rows of these items"),
        id: list[str] | None = Query(None, max_length=MAX_PAGE, description="Only these rows"),
        pin: Pin = Depends(pin_query),
    ) -> Any:
        def make() -> list[dict[str, Any]]:
            ds = pinned(request, dataset, pin)
            _table_of(ds, segment, table)
            rows = _rows(ds, table, limit=limit, skip=skip, item_ids=item_id, ids=id)
            return [row_json(ds.name, table, r) for r in rows]

        return await cached_read(request, dataset, make)

    @router.get("/{dataset}/{table}/{id}", summary=f"One row of a table of group {segment}", response_model=dict[str, Any])
    async def get_row(
        request: Request, dataset: str = NAME, table: str = TABLE, id: str = Path(..., max_length=256), pin: Pin = Depends(pin_query)
    ) -> Any:
        def make() -> dict[str, Any]:
            ds = pinned(request, dataset, pin)
            _table_of(ds, segment, table)
            rows = _rows(ds, table, ids=[id])
            if not rows:
                raise ApiError(404, f"table {table!r} of dataset {ds.name!r} has no row {id!r} at version {ds.version}")
            return row_json(ds.name, table, rows[0])

        return await cached_read(request, dataset, make)

    if segment == "views":

        @router.get("/{dataset}/{table}/{id}/media", summary="The bytes of one view (embedded, lake object or file)")
        def view_media(
            request: Request, dataset: str = NAME, table: str = TABLE, id: str = Path(..., max_length=256), pin: Pin = Depends(pin_query)
        ) -> Response:
            ds = pinned(request, dataset, pin)
            _table_of(ds, segment, table)
            rows = _rows(ds, table, ids=[id])
            if not rows:
                raise ApiError(404, f"table {table!r} of dataset {ds.name!r} has no row {id!r}")
            row = rows[0]
            data = ds.read_media(row)
            etag = getattr(row, "sha256", "") or f"{id}-{ds.state.tables.get(table)}"
            fmt = (getattr(row, "format", "") or "").lower()
            return bytes_response(request, data, guess_type(data, f"x.{fmt}" if fmt else ""), etag)

    if segment not in WRITABLE_SEGMENTS:
        return router

    def _writable(request: Request, dataset: str, table: str) -> tuple[Any, type]:
        ds = open_for_request(get_state(request), dataset)
        return ds, _table_of(ds, segment, table)

    @router.post("/{dataset}/{table}/", status_code=201, dependencies=[Depends(require_token)], summary="Add rows (new dataset version)")
    def add_rows(
        request: Request, dataset: str = NAME, table: str = TABLE, body: Any = Body(..., examples=[ROW_EXAMPLE])
    ) -> dict[str, Any]:
        ds, schema = _writable(request, dataset, table)
        rows = validate_rows(schema, body, table)
        ids = ds.add_data(table, rows)
        return {"ids": ids, "dataset_version": ds.version}

    @router.put("/{dataset}/{table}/", dependencies=[Depends(require_token)], summary="Update rows by id (new dataset version)")
    def update_rows(
        request: Request, dataset: str = NAME, table: str = TABLE, body: Any = Body(..., examples=[ROW_EXAMPLE])
    ) -> dict[str, Any]:
        ds, schema = _writable(request, dataset, table)
        rows = validate_rows(schema, body, table, require_id=True)
        ids = ds.update_data(table, rows)
        return {"ids": ids, "dataset_version": ds.version}

    @router.delete("/{dataset}/{table}/", dependencies=[Depends(require_token)], summary="Delete rows by id (new dataset version)")
    def delete_rows(
        request: Request, dataset: str = NAME, table: str = TABLE, ids: list[str] = Query(..., min_length=1, max_length=MAX_PAGE)
    ) -> dict[str, Any]:
        ds, _ = _writable(request, dataset, table)
        deleted = ds.delete_data(table, ids)
        if not deleted:
            raise ApiError(404, f"table {table!r} of dataset {ds.name!r} has none of the ids {ids[:5]}")
        return {"ids": deleted, "dataset_version": ds.version}

    return router


routers = [_make_router(segment) for segment in GROUP_SEGMENTS]
