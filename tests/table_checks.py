"""Table comparisons shared by test folders (a module of its own name: importable from any test)."""

from __future__ import annotations

import pyarrow as pa


def assert_same_tables(a, b) -> dict[str, pa.Table]:
    """Datasets ``a`` and ``b`` hold the same tables, schemas and rows (each table non-empty) and the
    same row counts; returns b's tables sorted by id."""
    ta = {t: a.to_arrow(t).sort_by("id") for t in a.tables}
    tb = {t: b.to_arrow(t).sort_by("id") for t in b.tables}
    assert set(ta) == set(tb) == {"item", "image", "objects", "bbox", "keypoints", "source"}
    for t in ta:
        assert ta[t].schema == tb[t].schema, t
        assert ta[t].num_rows > 0 and ta[t].equals(tb[t]), t
    assert a.state.rows == b.state.rows
    return tb
