"""preview.png: a Pillow mosaic of sample images with their boxes and keypoints drawn."""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image as PILImage
from PIL import ImageDraw

from pinlake.datasets.tables import id_filter
from pinlake.features.groups import BBox, Image, KeyPoints
from pinlake.storage import AnyPath, location, write_bytes_atomic

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.datasets.dataset import Dataset

PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe"]


def render_preview(ds: Dataset, out: AnyPath | str | None = None, *, n: int = 12, tile: int = 192, cols: int = 4) -> AnyPath:
    """Draw up to ``n`` items (first by id, so previews are stable) into a grid and save it: to
    ``out``, or as the preview of ``ds``'s version (not drawn again when its items are unchanged)."""
    if out is not None:
        out = location(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out, preview_png(ds, n=n, tile=tile, cols=cols)[1])
        return out
    key_path = ds.preview_path.parent / PREVIEW_KEY
    old = (key_path.read_text(), b"") if ds.preview_path.is_file() and key_path.is_file() else None
    key, data = preview_png(ds, old, n=n, tile=tile, cols=cols)
    if old is None or key != old[0] or not key:
        ds.write_version_files({"preview.png": data, PREVIEW_KEY: key.encode()})
    return ds.preview_path


#: beside a version's preview.png: the digest of what it draws (see :func:`preview_png`)
PREVIEW_KEY = ".preview.png.key"


def tile_bytes(ds: Dataset, views: list[dict[str, Any]]) -> list[bytes | None]:
    """The images of the tiles in one batched read (:meth:`Dataset.read_medias`: a lake's objects
    in one scan of its objects table, not one scan each: 12 scans of a 1M-object lake took 17 s);
    all None when one of them cannot be read, each then read (or drawn grey) alone."""
    try:
        return list(ds.read_medias(views))
    except Exception:  # noqa: BLE001 - the tiles are read one by one, and a missing one drawn grey
        return [None] * len(views)


def preview_png(
    ds: Dataset, previous: tuple[str, bytes] | None = None, *, n: int = 12, tile: int = 192, cols: int = 4
) -> tuple[str, bytes]:
    """(key, PNG bytes) of the preview of ``ds``: up to ``n`` items, first by id. The key is a digest
    of what is drawn; when it equals ``previous``'s key, ``previous`` is returned without drawing."""
    view_tables = [t for t in ds.tables if issubclass(ds.schema.schemas[t], Image)]
    cols = max(1, cols)
    canvas_items = []
    if view_tables:
        view_table = view_tables[0]
        # pick the first n ids from the id column alone, then read just those rows (bytes included)
        first = first_ids(ds, view_table, n)
        views = ds.to_arrow(view_table, filter=id_filter(first)).sort_by("id").to_pylist()
        item_ids = [v["item_ref"]["id"] for v in views]
        boxes: dict[str, list[dict]] = defaultdict(list)
        points: dict[str, list[dict]] = defaultdict(list)
        for t in ds.tables:
            schema = ds.schema.schemas[t]
            if issubclass(schema, (BBox, KeyPoints)):
                # a filtered scan of the whole table, reading little ahead: what it keeps is a few rows
                found = ds.open_lance(t, low_memory=True).to_table(filter=id_filter(item_ids, "item_ref.id")).to_pylist()
                into = boxes if issubclass(schema, BBox) else points
                for r in found:
                    into[r["view_ref"]["id"] or r["item_ref"]["id"]].append(r)
        for v in views:
            canvas_items.append(
                (
                    v,
                    boxes.get(v["id"], []) + boxes.get(v["item_ref"]["id"], []),
                    points.get(v["id"], []) + points.get(v["item_ref"]["id"], []),
                )
            )
    key = _preview_key(canvas_items, tile, cols, n)
    if key and previous is not None and previous[0] == key:
        return previous  # same sampled items, boxes and points: the drawn preview is still right
    count = max(1, len(canvas_items))
    cols = min(cols, count)
    rows = math.ceil(count / cols)
    canvas = PILImage.new("RGB", (cols * tile, rows * tile), (24, 24, 28))
    media = tile_bytes(ds, [view for view, _, _ in canvas_items])
    for k, (view, bxs, pts) in enumerate(canvas_items):
        try:
            data = media[k]
            img = PILImage.open(io.BytesIO(data if data is not None else ds.read_media(view))).convert("RGB")
        except Exception:  # noqa: BLE001 - a missing image draws as a grey tile, the preview still renders
            img = PILImage.new("RGB", (max(1, view.get("width") or tile), max(1, view.get("height") or tile)), (90, 90, 90))
        w, h = img.size
        scale = min(tile / w, tile / h)
        thumb = img.resize((max(1, int(w * scale)), max(1, int(h * scale))))
        draw = ImageDraw.Draw(thumb)
        for j, b in enumerate(bxs):
            x1, y1, x2, y2 = _xyxy(b, w, h)
            draw.rectangle([x1 * scale, y1 * scale, x2 * scale, y2 * scale], outline=PALETTE[j % len(PALETTE)], width=2)
        for j, kp in enumerate(pts):
            c = kp["coords"]
            for i in range(0, len(c) - 1, 2):
                x, y = c[i] * scale, c[i + 1] * scale
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=PALETTE[(j + 3) % len(PALETTE)])
        ox = (k % cols) * tile + (tile - thumb.width) // 2
        oy = (k // cols) * tile + (tile - thumb.height) // 2
        canvas.paste(thumb, (ox, oy))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return key, buf.getvalue()


def first_ids(ds: Dataset, table: str, n: int, batch_size: int | None = None) -> list[str]:
    """The ``n`` smallest ids of ``table``, read a batch at a time (the n smallest of each batch and
    of those before are kept): memory does not grow with the table (its whole id column, sorted, was
    +56 MB at 1M rows)."""
    if n <= 0:
        return []
    best = pa.array([], pa.string())
    for batch in ds.open_lance(table, low_memory=True).to_batches(columns=["id"], batch_size=batch_size):
        both = pa.concat_arrays([best, batch.column(0).cast(pa.string())])
        best = both.take(pc.select_k_unstable(both, n, [("id", "ascending")])) if len(both) > n else both
    return best.take(pc.array_sort_indices(best)).to_pylist()


def _preview_key(canvas_items: list, tile: int, cols: int, n: int) -> str:
    """What the preview draws (views by id and media, their boxes and points), as one digest;
    "" when a view's bytes are behind a plain url (they may change in place: always draw)."""
    skip = {"content", "created_at", "updated_at"}
    plain = []
    for view, bxs, pts in canvas_items:
        v = {k: x for k, x in view.items() if k not in skip}
        if view.get("content"):
            v["content_sha256"] = hashlib.sha256(view["content"]).hexdigest()
        elif not view.get("sha256"):
            return ""
        plain.append([v] + [{k: x for k, x in r.items() if k not in skip} for r in (*bxs, *pts)])
    text = json.dumps([tile, cols, n, plain], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _xyxy(b: dict, w: int, h: int) -> tuple[float, float, float, float]:
    c = list(b["coords"])
    if b.get("format") == "xyxy":
        x1, y1, x2, y2 = c
    else:
        x1, y1, x2, y2 = c[0], c[1], c[0] + c[2], c[1] + c[3]
    if b.get("is_normalized"):
        x1, x2, y1, y2 = x1 * w, x2 * w, y1 * h, y2 * h
    return x1, y1, x2, y2
