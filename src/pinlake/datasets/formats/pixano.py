"""Pixano export: the layout ``pixano data import`` of Pixano 0.8 reads (its JSONL v2 grammar).

Writes ``dataset.yaml`` (the import spec: one image view, the item's metadata as record attrs, the
entity's category (and other scalar fields) as entity attrs, the annotation kinds present) and
``<split>/metadata.jsonl``: a ``$pixano`` header line with the bbox defaults (xywh, pixels), then
one record per item (``split``, ``attrs``, ``views`` naming the image file, ``entities`` with their
``bbox`` and ``keypoints`` annotations), the images beside it (``media``: copy or link; with ``none``
the records name files you place there yourself). Masks are not written (counted in
``skipped_masks``); ``pinlake.json`` holds the provenance. The grammar is the one
``bench/peer_scripts/pixano_convert.py`` feeds to ``pixano data import`` in the benchmark.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import yaml

from pinlake.datasets.formats.common import (
    MEDIA_BATCH,
    ExportResult,
    Roles,
    check_media_mode,
    check_splits,
    place_media,
    prepare_out,
    provenance,
    ref_ids,
    with_content,
)

HEADER_VERSION = "jsonl/2"
#: item columns that are not record attrs
ITEM_SKIP = ("id", "split", "created_at", "updated_at")
#: entity columns that are not entity attrs
ENTITY_SKIP = ("id", "item_ref", "view_ref", "parent_ref", "created_at", "updated_at", "polygons", "extra")


def _attr_type(arrow_type: pa.DataType) -> str | None:
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "str"
    return None  # lists, structs, bytes: not a Pixano attr


def export_pixano(
    ds: Any, out: str | os.PathLike[str], *, media: str = "copy", provenance_extra: Mapping[str, Any] | None = None
) -> ExportResult:
    """Write dataset version ``ds`` in the layout ``pixano data import`` reads (see the module doc)."""
    check_media_mode(media)
    out_dir = prepare_out(out)
    roles = Roles(ds)
    check_splits(ds, roles)
    prov = provenance(ds, "pixano", **dict(provenance_extra or {}))
    items = ds.to_arrow(roles.item)
    item_attrs = {f.name: t for f in items.schema if f.name not in ITEM_SKIP and (t := _attr_type(f.type))}
    entity_attrs: dict[str, str] = {}
    if roles.entity is not None:
        schema = ds.open_lance(roles.entity).schema
        entity_attrs = {f.name: t for f in schema if f.name not in ENTITY_SKIP and (t := _attr_type(f.type))}
    entities = _entities(ds, roles, list(entity_attrs))
    kinds = [k for k, t in (("bbox", roles.bbox), ("keypoint", roles.keypoints)) if t is not None]
    spec = {
        "pixano": 2,
        "dataset": {"name": ds.name, "description": f"{ds.name} version {ds.version}, exported by pinlake", "workspace": "image"},
        "schema": {"views": {"image": "image"}, "record": {"attrs": item_attrs}, "entity": {"attrs": entity_attrs}, "annotations": kinds},
    }
    (out_dir / "dataset.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    header = {
        "$pixano": HEADER_VERSION,
        "defaults": {"bbox": {"format": "xywh", "is_normalized": False}, "source": {"type": "ground_truth", "name": "pinlake"}},
    }
    views = ds.to_arrow(roles.image, columns=["id", "item_ref", "url", "sha256"])
    view_of = {it: j for j, it in enumerate(ref_ids(views, "item_ref").to_pylist())}
    counts: dict[str, int] = defaultdict(int)
    files = ["dataset.yaml"]
    by_split: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(items.column("split").to_pylist()):
        by_split[s or "default"].append(i)
    for split, idx in sorted(by_split.items()):
        split_dir = out_dir / split
        split_dir.mkdir(exist_ok=True)
        used: set[str] = set()
        with (split_dir / "metadata.jsonl").open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(header) + "\n")
            for start in range(0, len(idx), MEDIA_BATCH):
                batch = items.take(idx[start : start + MEDIA_BATCH]).to_pylist()
                placed_views, names = [], []
                for r in batch:
                    j = view_of.get(r["id"])
                    if j is None:
                        counts["skipped_items"] += 1
                        continue
                    url = views.column("url")[j].as_py() or ""
                    name = os.path.basename(url) or f"{r['id']}.jpg"
                    if name in used:
                        name = f"{r['id']}-{name}"
                    used.add(name)
                    record = {
                        "split": split,
                        "attrs": {k: r[k] for k in item_attrs},
                        "views": {"image": name},
                        "entities": entities.get(r["id"], []),
                    }
                    fh.write(json.dumps(record) + "\n")
                    counts[f"records.{split}"] += 1
                    counts["entities"] += len(record["entities"])
                    placed_views.append({"id": views.column("id")[j].as_py(), "url": url, "sha256": views.column("sha256")[j].as_py()})
                    names.append(name)
                if media != "none" and placed_views:
                    counts["images_written"] += place_media(ds, with_content(ds, roles.image, placed_views), split_dir, names, media)
        files.append(f"{split}/metadata.jsonl")
    if roles.mask is not None:
        counts["skipped_masks"] = ds.open_lance(roles.mask).count_rows()
    (out_dir / "pinlake.json").write_text(json.dumps(prov, indent=2) + "\n")
    files.append("pinlake.json")
    return ExportResult("pixano", out_dir, files, dict(counts), prov)


def _entities(ds: Any, roles: Roles, attrs: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``{item id: [entity record…]}``: each entity's attrs with its first box (pixels, xywh) and
    first keypoints."""
    if roles.entity is None:
        return {}
    ents = ds.to_arrow(roles.entity, columns=["id", "item_ref", *attrs])
    sizes = ds.to_arrow(roles.image, columns=["item_ref", "width", "height"])
    size_of = dict(zip(ref_ids(sizes, "item_ref").to_pylist(), zip(sizes.column("width").to_pylist(), sizes.column("height").to_pylist())))

    def first(table: str | None, columns: list[str]) -> dict[str, dict[str, Any]]:
        if table is None:
            return {}
        t = ds.to_arrow(table, columns=["entity_ref", *columns])
        out: dict[str, dict[str, Any]] = {}
        for key, row in zip(ref_ids(t, "entity_ref").to_pylist(), t.select(columns).to_pylist()):
            if key:
                out.setdefault(key, row)
        return out

    boxes = first(roles.bbox, ["coords", "format", "is_normalized"])
    points = first(roles.keypoints, ["template_id", "coords", "states"])
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row, item in zip(ents.to_pylist(), ref_ids(ents, "item_ref").to_pylist()):
        anns: list[dict[str, Any]] = []
        box = boxes.get(row["id"])
        if box is not None:
            c = box["coords"]
            x, y, w, h = c if box["format"] == "xywh" else [c[0], c[1], c[2] - c[0], c[3] - c[1]]
            if box["is_normalized"]:
                iw, ih = size_of.get(item, (1, 1))
                x, y, w, h = x * iw, y * ih, w * iw, h * ih
            anns.append({"kind": "bbox", "coords": [x, y, w, h]})
        kp = points.get(row["id"])
        if kp is not None:
            anns.append(
                {"kind": "keypoints", "template_id": kp["template_id"] or "pinlake", "coords": kp["coords"], "states": kp["states"]}
            )
        out[item].append({"attrs": {k: row[k] for k in attrs}, "annotations": anns})
    return out


__all__ = ["export_pixano"]
