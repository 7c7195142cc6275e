"""stats.json: dataset statistics computed with DuckDB over the Lance tables of one version.

Items per split, entities per category, annotations per kind, image width/height/format
distributions and bbox area/aspect histograms. Every number comes from one SQL aggregate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb

from pinlake.features.groups import BBox, Image, KeyPoints, SchemaGroup

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.datasets.dataset import Dataset

BINS = 10


def _histogram(con: duckdb.DuckDBPyConnection, relation: str, expr: str, bins: int = BINS) -> dict[str, Any]:
    row = con.execute(f"SELECT min({expr}), max({expr}), count({expr}) FROM {relation}").fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    lo, hi, n = row
    if not n:
        return {"min": None, "max": None, "count": 0, "edges": [], "counts": []}
    lo, hi = float(lo), float(hi)
    width = (hi - lo) / bins if hi > lo else 1.0
    rows = con.execute(
        f"SELECT least(CAST(floor(({expr} - ?) / ?) AS BIGINT), ?) AS b, count(*) FROM {relation} "
        f"WHERE {expr} IS NOT NULL GROUP BY b ORDER BY b",
        [lo, width, bins - 1],
    ).fetchall()
    counts = [0] * bins
    for b, c in rows:
        counts[int(b)] = int(c)
    edges = [lo + i * width for i in range(bins + 1)]
    return {"min": lo, "max": hi, "count": int(n), "edges": edges, "counts": counts}


def _value_counts(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> dict[str, int]:
    rows = con.execute(f"SELECT CAST({column} AS VARCHAR) AS v, count(*) FROM {relation} GROUP BY v ORDER BY count(*) DESC, v").fetchall()
    return {str(v): int(c) for v, c in rows}


def compute_stats(ds: Dataset) -> dict[str, Any]:
    con = duckdb.connect()
    try:
        for table in ds.tables:
            con.register(f"t_{table}", ds.open_lance(table))
        out: dict[str, Any] = {
            "dataset": ds.name,
            "dataset_version": ds.version,
            "num_items": ds.num_rows("item"),
            "rows_per_table": {t: ds.num_rows(t) for t in ds.tables},
            "items_per_split": _value_counts(con, "t_item", "split"),
            "entities_per_category": {},
            "annotations_per_kind": {},
            "images": {},
            "bbox": {},
            "keypoints": {},
        }
        schemas = ds.schema.schemas
        for table in ds.tables:
            schema = schemas[table]
            rel = f"t_{table}"
            if schema.group == SchemaGroup.ENTITY.value and "category" in schema.model_fields:
                out["entities_per_category"][table] = _value_counts(con, rel, "category")
            if schema.group == SchemaGroup.ANNOTATION.value:
                out["annotations_per_kind"][table] = {"kind": schema.__name__, "count": ds.num_rows(table)}
            if issubclass(schema, Image):
                out["images"][table] = {
                    "width": _histogram(con, rel, "width"),
                    "height": _histogram(con, rel, "height"),
                    "format": _value_counts(con, rel, "format"),
                }
            if issubclass(schema, BBox):
                w = "(CASE WHEN format = 'xyxy' THEN coords[3] - coords[1] ELSE coords[3] END)"
                h = "(CASE WHEN format = 'xyxy' THEN coords[4] - coords[2] ELSE coords[4] END)"
                sub = f"(SELECT {w} AS w, {h} AS h, is_normalized FROM {rel})"
                normalized = con.execute(f"SELECT count(*) FROM {rel} WHERE is_normalized").fetchone()
                assert normalized is not None  # count(*) returns one row
                out["bbox"][table] = {
                    "normalized": normalized[0],
                    "area": _histogram(con, sub, "w * h"),
                    "aspect": _histogram(con, f"(SELECT * FROM {sub} WHERE h > 0)", "w / h"),
                }
            if issubclass(schema, KeyPoints):
                out["keypoints"][table] = {
                    "points_per_annotation": _histogram(con, f"(SELECT len(coords) / 2 AS n FROM {rel})", "n"),
                }
        return out
    finally:
        con.close()


def compute_features_values(ds: Dataset, max_values: int = 100) -> dict[str, Any]:
    """features_values.json: the distinct values of low-cardinality string fields of items and entities."""
    con = duckdb.connect()
    out: dict[str, dict[str, Any]] = {"item": {}, "entities": {}}
    skip = {"id", "split", "created_at", "updated_at"}
    try:
        for table in ds.tables:
            schema = ds.schema.schemas[table]
            group = schema.group
            if group not in (SchemaGroup.ITEM.value, SchemaGroup.ENTITY.value):
                continue
            con.register("t", ds.open_lance(table))
            fields: dict[str, Any] = {}
            for name, info in schema.model_fields.items():
                if name in skip or info.annotation is not str:
                    continue
                ((n,),) = con.execute(f'SELECT count(DISTINCT "{name}") FROM t').fetchall()  # fully fetched: unregister below
                if 0 < n <= max_values:
                    values = [
                        r[0] for r in con.execute(f'SELECT DISTINCT "{name}" FROM t WHERE "{name}" IS NOT NULL ORDER BY 1').fetchall()
                    ]
                    fields[name] = {"restricted": False, "values": values}
            con.unregister("t")
            key = "item" if group == SchemaGroup.ITEM.value else "entities"
            if key == "item":
                out["item"].update(fields)
            elif fields:
                out["entities"][table] = fields
        return out
    finally:
        con.close()
