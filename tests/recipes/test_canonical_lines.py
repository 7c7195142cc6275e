"""Lock lines made column-wise (DuckDB, Python only for metadata and escapes) are byte for byte the
lines made one row at a time: the lock hash does not depend on which path wrote a line."""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pinlake.recipes.lines import canonical_lines, dump_line, metadata_value, record_of, text_bytes

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("object_name", pa.string()),
        ("version", pa.int32()),
        ("sha256", pa.string()),
        ("size", pa.int64()),
        ("media_type", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("tags", pa.list_(pa.string())),
        ("metadata", pa.string()),
        ("uri", pa.string()),
    ]
)

# text with what JSON escapes (quotes, backslashes, control characters), non-ASCII and astral characters
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8) | st.sampled_from(
    ["a/b.png", "é/ü.tif", 'q"uote', "back\\slash", "tab\there", "\x7f", "😀"]
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True)
    | st.sampled_from([1e-05, 1e16, 0.1, -0.0])
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_metadata = (
    st.none() | st.sampled_from(["", "{}", "null", "[]", "0", '""']) | _json.map(lambda v: json.dumps(v, sort_keys=True, default=str))
)
_row = st.fixed_dictionaries(
    {
        "id": _text | st.none(),
        "object_name": _text,
        "version": st.integers(1, 2**31 - 1) | st.none(),
        "sha256": st.sampled_from(["ab" * 32, None]),
        "size": st.integers(0, 2**62) | st.none(),
        "media_type": st.sampled_from(["image/png", "application/dicom", None]),
        "width": st.integers(0, 2**31 - 1) | st.none(),
        "height": st.integers(0, 2**31 - 1) | st.none(),
        "tags": st.lists(_text, max_size=4) | st.none(),
        "metadata": _metadata,
        "uri": st.sampled_from([None, "s3://bucket/a b/c.png", "file:///x"]) | _text,
    }
)


def one_at_a_time(row: dict) -> str:
    row = dict(row)
    row["metadata"] = metadata_value(row["metadata"])
    return dump_line(record_of(row))


@settings(max_examples=150, deadline=None)
@given(st.lists(_row, max_size=12))
def test_column_wise_lines_equal_row_lines(rows):
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    assert canonical_lines(table).to_pylist() == [one_at_a_time(r) + "\n" for r in rows]
    assert bytes(text_bytes(canonical_lines(table))) == "".join(one_at_a_time(r) + "\n" for r in rows).encode()


def test_common_rows_need_no_python():
    rows = [
        {
            "id": f"i{k}",
            "object_name": f"é/{k}.png",
            "version": 1,
            "sha256": "ab" * 32,
            "size": 10,
            "media_type": "image/png",
            "width": 64,
            "height": 32,
            "tags": ["z", "a", "ü"],
            "metadata": "",
            "uri": None,
        }
        for k in range(3)
    ]
    lines = [line.removesuffix("\n") for line in canonical_lines(pa.Table.from_pylist(rows, schema=SCHEMA)).to_pylist()]
    assert lines[0] == (
        '{"height":32,"id":"i0","media_type":"image/png","metadata":{},"object_name":"é/0.png","sha256":"'
        + "ab" * 32
        + '","size":10,"tags":["a","z","ü"],"uri":null,"version":1,"width":64}'
    )
    assert lines == [one_at_a_time(r) for r in rows]
