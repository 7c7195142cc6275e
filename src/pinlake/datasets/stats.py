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


def summary(con: duckdb.DuckDBPyConnection, relation: str, expr: str) -> tuple[float, float, int]:
    """(min, max, count) of the non-null ``expr`` over ``relation`` ((0, 0, 0) when there is none)."""
    ((lo, hi, n),) = con.execute(f"SELECT min({expr}), max({expr}), count({expr}) FROM {relation}").fetchall()
    return (float(lo), float(hi), int(n)) if n else (0.0, 0.0, 0)


def bin_width(lo: float, hi: float, bins: int = BINS) -> float:
    return (hi - lo) / bins if hi > lo else 1.0


def bin_counts(con: duckdb.DuckDBPyConnection, relation: str, expr: str, lo: float, width: float, bins: int = BINS) -> list[int]:
    """How many values of ``expr`` fall in each of ``bins`` bins of ``width`` from ``lo`` (the last
    bin takes the maximum)."""
    rows = con.execute(
        f"SELECT least(CAST(floor(({expr} - ?) / ?) AS BIGINT), ?) AS b, count(*) FROM {relation} WHERE {expr} IS NOT NULL GROUP BY b",
        [lo, width, bins - 1],
    ).fetchall()
    counts = [0] * bins
    for b, c in rows:
        counts[int(b)] += int(c)
    return counts


def histogram(con: duckdb.DuckDBPyConnection, relation: str, expr: str, bins: int = BINS) -> dict[str, Any]:
    lo, hi, n = summary(con, relation, expr)
    if not n:
        return {"min": None, "max": None, "count": 0, "edges": [], "counts": []}
    width = bin_width(lo, hi, bins)
    edges = [lo + i * width for i in range(bins + 1)]
    return {"min": lo, "max": hi, "count": n, "edges": edges, "counts": bin_counts(con, relation, expr, lo, width, bins)}


def value_counts(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> dict[str, int]:
    rows = con.execute(f"SELECT CAST({column} AS VARCHAR) AS v, count(*) FROM {relation} GROUP BY v ORDER BY count(*) DESC, v").fetchall()
    return {str(v): int(c) for v, c in rows}


def bbox_sizes(relation: str) -> str:
    """The boxes of ``relation`` as (w, h, is_normalized), whatever their format."""
    w = "(CASE WHEN format = 'xyxy' THEN coords[3] - coords[1] ELSE coords[3] END)"
    h = "(CASE WHEN format = 'xyxy' THEN coords[4] - coords[2] ELSE coords[4] END)"
    return f"(SELECT {w} AS w, {h} AS h, is_normalized FROM {relation})"


def bbox_aspects(relation: str) -> str:
    """The boxes of ``relation`` that have an aspect (h > 0), as :func:`bbox_sizes`."""
    return f"(SELECT * FROM {bbox_sizes(relation)} WHERE h > 0)"


def keypoint_counts(relation: str) -> str:
    """The keypoint annotations of ``relation`` as their number of points ``n``."""
    return f"(SELECT len(coords) / 2 AS n FROM {relation})"


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
            "items_per_split": value_counts(con, "t_item", "split"),
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
                out["entities_per_category"][table] = value_counts(con, rel, "category")
            if schema.group == SchemaGroup.ANNOTATION.value:
                out["annotations_per_kind"][table] = {"kind": schema.__name__, "count": ds.num_rows(table)}
            if issubclass(schema, Image):
                out["images"][table] = {
                    "width": histogram(con, rel, "width"),
                    "height": histogram(con, rel, "height"),
                    "format": value_counts(con, rel, "format"),
                }
            if issubclass(schema, BBox):
                ((normalized,),) = con.execute(f"SELECT count(*) FROM {rel} WHERE is_normalized").fetchall()
                out["bbox"][table] = {
                    "normalized": normalized,
                    "area": histogram(con, bbox_sizes(rel), "w * h"),
                    "aspect": histogram(con, bbox_aspects(rel), "w / h"),
                }
            if issubclass(schema, KeyPoints):
                out["keypoints"][table] = {"points_per_annotation": histogram(con, keypoint_counts(rel), "n")}
        return out
    finally:
        con.close()


#: the fields features_values.json never lists
NOT_FEATURES = frozenset({"id", "split", "created_at", "updated_at"})
#: a field with more distinct values than this is not listed
MAX_VALUES = 100


def string_fields(schema: type[Any]) -> list[str]:
    """The string fields of ``schema`` that features_values.json may list."""
    return [name for name, info in schema.model_fields.items() if name not in NOT_FEATURES and info.annotation is str]


def values_of(con: duckdb.DuckDBPyConnection, relation: str, name: str, max_values: int = MAX_VALUES) -> list[Any] | None:
    """The distinct non-null values of ``name`` in ``relation``, sorted, or None when there are
    none or more than ``max_values``."""
    ((n,),) = con.execute(f'SELECT count(DISTINCT "{name}") FROM {relation}').fetchall()
    if not 0 < n <= max_values:
        return None
    return [r[0] for r in con.execute(f'SELECT DISTINCT "{name}" FROM {relation} WHERE "{name}" IS NOT NULL ORDER BY 1').fetchall()]


def compute_features_values(ds: Dataset, max_values: int = MAX_VALUES) -> dict[str, Any]:
    """features_values.json: the distinct values of low-cardinality string fields of items and entities."""
    con = duckdb.connect()
    out: dict[str, dict[str, Any]] = {"item": {}, "entities": {}}
    try:
        for table in ds.tables:
            schema = ds.schema.schemas[table]
            group = schema.group
            if group not in (SchemaGroup.ITEM.value, SchemaGroup.ENTITY.value):
                continue
            con.register("t", ds.open_lance(table))
            fields: dict[str, Any] = {}
            for name in string_fields(schema):
                values = values_of(con, "t", name, max_values)  # fully fetched: unregister below
                if values is not None:
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
