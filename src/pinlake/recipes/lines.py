"""The canonical lock line of a lake row, one at a time (:func:`dump_line`) or a column at a time
(:func:`canonical_lines`).

Contract: ``canonical_lines(rows)[i] == dump_line(record_of(row_i)) + "\\n"`` for every row, where the
row's ``metadata`` is the lake's JSON text (parsed, an empty text or a falsy value read as ``{}``).
A line is compact JSON with sorted keys and non-ASCII characters as they are (``json.dumps`` with
``sort_keys=True, separators=(",", ":"), ensure_ascii=False``); the lock hash is over these bytes.

Column-wise, DuckDB writes every line whose strings need no JSON escape (no ``"``, ``\\`` or
control character: a string is then its text in quotes), with its tags sorted by code point (the
binary order of their UTF-8 bytes, which DuckDB's ``list_sort`` uses). Python makes only what
DuckDB cannot: the metadata of rows that have some (the lake keeps it as ``json.dumps`` text with
other separators, and floats must print as Python prints them), and the whole line of a row with
a string to escape.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LOCK_KEYS = ("id", "object_name", "version", "sha256", "size", "media_type", "width", "height", "tags", "metadata", "uri")

#: a character that a JSON string escapes (RE2 syntax)
NEEDS_ESCAPE = '[\\x00-\\x1f"\\\\]'


def record_of(row: dict[str, Any]) -> dict[str, Any]:
    rec = {k: row.get(k) for k in LOCK_KEYS}
    rec["tags"] = sorted(rec["tags"] or [])
    rec["metadata"] = rec["metadata"] or {}
    return rec


def dump_line(rec: dict[str, Any]) -> str:
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def metadata_value(text: str | None) -> Any:
    """The metadata of a lake row's JSON text, as :func:`record_of` reads it."""
    return (json.loads(text) if text else None) or {}


def _text(col: str) -> str:
    return f"coalesce('\"' || {col} || '\"', 'null')"


def _number(col: str) -> str:
    return f"coalesce(CAST({col} AS VARCHAR), 'null')"


#: the line around its metadata (keys in sorted order), whether DuckDB could write it, and whether
#: its metadata needs Python
_SQL = f"""
SELECT
    '{{"height":' || {_number("height")} || ',"id":' || {_text("id")} || ',"media_type":' || {_text("media_type")}
        || ',"metadata":' AS head,
    ',"object_name":' || {_text("object_name")} || ',"sha256":' || {_text("sha256")} || ',"size":' || {_number("size")}
        || ',"tags":[' || coalesce(array_to_string(list_transform(list_sort(tags), lambda t: '"' || t || '"'), ','), '') || ']'
        || ',"uri":' || {_text("uri")} || ',"version":' || {_number("version")} || ',"width":' || {_number("width")} || '}}' || chr(10)
        AS tail,
    NOT regexp_matches(
        coalesce(id, '') || coalesce(media_type, '') || coalesce(object_name, '') || coalesce(sha256, '') || coalesce(uri, '')
            || coalesce(array_to_string(tags, ''), ''),
        '{NEEDS_ESCAPE}'
    ) AND coalesce(list_count(tags) = len(tags), true) AS plain,
    coalesce(metadata, '') NOT IN ('', '{{}}') AS has_metadata,
    metadata
FROM rows
"""


def lines_connection() -> Any:
    """A DuckDB connection for :func:`canonical_lines` and the lock's line fields (two threads: its
    work is string building). Results keep their input's order without an ``ORDER BY``
    (``preserve_insertion_order``, DuckDB's default, stated here because the callers rely on it)."""
    import duckdb

    return duckdb.connect(config={"threads": 2, "preserve_insertion_order": True})


def canonical_lines(rows: pa.Table, con: Any = None) -> pa.Array:
    """The canonical line of every row of ``rows`` (the :data:`LOCK_KEYS` columns of lake rows), in
    order, each ending in a newline (module doc). ``con``: a DuckDB connection to reuse."""
    if not rows.num_rows:
        return pa.array([], pa.string())
    own = con is None
    con = lines_connection() if own else con
    try:
        con.register("rows", rows.select(list(LOCK_KEYS)))
        out = con.sql(_SQL).to_arrow_table().combine_chunks()
        con.unregister("rows")
    finally:
        if own:
            con.close()
    has, plain = out["has_metadata"].combine_chunks(), out["plain"].combine_chunks()
    meta = pa.array(["{}"] * rows.num_rows, pa.string())
    if pc.any(has).as_py():  # the metadata of the rows that have some, in Python
        texts = out["metadata"].combine_chunks().filter(has).to_pylist()
        meta = pc.replace_with_mask(meta, has, pa.array([dump_line(metadata_value(t)) for t in texts], pa.string()))
    lines = pc.binary_join_element_wise(out["head"].combine_chunks(), meta, out["tail"].combine_chunks(), "")
    if not pc.all(plain).as_py():  # the whole line of the rows with a string to escape, in Python
        odd = pc.invert(plain)
        redo = []
        for row in rows.filter(odd).to_pylist():
            row["metadata"] = metadata_value(row["metadata"])
            redo.append(dump_line(record_of(row)) + "\n")
        lines = pc.replace_with_mask(lines, odd, pa.array(redo, pa.string()))
    return lines


def text_bytes(lines: pa.Array) -> memoryview:
    """The bytes of a string array's values, one after the other (no Python string per value)."""
    width = np.int64 if lines.type == pa.large_string() else np.int32
    size = np.dtype(width).itemsize
    offsets = np.frombuffer(lines.buffers()[1], dtype=width, count=len(lines) + 1, offset=lines.offset * size)
    data = lines.buffers()[2]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]
