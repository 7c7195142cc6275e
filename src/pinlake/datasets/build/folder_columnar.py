"""Columnar tables for :class:`ImageFolderBuilder`: metadata.jsonl read by ``pyarrow.json``, image
sizes from file headers, rows assembled by :class:`~pinlake.datasets.build.columnar.ColumnarPlan`.

Exact or absent, as for the lock build: a split whose metadata.jsonl does not parse against the
plan's schema, names a file twice, names a missing file, leaves a file undescribed or carries a key
the item does not declare goes through the row path (:meth:`ImageFolderBuilder.split_samples`),
which builds the same rows or raises the error naming file, line and field; a chunk the plan refuses
(a value the models would reject, lists of different lengths, …) goes through the row path for its
lines. Widths and heights come from the PNG, GIF or JPEG header as the lake reads them
(:func:`pinlake.lake.metadata.header_size`); Pillow opens only the files whose header is not one
of those (or not conclusive), as the row path does for every file.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pj

from pinlake.datasets.build.columnar import ColumnarPlan, columnar_plan, stable_ids
from pinlake.errors import field_size_error, oversized_string, truncated_image_error
from pinlake.lake.metadata import header_size
from pinlake.util.mediatype import end_bytes, incomplete, read_end, sniff

#: bytes read for the header when the content is not embedded (JPEG frame headers follow EXIF)
HEAD_BYTES = 1 << 16
MAGIC_FORMAT = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"\xff\xd8\xff", "JPEG"))


def table_chunks(b: Any, chunk_size: int) -> Iterator[tuple[int, dict[str, pa.Table]]]:
    """(number of images, {table: rows}) per chunk of at most ``chunk_size`` images, split by split."""
    plan = columnar_plan(b)
    for split_dir in b.split_dirs():
        parsed = None if plan is None else parse_split(b, plan, split_dir)
        if plan is None or parsed is None:
            yield from _row_chunks(b, b.split_samples(split_dir), chunk_size)
            continue
        lines, table = parsed
        for start in range(0, table.num_rows, chunk_size):
            part = table.slice(start, chunk_size)
            out = chunk_tables(b, plan, split_dir, part, lines[start : start + chunk_size])
            if out is None:
                out = b.samples_to_tables(list(_line_samples(b, split_dir, lines[start : start + chunk_size])))
            yield part.num_rows, out


def _row_chunks(b: Any, samples: Iterator[dict[str, Any]], chunk_size: int) -> Iterator[tuple[int, dict[str, pa.Table]]]:
    chunk: list[dict[str, Any]] = []
    for sample in samples:
        chunk.append(sample)
        if len(chunk) >= chunk_size:
            yield len(chunk), b.samples_to_tables(chunk)
            chunk = []
    if chunk:
        yield len(chunk), b.samples_to_tables(chunk)


def _line_samples(b: Any, split_dir: Path, lines: list[tuple[int, bytes]]) -> Iterator[dict[str, Any]]:
    """Row-path samples of lines whose split already passed the file checks."""
    meta_path = split_dir / "metadata.jsonl"
    for lineno, raw in lines:
        meta = json.loads(raw)
        name = meta.pop(b.view_name)
        yield b.sample(split_dir, name, meta, f"{meta_path}:{lineno}")


def parse_split(b: Any, plan: ColumnarPlan, split_dir: Path) -> tuple[list[tuple[int, bytes]], pa.Table] | None:
    """(non-blank lines with their numbers, the lines as one Arrow table), or None for the row path."""
    try:
        data = (split_dir / "metadata.jsonl").read_bytes()
    except OSError:
        return None
    lines = [(i, line) for i, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    schema = pa.schema([pa.field(b.view_name, pa.string()), *plan.meta_type])
    opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer", newlines_in_values=False)
    try:
        t = pj.read_json(
            io.BytesIO(b"\n".join(line for _, line in lines)),
            parse_options=opts,
            read_options=pj.ReadOptions(block_size=max(1 << 20, len(data) + 1)),
        )
    except (pa.ArrowException, ValueError):
        return None
    if t.num_rows != len(lines) or set(t.column_names) != set(schema.names):
        return None  # a key the item does not declare: the row path decides
    if not plan.entity_fields_ok(pa.struct([t.schema.field(f.name) for f in plan.meta_type])):
        return None
    names = t.column(b.view_name)
    if names.null_count:
        return None
    listed = names.to_pylist()
    if len(set(listed)) != len(listed) or set(listed) != b.image_files(split_dir):
        return None  # a name twice, a missing file or an undescribed one: the row path names it
    return lines, t


def _image_header(path: str, embed: bool) -> tuple[bytes | None, tuple[int, int, str] | None, str | None]:
    """(content when embedding, (width, height, format) from the header or None when unsure, why
    the file is truncated or None). A JPEG or PNG is checked from its last bytes only
    (:func:`pinlake.util.mediatype.incomplete`): no image is decoded."""
    with open(path, "rb") as fh:
        head = fh.read() if embed else fh.read(HEAD_BYTES)
        content = head if embed else None
        media_type = sniff(head)
        problem = None
        if media_type in ("image/jpeg", "image/png"):
            tail = end_bytes(head) if embed or len(head) < HEAD_BYTES else read_end(fh)
            problem = incomplete(media_type, tail)
    if problem is not None:
        return content, None, problem
    size = header_size(head)
    if size is None:
        return content, None, None
    fmt = next((f for magic, f in MAGIC_FORMAT if head.startswith(magic)), None)
    return content, None if fmt is None else (size[0], size[1], fmt), None


def chunk_tables(b: Any, plan: ColumnarPlan, split_dir: Path, part: pa.Table, lines: list[tuple[int, bytes]]) -> dict[str, pa.Table] | None:
    """Every table's rows of these parsed lines of one split, or None when the row path must build them."""
    split = split_dir.name
    over = oversized_string(part)  # a string over PINLAKE_MAX_FIELD_BYTES, before any image is read
    if over is not None:
        raise field_size_error(f"{split_dir / 'metadata.jsonl'}:{lines[over[1]][0]}", over[0], over[2])
    names = part.column(b.view_name).to_pylist()
    root = b.info.id or b.target_dir.name
    item_ids = stable_ids([f"{root}\x1f{split}\x1f{name}" for name in names])  # = b.item_id(split, name)
    widths, heights, fmts, contents = [], [], [], []
    meta_path = split_dir / "metadata.jsonl"
    base = os.path.join(str(split_dir), "")
    for name, (lineno, _) in zip(names, lines):
        content, size, problem = _image_header(base + name, b.embed)
        if problem is not None:
            raise truncated_image_error(split_dir / name, problem, f"{meta_path}:{lineno}")
        if size is None:
            size = b.image_size(split_dir / name, f"{meta_path}:{lineno}")
        widths.append(size[0])
        heights.append(size[1])
        fmts.append(size[2])
        contents.append(content)
    n = len(names)
    meta = pa.StructArray.from_arrays([part.column(f.name).combine_chunks() for f in plan.meta_type], fields=list(plan.meta_type))
    vcols = {
        "url": pa.array([b.view_url(split, name) for name in names], pa.string()),
        "sha256": pa.array([""] * n, pa.string()),
        "width": pa.array(widths, pa.int64()),
        "height": pa.array(heights, pa.int64()),
        "format": pa.array(fmts, pa.string()),
        "content": pa.array(contents, pa.large_binary()) if b.embed else pa.nulls(n, pa.large_binary()),
    }
    return plan.assemble(meta, item_ids, [split] * n, vcols)


__all__ = ["table_chunks", "parse_split", "chunk_tables"]
