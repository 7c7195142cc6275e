"""Datasets, versions, diff, lineage, preview and SQL."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from pinlake.api import deps
from pinlake.api.deps import MAX_PAGE, ApiError, Pin, get_state, jsonable, open_for_request, pin_query, pinned, request_user, require_token
from pinlake.datasets.finalize import human_size
from pinlake.library.connection import Library
from pinlake.library.diff import diff_versions
from pinlake.library.info import listing_key, summaries
from pinlake.library.restore import restore_version
from pinlake.library.versions import ChannelState
from pinlake.storage import S3Path

router = APIRouter(tags=["datasets"])

NAME = Path(..., min_length=1, max_length=128, description="Dataset name")


def version_json(entry: Any, tags: dict[int, list[str]], channels: ChannelState | None = None) -> dict[str, Any]:
    """One version of the log; ``channels`` (:func:`deps.channels`, read once per request) gives its
    ``status`` and ``failed_checks``."""
    out = entry.to_dict()
    lin = entry.lineage
    out["tags"] = tags.get(entry.dataset_version, [])
    out.update(deps.version_status(channels, entry))
    out["summary"] = {
        "run_id": lin.get("pinlake.run_id", ""),
        "flow_run_id": lin.get("pinlake.flow_run_id", ""),
        "lock_hash": lin.get("pinlake.lock_hash", ""),
        "recipe_hash": lin.get("pinlake.recipe_hash", ""),
        "lake_version": lin.get("pinlake.lake_version", ""),
        "code_version": lin.get("pinlake.code_version", ""),
        "user": lin.get("pinlake.user", ""),
        "source_kind": lin.get("pinlake.source_kind", ""),
        "items": lin.get("pinlake.items", ""),
        "base_version": lin.get("pinlake.base_version", ""),
        "restored_from": lin.get("pinlake.restored_from", ""),
    }
    return out


def dataset_json(ds: Any, versions: list[Any] | None = None, channels: ChannelState | None = None) -> dict[str, Any]:
    """``versions``: the version log, ``channels``: its channel state, when the caller has already read them."""
    latest = ds.state if ds.read_only else (versions if versions is not None else ds.versions())[-1]
    summary = {
        "dataset_version": ds.version,
        "id": ds.id,
        "title": ds.info.name,
        "description": ds.info.description,
        "num_items": ds.num_items,
        "rows": ds.state.rows,
        "size_bytes": ds.size_bytes(),
        "created_at": jsonable(latest.created_at),
    }
    preview = f"/datasets/{quote(ds.name)}/preview.png" + (f"?version={ds.version}" if ds.read_only else "")
    out = summary_json(
        ds.name, summary, channels if channels is not None else deps.channels(ds), preview if ds.preview_path.is_file() else None
    )
    return {**out, "size": ds.info.size, "latest_version": latest.dataset_version}


def summary_json(name: str, summary: dict[str, Any], channels: ChannelState, preview_url: str | None) -> dict[str, Any]:
    """A dataset as listed, from a version's summary (summary.json, or what :func:`dataset_json` reads)."""
    version = summary["dataset_version"]
    return {
        "name": name,
        "id": summary.get("id") or name,
        "title": summary.get("title") or name,
        "description": summary.get("description", ""),
        "num_items": summary.get("num_items", 0),
        "rows": summary.get("rows", {}),
        "size": human_size(summary.get("size_bytes", 0)),
        "size_bytes": summary.get("size_bytes", 0),
        "version": version,
        "latest_version": version,
        "updated_at": summary.get("created_at"),
        "channel": channels.channel,  # the channel refreshes publish on (None: not gated)
        "published": dict(channels.published),  # {channel: version}
        "preview_url": preview_url,
    }


@router.get(
    "/datasets/",
    summary="Datasets of the library",
    description="Each dataset's latest version from its summary (one small file per dataset, one catalog read for the channels).",
)
async def list_datasets(request: Request) -> list[dict[str, Any]]:
    # the answer is reused while listing_key (a few hundred stats) is unchanged: that check runs on
    # the event loop, a new listing in the thread pool
    state = get_state(request)
    lib = Library(state.library)
    key = listing_key(lib)
    if key is not None and state.listing is not None and state.listing[0] == key:
        return Response(state.listing[1], media_type="application/json")  # type: ignore[return-value]
    body = await run_in_threadpool(new_listing, state, lib)
    if key is not None:
        state.listing = (key, body)
    return Response(body, media_type="application/json")  # type: ignore[return-value]


def new_listing(state: Any, lib: Library) -> bytes:
    """``GET /datasets/``'s answer as JSON, made from the summaries."""
    out = []
    for warning in lib.incomplete_warnings():
        logging.getLogger("pinlake.api").warning(warning)
    for name, summary, channels in summaries(lib):
        try:
            if summary is not None:
                preview = f"/datasets/{quote(name)}/preview.png" if (lib.path / name / "preview.png").is_file() else None
                out.append(summary_json(name, summary, channels, preview))
            else:  # written before summaries: opened
                out.append(dataset_json(open_for_request(state, name), channels=channels))
        except Exception as exc:  # noqa: BLE001 - one broken dataset must not hide the others
            out.append({"name": name, "error": str(exc)})
    return json.dumps(out, default=str).encode()


@router.get("/datasets/{dataset}", summary="Info, schema, stats and versions of a dataset")
def get_dataset(request: Request, dataset: str = NAME, pin: Pin = Depends(pin_query)) -> dict[str, Any]:
    ds = pinned(request, dataset, pin)
    schema = ds.schema.to_dict()
    tables = {
        t: {
            "group": s.group,
            "base_schema": schema["schemas"][t]["base_schema"],
            "schema": s.__name__,
            "rows": ds.state.rows.get(t, 0),
        }
        for t, s in ds.schema.schemas.items()
    }
    log = ds.versions()
    channels = deps.channels(ds)
    tags = deps.list_tags(ds, log, channels)
    return {
        **dataset_json(ds, log, channels),
        "info": ds.info.model_dump(mode="json"),
        "schema": schema,
        "tables": tables,
        "splits": ds.splits() if "item" in ds.state.tables else {},
        "stats": ds.stats,
        "versions": [version_json(v, tags, channels) for v in log],
    }


