"""Hugging Face ``datasets`` export: a dataset version as a ``DatasetDict`` saved with
``save_to_disk``, one split per item split, that ``datasets.load_from_disk`` reads.

Columns: ``id`` (the item id), the item's metadata columns, ``image`` (a ``datasets.Image``: the
bytes; with ``media="none"`` pinlake reads no image and gives ``datasets`` the absolute path of
each image that is a file under the dataset's media root, which ``datasets`` reads itself when it
saves: a saved Arrow dataset always holds the bytes), ``width``, ``height`` and ``objects``, a
sequence of ``{id, category, bbox}`` with ``category`` a ``ClassLabel`` in the dataset's category
order (``info.categories``, else sorted values) and ``bbox`` ``[x, y, width, height]`` in pixels.
Rows are generated split by split in batches (``Dataset.from_generator`` writes them to Arrow as
they come; image bytes are read one batch at a time, the item and box columns whole); the provenance is the dataset info's description (JSON) and
``pinlake.json`` beside the splits. ``datasets`` is an optional dependency (``pinlake[hf]``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from pinlake.datasets.formats.common import (
    MEDIA_BATCH,
    ExportResult,
    Roles,
    categories_of,
    check_media_mode,
    check_splits,
    local_file,
    prepare_out,
    provenance,
    ref_ids,
    with_content,
)
from pinlake.errors import PinlakeError

#: item columns that are not metadata
ITEM_SKIP = ("id", "split", "created_at", "updated_at")


def _datasets() -> Any:
    try:
        import datasets  # lazy: an optional dependency, loaded by this export only
    except ImportError:
        raise PinlakeError(
            "the hf export needs the Hugging Face `datasets` package, which is not installed", hint='pip install "pinlake[hf]"'
        ) from None
    return datasets


def _value_type(hf: Any, arrow_type: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return hf.Value("bool")
    if pa.types.is_integer(arrow_type):
        return hf.Value("int64")
    if pa.types.is_floating(arrow_type):
        return hf.Value("float64")
    return hf.Value("string")


def export_hf(
    ds: Any, out: str | os.PathLike[str], *, media: str = "copy", provenance_extra: Mapping[str, Any] | None = None
) -> ExportResult:
    """Write dataset version ``ds`` as a ``datasets.DatasetDict`` under ``out`` (see the module doc)."""
    hf = _datasets()
    check_media_mode(media)
    out_dir = prepare_out(out)
    roles = Roles(ds)
    check_splits(ds, roles)
    cats = categories_of(ds, roles)
    names = [c.name for c in cats]
    prov = provenance(ds, "hf", **dict(provenance_extra or {}))
    items = ds.to_arrow(roles.item)
    meta_cols = [c for c in items.column_names if c not in ITEM_SKIP]
    features = hf.Features(
        {
            "id": hf.Value("string"),
            **{c: _value_type(hf, items.schema.field(c).type) for c in meta_cols},
            "image": hf.Image(),
            "width": hf.Value("int32"),
            "height": hf.Value("int32"),
            "objects": hf.Sequence(
                {"id": hf.Value("string"), "category": hf.ClassLabel(names=names), "bbox": hf.Sequence(hf.Value("float32"), length=4)}
            ),
        }
    )
    views = ds.to_arrow(roles.image, columns=["id", "item_ref", "url", "sha256", "width", "height"])
    view_of = {it: j for j, it in enumerate(ref_ids(views, "item_ref").to_pylist())}
    objects = _objects_by_item(ds, roles, {n: i for i, n in enumerate(names)})
    splits: dict[str, list[int]] = defaultdict(list)
    for i, (s, item_id) in enumerate(zip(items.column("split").to_pylist(), items.column("id").to_pylist())):
        if item_id in view_of:  # an item without an image is no row
            splits[s or "default"].append(i)

    def rows(split: str) -> Iterator[dict[str, Any]]:
        idx = splits[split]
        for start in range(0, len(idx), MEDIA_BATCH):
            part = idx[start : start + MEDIA_BATCH]
            batch = items.take(part).to_pylist()
            js = [view_of.get(r["id"]) for r in batch]
            vs = [
                {"id": views.column("id")[j].as_py(), "url": views.column("url")[j].as_py(), "sha256": views.column("sha256")[j].as_py()}
                for j in js
                if j is not None
            ]
            local = [local_file(ds, v) if media == "none" else None for v in vs]
            need = [v for v, path in zip(vs, local) if path is None]
            read = iter(ds.read_medias(with_content(ds, roles.image, need)) if need else [])
            data = [None if path is not None else next(read) for path in local]
            by_view = {v["id"]: (v | {"path": str(path) if path else None}, d) for v, d, path in zip(vs, data, local)}
            for r, j in zip(batch, js):
                if j is None:
                    continue
                v, d = by_view[views.column("id")[j].as_py()]
                yield {
                    "id": r["id"],
                    **{c: r[c] for c in meta_cols},
                    "image": {"bytes": d, "path": None} if d is not None else {"bytes": None, "path": v["path"]},
                    "width": views.column("width")[j].as_py(),
                    "height": views.column("height")[j].as_py(),
                    "objects": objects.get(r["id"], {"id": [], "category": [], "bbox": []}),
                }

    bars = hf.is_progress_bar_enabled()
    hf.disable_progress_bars()  # an export prints its own one-line result
    try:
        return _write(hf, ds, out_dir, features, splits, rows, prov, media)
    finally:
        if bars:
            hf.enable_progress_bars()


def _write(
    hf: Any, ds: Any, out_dir: Any, features: Any, splits: dict[str, list[int]], rows: Any, prov: dict[str, Any], media: str
) -> ExportResult:
    cache = out_dir / ".cache"
    parts = {}
    for split in sorted(splits):
        parts[split] = hf.Dataset.from_generator(
            rows,
            gen_kwargs={"split": split},
            features=features,
            cache_dir=str(cache),
            info=hf.DatasetInfo(description=json.dumps({"pinlake": prov}), features=features),  # one per split: it records the split
            split=hf.NamedSplit(split),
            fingerprint=hashlib.sha256(json.dumps([prov, split, media]).encode()).hexdigest()[:16],  # this export, not a cache key
        )
    hf.DatasetDict(parts).save_to_disk(str(out_dir))
    counts = {f"rows.{s}": part.num_rows for s, part in parts.items()}
    for part in parts.values():
        part.cleanup_cache_files()
    shutil.rmtree(cache, ignore_errors=True)
    (out_dir / "pinlake.json").write_text(json.dumps(prov, indent=2) + "\n")
    files = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    return ExportResult("hf", out_dir, files, counts, prov)


def _objects_by_item(ds: Any, roles: Roles, label: dict[str, int]) -> dict[str, dict[str, list[Any]]]:
    """``{item id: {id: [...], category: [...], bbox: [...]}}`` (entities with a box, pixels xywh)."""
    if roles.entity is None or roles.bbox is None:
        return {}
    ents = ds.to_arrow(roles.entity, columns=["id", "category"])
    cat_of = dict(zip(ents.column("id").to_pylist(), ents.column("category").to_pylist()))
    boxes = ds.to_arrow(roles.bbox, columns=["item_ref", "entity_ref", "coords", "format", "is_normalized"])
    sizes = ds.to_arrow(roles.image, columns=["item_ref", "width", "height"])
    size_of = dict(zip(ref_ids(sizes, "item_ref").to_pylist(), zip(sizes.column("width").to_pylist(), sizes.column("height").to_pylist())))
    out: dict[str, dict[str, list[Any]]] = {}
    seen: set[str] = set()
    for item, ent, coords, fmt, norm in zip(
        ref_ids(boxes, "item_ref").to_pylist(),
        ref_ids(boxes, "entity_ref").to_pylist(),
        boxes.column("coords").to_pylist(),
        boxes.column("format").to_pylist(),
        boxes.column("is_normalized").to_pylist(),
    ):
        if not ent or ent in seen or cat_of.get(ent) not in label:
            continue
        seen.add(ent)
        x, y, a, b = coords
        w, h = (a - x, b - y) if fmt == "xyxy" else (a, b)
        if norm:
            iw, ih = size_of.get(item, (1, 1))
            x, y, w, h = x * iw, y * ih, w * iw, h * ih
        row = out.setdefault(item, {"id": [], "category": [], "bbox": []})
        row["id"].append(ent)
        row["category"].append(label[cat_of[ent]])
        row["bbox"].append([x, y, w, h])
    return out


__all__ = ["export_hf"]
