"""Processings: named functions run over selected data whose outputs become metadata and tags.

Register one with ``@register_processing("name")`` or through the entry point group
``pinlake.processings``. A processing is called as ``fn(lake, data, parameters)`` and returns
a :class:`ProcessingOutput` (or a dict ``{data_id: update}``); an update may hold ``metadata``
(merged into the row's metadata), ``tags`` (added), ``width`` and ``height``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

from pinlake.errors import NotFoundError, ValidationError
from pinlake.lake import tags as tagmod
from pinlake.lake.lance_tables import DATA, lake_rows_table, sql_in
from pinlake.lake.query import check_q, select

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.lake.lake import Lake
    from pinlake.lake.models import MultiData

ProcessingFn = Callable[["Lake", "MultiData", dict[str, Any]], Any]
_REGISTRY: dict[str, ProcessingFn] = {}
ENTRY_POINT_GROUP = "pinlake.processings"


@dataclass
class ProcessingOutput:
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (data id or object name, reason)


@dataclass
class ProcessingResult:
    """What a run did (job-like): status is 'success', 'partial' or 'failed'."""

    processing: str
    status: str
    processed: int
    updated: int
    failed: int
    errors: list[tuple[str, str]]
    lake_version: int

    def __repr__(self) -> str:
        return f"ProcessingResult({self.processing!r}, status={self.status}, processed={self.processed}, updated={self.updated}, failed={self.failed})"


def register_processing(name: str) -> Callable[[ProcessingFn], ProcessingFn]:
    def deco(fn: ProcessingFn) -> ProcessingFn:
        _REGISTRY[name] = fn
        return fn

    return deco


def get_processing(name: str) -> ProcessingFn:
    if name not in _REGISTRY:
        for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                _REGISTRY[name] = ep.load()
    if name not in _REGISTRY:
        raise NotFoundError(f"no processing named {name!r}", hint=f"Known: {', '.join(list_processings())}.")
    return _REGISTRY[name]


def list_processings() -> list[str]:
    names = set(_REGISTRY)
    names.update(ep.name for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def run(lake: Lake, processing: Any, data: MultiData, parameters: dict[str, Any] | None) -> ProcessingResult:
    label: Any = getattr(processing, "name", None)
    name: str = processing if isinstance(processing, str) else label or getattr(processing, "__name__", str(processing))
    fn = processing if callable(processing) else get_processing(name)
    out = fn(lake, data, dict(parameters or {}))
    if isinstance(out, dict):
        out = ProcessingOutput(updates=out)
    updated = apply_updates(lake, out.updates, name)
    failed = len(out.errors)
    status = "success" if not failed else ("partial" if len(data) > failed else "failed")
    return ProcessingResult(name, status, len(data), updated, failed, list(out.errors), lake.version)


def apply_updates(lake: Lake, updates: dict[str, dict[str, Any]], name: str) -> int:
    """Write all updates in one commit (one lake version per run)."""
    if not updates:
        return 0

    store = lake.store
    with store.write_lock():
        new_tags = sorted({t for u in updates.values() for t in u.get("tags", [])})
        if new_tags:
            tagmod.get_or_create(store, tagmod.TAGS, new_tags)
        rows = store.open(DATA).to_table(filter=sql_in("id", list(updates))).to_pylist()
        changed = []
        for r in rows:
            u = updates[r["id"]]
            before = dict(r)
            if u.get("metadata"):
                meta = json.loads(r["metadata"]) if r["metadata"] else {}
                meta.update(u["metadata"])
                r["metadata"] = json.dumps(meta, sort_keys=True, default=str)
            for t in u.get("tags", []):
                if t not in (r["tags"] or []):
                    r["tags"] = list(r["tags"] or []) + [t]
            for key in ("width", "height"):
                if u.get(key) is not None:
                    r[key] = int(u[key])
            if r != before:
                changed.append(r)
        if changed:
            store.upsert_data(lake_rows_table(changed))
    return len(changed)


@register_processing("image-stats")
def image_stats(lake: Lake, data: MultiData, parameters: dict[str, Any]) -> ProcessingOutput:
    """Width, height and mean intensity of each image, into metadata (``mean_intensity``)."""
    import numpy as np
    from PIL import Image

    out = ProcessingOutput()
    for d in data:
        if not (d.media_type or "").startswith("image/"):
            continue
        try:
            with Image.open(io.BytesIO(d.get_bytes())) as img:
                arr = np.asarray(img.convert("L") if img.mode not in ("L", "I", "I;16", "F") else img)
                w, h = img.size
            out.updates[d.id] = {"width": w, "height": h, "metadata": {"mean_intensity": round(float(arr.mean()), 4)}}
        except Exception as exc:  # noqa: BLE001
            out.errors.append((d.object_name, f"{exc.__class__.__name__}: {exc}"))
    return out


@register_processing("auto-tag")
def auto_tag(lake: Lake, data: MultiData, parameters: dict[str, Any]) -> ProcessingOutput:
    """Tag the data matching a SQL predicate: ``{"tag": "big", "where": "width > 100"}``."""
    tag, where = parameters.get("tag"), parameters.get("where")
    if not tag or not where:
        raise ValidationError("auto-tag needs parameters 'tag' and 'where'", hint='Example: {"tag": "big", "where": "width > 100"}.')

    ids = data.ids
    matched = select(lake.store, f"{sql_in('id', ids)} AND ({check_q(where)})", columns=["id"]) if ids else None
    return ProcessingOutput(updates={i: {"tags": [tag]} for i in (matched["id"].to_pylist() if matched is not None else [])})