@router.get("/datasets/{dataset}/versions", summary="The version log of a dataset, with lineage, tags and channel status")
def versions(request: Request, dataset: str = NAME) -> list[dict[str, Any]]:
    ds = open_for_request(get_state(request), dataset)
    log = ds.versions()
    channels = deps.channels(ds)
    tags = deps.list_tags(ds, log, channels)
    return [version_json(v, tags, channels) for v in log]


@router.get(
    "/datasets/{dataset}/checks",
    summary="Quality checks of a dataset version (default: the latest)",
    description="The `catalog.checks` rows of the last audit of that version (a gated refresh, or `pinlake publish`); "
    "`value` and `threshold` decoded from JSON. Empty when it was never audited.",
)
def checks(request: Request, dataset: str = NAME, pin: Pin = Depends(pin_query)) -> list[dict[str, Any]]:
    ds = pinned(request, dataset, pin)
    return deps.checks_of(get_state(request), ds, ds.version)


@router.get("/datasets/{dataset}/diff", summary="What changed between two dataset versions")
def diff(
    request: Request,
    dataset: str = NAME,
    a: int = Query(..., ge=1, le=2**62, description="Older version"),
    b: int | None = Query(None, ge=1, le=2**62, description="Newer version (default: latest)"),
    include_meta: bool = Query(False, description="Also compare the bookkeeping columns (created_at, updated_at)"),
) -> Any:
    ds = open_for_request(get_state(request), dataset)
    b = b or ds.version
    known = {v.dataset_version for v in ds.versions()}
    for v in (a, b):
        if v not in known:
            raise ApiError(404, f"dataset {ds.name!r} has no version {v}")

    out = dict(diff_versions(ds.path, a, b, include_meta=include_meta))  # first MAX_DIFF_IDS ids, as deps.diff
    ids = out["ids"]
    out.update(num_ids=ids.num_rows, ids=ids.slice(0, deps.MAX_DIFF_IDS).to_pylist(), ids_truncated=ids.num_rows > deps.MAX_DIFF_IDS)
    return jsonable(out)


@router.get(
    "/datasets/{dataset}/preview.png", summary="Preview image of a dataset version (default: the latest)", response_class=FileResponse
)
def preview(request: Request, dataset: str = NAME, pin: Pin = Depends(pin_query)) -> Response:
    ds = pinned(request, dataset, pin)
    path = ds.preview_path  # the preview of that version (_meta/<N>/preview.png)

    if isinstance(path, S3Path):  # a library on S3: the object's bytes
        if not path.uri.startswith(ds.path.uri.rstrip("/") + "/") or not path.is_file():
            raise ApiError(404, f"dataset {ds.name!r} has no preview", hint=f"Run `pinlake preview {ds.name}`.")
        return Response(path.read_bytes(), media_type="image/png")
    if not path.is_file() or not path.resolve().is_relative_to(ds.path.resolve()):
        raise ApiError(404, f"dataset {ds.name!r} has no preview", hint=f"Run `pinlake preview {ds.name}`.")
    return FileResponse(path, media_type="image/png")


@router.get("/lineage/{dataset}", tags=["catalog"], summary="Lineage of a dataset version (runs, locks, inputs)")
def lineage(request: Request, dataset: str = NAME, pin: Pin = Depends(pin_query)) -> Any:
    ds = pinned(request, dataset, pin)
    return deps.lineage(get_state(request), ds, ds.version)


class RestoreBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(..., ge=1, le=2**62, description="The version to restore (a new version equal to it is made)")
    base_version: int | None = Field(
        None, ge=1, le=2**62, description="The latest version the caller saw: refused with 409 if the dataset moved on since"
    )
    message: str = Field("", max_length=2000, description="Why, shown in the version timeline")


@router.post(
    "/datasets/{dataset}/restore",
    dependencies=[Depends(require_token)],
    summary="Restore a version (a new version equal to it, recorded with its user)",
    responses={404: {"description": "Unknown dataset or version"}, 409: {"description": "The dataset moved on since base_version"}},
)
def restore(
    request: Request, dataset: str = NAME, body: RestoreBody = Body(..., examples=[{"version": 1, "base_version": 2}])
) -> dict[str, Any]:
    user = request_user(request)
    ds = open_for_request(get_state(request), dataset)
    entry = restore_version(ds.path, body.version, user=user, expect_latest=body.base_version, message=body.message)
    return {"dataset": ds.name, "dataset_version": entry.dataset_version, "restored_from": body.version, "user": user}


class SqlQuery(BaseModel):
    query: str = Field(..., min_length=1, max_length=20_000, description="One read-only SELECT", examples=["SELECT 1"])
    limit: int = Field(1000, ge=1, le=10_000, description="Rows returned at most")


@router.post(
    "/sql",
    tags=["catalog"],
    summary="Read-only SQL (DuckDB) over the library",
    description="One read-only statement; the JSON answer is bounded (422 over the response limit, 8 MiB by default).",
)
def sql(request: Request, body: SqlQuery = Body(...)) -> dict[str, Any]:
    content = deps.sql(get_state(request), body.query, min(body.limit, MAX_PAGE * 10))
    return Response(content, media_type="application/json")  # type: ignore[return-value]  # JSON already encoded; the annotation is for OpenAPI
