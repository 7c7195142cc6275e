"""Columnar table construction for the seed-000 layout: Arrow columns straight from JSON lines.

The row path turns each resource into pydantic rows (item, view, entities, annotations) and then
into Arrow; at 10k resources that is ≈ 95k model objects. Here a chunk of lines is parsed once with
``pyarrow.json.read_json`` against an explicit schema (the fields the dataset item needs), entity
lists are flattened with ``list_flatten`` / list lengths, the checks the pydantic models make are
done as vector predicates, and every table comes out as one Arrow table with the schema the row
path writes. Ids use the same :func:`stable_id` scheme (one loop over strings).

The path is *exact or absent*: :func:`columnar_plan` returns None for a dataset item it does not
cover (non-scalar metadata, custom annotation fields without defaults, …) and
:meth:`ColumnarPlan.tables` returns None for a chunk that does not fit (a line that would fail
validation, lists of different lengths, an unknown entity field, entities as a list of objects,
heterogeneous extra metadata). The caller then runs the row path for that chunk, which builds the
same rows or raises the error naming file, line and field.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pinlake.features.arrow import REF_TYPE, arrow_schema, plain_value, strip_optional
from pinlake.features.base import BaseSchema, SchemaRef
from pinlake.features.groups import BBox, KeyPoints
from pinlake.util.mediatype import image_format

SCALARS = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
#: fields every row gets from the builder, never from the data
BASE_FIELDS = {"id", "created_at", "updated_at", "item_ref", "view_ref", "entity_ref", "source_ref", "parent_ref"}
LOCK_TOP = [
    ("id", pa.string()),
    ("object_name", pa.string()),
    ("sha256", pa.string()),
    ("media_type", pa.string()),
    ("width", pa.int64()),
    ("height", pa.int64()),
]
COORDS = pa.list_(pa.list_(pa.float64()))


def _scalar_type(annotation: Any) -> pa.DataType | None:
    tp, _ = strip_optional(annotation)
    return SCALARS.get(tp) if isinstance(tp, type) else None


def _nullable_ok(info: Any) -> bool:
    """A JSON null (or a missing key) gives None in the row path only for optional fields defaulting to None."""
    return not info.is_required() and info.default is None and strip_optional(info.annotation)[1]


def _default_array(info: Any, typ: pa.DataType, n: int) -> pa.Array:
    value = info.get_default(call_default_factory=True)
    if isinstance(value, SchemaRef):
        value = {"name": value.name, "id": value.id}
    else:
        value = plain_value(value)
    if value is None:
        return pa.nulls(n, typ)
    return pa.array([value] * n, typ) if n else pa.array([], typ)


def ref_array(name: str, ids: pa.Array | list[str]) -> pa.StructArray:
    ids = ids if isinstance(ids, pa.Array) else pa.array(ids, pa.string())
    return pa.StructArray.from_arrays([pa.array([name] * len(ids), pa.string()), ids], fields=list(REF_TYPE))


def stable_ids(prefix: list[str], *suffix: object) -> list[str]:
    """``stable_id(p, *suffix)`` for every p (same scheme as builders.base.stable_id)."""
    tail = "".join("\x1f" + str(s) for s in suffix)
    sha1 = hashlib.sha1
    return [sha1((p + tail).encode()).hexdigest()[:22] for p in prefix]


#: the in-memory DuckDB that hashes id columns (each call opens a cursor: its own connection to it)
HASHER = duckdb.connect()


def stable_id_column(*parts: pa.Array | str) -> pa.Array:
    """``stable_id(*row)`` for every row of ``parts`` (Arrow string columns of one length, or a str
    for the same value on every row), columnar: Arrow joins the parts, DuckDB hashes them (sha1 of
    the UTF-8 text, as :func:`stable_id`)."""
    joined = pc.binary_join_element_wise(*[p if isinstance(p, pa.Array) else pa.scalar(p, pa.string()) for p in parts], "\x1f")
    con = HASHER.cursor()
    try:
        con.register("parts", pa.table({"s": joined}))
        return con.sql("SELECT left(sha1(s), 22) AS id FROM parts").to_arrow_table().column("id").combine_chunks()
    finally:
        con.close()


@dataclass
class TableSpec:
    """One output table: its schema class, Arrow schema and the defaults of the fields not set."""

    name: str
    schema: type[BaseSchema]
    arrow: pa.Schema
    defaults: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, schema: type[BaseSchema], provided: set[str]) -> TableSpec | None:
        defaults = {}
        for f, info in schema.model_fields.items():
            if f in provided:
                continue
            if info.is_required():
                return None
            defaults[f] = info
        return cls(name, schema, arrow_schema(schema), defaults)

    def table(self, n: int, columns: dict[str, pa.Array]) -> pa.Table:
        arrays = []
        for f in self.arrow:
            col = columns.get(f.name)
            if col is None:
                col = _default_array(self.defaults[f.name], f.type, n)
            elif col.type != f.type:
                col = col.cast(f.type)
            arrays.append(col)
        return pa.Table.from_arrays(arrays, schema=self.arrow)


class ColumnarPlan:
    """What one builder's dataset item needs from a line, and how to build its tables (module doc)."""

    def __init__(
        self,
        b: Any,
        item: TableSpec,
        view: TableSpec,
        entity: TableSpec | None,
        meta: dict[str, tuple[pa.DataType, bool]],
        ent_fields: dict[str, tuple[pa.DataType, bool]],
        annotations: dict[str, TableSpec],
    ) -> None:
        self.b, self.item, self.view, self.entity = b, item, view, entity
        self.meta, self.ent_fields, self.annotations = meta, ent_fields, annotations
        meta_fields = [pa.field(k, t) for k, (t, _) in meta.items()] + [pa.field("normalized", pa.bool_())]
        if entity is not None:
            obj = [pa.field(k, pa.list_(t)) for k, (t, _) in ent_fields.items()]
            obj += [pa.field(k, COORDS) for k in annotations] + [pa.field("normalized", pa.bool_())]
            meta_fields.append(pa.field(b.entity_name, pa.struct(obj)))
        self.meta_type = pa.struct(meta_fields)  # a metadata line: the item's fields, normalized, the entities
        self.parse_schema = pa.schema(LOCK_TOP + [("metadata", self.meta_type)])
        self.obj_names = {f.name for f in self.parse_schema.field("metadata").type.field(b.entity_name).type} if entity else set()

    # --- parsing -----------------------------------------------------------------------
    def parse(self, lines: list[str]) -> pa.Table | None:
        """The lines as one Arrow table (None: a line does not fit the explicit schema)."""
        opts = pj.ParseOptions(explicit_schema=self.parse_schema, unexpected_field_behavior="infer", newlines_in_values=False)
        try:
            t = pj.read_json(io.BytesIO("\n".join(lines).encode()), parse_options=opts, read_options=pj.ReadOptions(block_size=1 << 26))
        except pa.ArrowException:
            return None
        if t.num_rows != len(lines):
            return None
        if not self.entity_fields_ok(t.schema.field("metadata").type):
            return None
        return t

    # --- tables -------------------------------------------------------------------------
    def tables(self, lines: list[str], splits: list[str], content: Callable[[pa.Table], pa.Array | None]) -> dict[str, pa.Table] | None:
        """Every table's rows for these lock lines, or None when the row path must handle them."""
        t = self.parse(lines)
        if t is None:
            return None
        n = t.num_rows
        item_ids = stable_id_column("lake", t.column("object_name").combine_chunks())  # = stable_id("lake", object_name)
        media = pc.fill_null(t.column("media_type").combine_chunks(), "")
        uniq = pc.unique(media)
        fmts = pa.array([image_format(m) for m in uniq.to_pylist()], pa.string())
        sha = t.column("sha256").combine_chunks()
        vcols = {
            "url": pc.binary_join_element_wise("lake://", sha, ""),
            "sha256": sha,
            "width": pc.fill_null(t.column("width").combine_chunks(), 0),
            "height": pc.fill_null(t.column("height").combine_chunks(), 0),
            "format": fmts.take(pc.index_in(media, uniq)),
        }
        vcontent = content(t)
        vcols["content"] = vcontent if vcontent is not None else pa.nulls(n, pa.large_binary())
        return self.assemble(t.column("metadata").combine_chunks(), item_ids, splits, vcols)

    def assemble(
        self, meta: pa.StructArray, item_ids: pa.Array | list[str], splits: list[str], view_cols: dict[str, pa.Array]
    ) -> dict[str, pa.Table] | None:
        """The item, view, entity and annotation tables of parsed metadata (one struct per item),
        given the item ids and the view's own columns (url, sha256, width, height, format, content)."""
        b = self.b
        n = len(item_ids)
        ts = pa.array([b.build_time] * n, pa.timestamp("us"))
        item_id_arr = item_ids if isinstance(item_ids, pa.Array) else pa.array(item_ids, pa.string())
        cols: dict[str, pa.Array] = {"id": item_id_arr, "split": pa.array(splits, pa.string()), "created_at": ts, "updated_at": ts}
        for k, (_, nullable) in self.meta.items():
            col = pc.struct_field(meta, k)
            if col.null_count and not nullable:
                return None
            cols[k] = col
        out = {"item": self.item.table(n, cols)}
        view_ids = stable_id_column(item_id_arr, b.view_name)
        vcols = {"id": view_ids, "item_ref": ref_array("item", item_id_arr), "created_at": ts, "updated_at": ts, **view_cols}
        out[b.view_name] = self.view.table(n, vcols)
        if self.entity is not None:
            ents = self._entities(meta, item_id_arr, view_ids, out)
            if ents is None:
                return None
        return out

    def entity_fields_ok(self, meta_type: pa.StructType) -> bool:
        """False when the parsed entity struct has a field the schema does not (the row path names it)."""
        if self.entity is None:
            return True
        obj_type = meta_type.field(self.b.entity_name).type
        return pa.types.is_struct(obj_type) and {f.name for f in obj_type} == self.obj_names

    def _entities(self, meta: pa.StructArray, item_ids: pa.Array, view_ids: pa.Array, out: dict[str, pa.Table]) -> bool | None:
        assert self.entity is not None  # called only for a plan with an entity table
        b = self.b
        ename = b.entity_name
        objs = pc.struct_field(meta, ename)
        has = np.asarray(objs.is_valid())
        if not has.any():
            return True
        source_id = b.add_source("Builder", "other")
        keys = list(self.ent_fields) + list(self.annotations)
        lengths = {k: pc.list_value_length(pc.struct_field(objs, k)).to_numpy(zero_copy_only=False) for k in keys}
        stacked = np.vstack([np.nan_to_num(v.astype(float), nan=-1.0) for v in lengths.values()]) if keys else np.zeros((1, len(item_ids)))
        counts = stacked.max(axis=0).clip(min=0).astype(np.int64)
        if ((stacked >= 0) & (stacked != counts)).any():
            return None  # lists of different lengths: the row path names them
        counts[~has] = 0
        total = int(counts.sum())
        norm_item = pc.fill_null(pc.struct_field(objs, "normalized"), pc.fill_null(pc.struct_field(meta, "normalized"), False))
        parent = np.repeat(np.arange(len(item_ids)), counts)
        starts = np.cumsum(counts) - counts
        pos = np.arange(total) - np.repeat(starts, counts)
        eparent_ids = item_ids.take(pa.array(parent, pa.int64()))
        ent_id_arr = stable_id_column(eparent_ids, ename, pa.array(pos, pa.int64()).cast(pa.string()))  # = stable_id(item id, entity, i)
        item_ref = ref_array("item", eparent_ids)
        view_ref = ref_array(b.view_name, view_ids.take(pa.array(parent)))
        ts = pa.array([b.build_time] * total, pa.timestamp("us"))
        ecols: dict[str, pa.Array] = {"id": ent_id_arr, "item_ref": item_ref, "view_ref": view_ref, "created_at": ts, "updated_at": ts}
        for k, (_, nullable) in self.ent_fields.items():
            lists = pc.struct_field(objs, k)
            if (np.isnan(lengths[k].astype(float)) & (counts > 0)).any():
                return None  # a field missing on some entities: the row path names it
            col = pc.list_flatten(lists)
            if col.null_count and not nullable:
                return None
            ecols[k] = col
        out[ename] = self.entity.table(total, ecols)
        refs = {
            "item_ref": item_ref,
            "view_ref": view_ref,
            "entity_ref": ref_array(ename, ent_id_arr),
            "source_ref": ref_array("source", [source_id] * total),
        }
        norm_ent = pc.take(norm_item, pa.array(parent)) if total else pa.array([], pa.bool_())
        for key, spec in self.annotations.items():
            lists = pc.struct_field(objs, key)
            valid_item = np.asarray(lists.is_valid())
            ent_mask = np.repeat(valid_item, counts)
            values = pc.list_flatten(lists)  # one per entity of the items with this list
            keep = np.asarray(values.is_valid())
            sel = np.flatnonzero(ent_mask)[keep]
            values = values.filter(pa.array(keep))
            if len(values) and pc.list_flatten(values).null_count:
                return None
            idx = pa.array(sel, pa.int64())
            m = len(sel)
            ids = stable_id_column(ent_id_arr.take(idx), spec.name)
            tsm = ts.take(idx)
            acols = {k: v.take(idx) for k, v in refs.items()}
            acols.update({"id": ids, "created_at": tsm, "updated_at": tsm})
            lens = pc.list_value_length(values).to_numpy(zero_copy_only=False) if m else np.zeros(0, np.int64)
            flat = pc.list_flatten(values).to_numpy(zero_copy_only=False) if m else np.zeros(0)
            if not np.isfinite(flat).all():
                return None  # NaN or infinite coords: the row path names the line (the models refuse them)
            if issubclass(spec.schema, BBox):
                norm = np.asarray(norm_ent.take(idx)) if m else np.zeros(0, bool)
                if m and (lens != 4).any():
                    return None
                c = flat.reshape(-1, 4) if m else np.zeros((0, 4))
                if (c[:, 2] < 0).any() or (c[:, 3] < 0).any():
                    return None
                if (norm[:, None] & ((c < -1e-6) | (c > 1 + 1e-6))).any():
                    return None
                acols.update(
                    {
                        "coords": values,
                        "format": pa.array(["xywh"] * m, pa.string()),
                        "is_normalized": pa.array(norm, pa.bool_()),
                        "confidence": pa.array(np.ones(m), pa.float64()),
                    }
                )
            elif issubclass(spec.schema, KeyPoints):
                if m and (lens % 2).any():
                    return None
                npts = lens // 2
                offsets = np.concatenate([[0], np.cumsum(npts)]).astype(np.int32)
                states = pa.ListArray.from_arrays(pa.array(offsets), pa.array(["visible"] * int(npts.sum()), pa.string()))
                acols.update({"coords": values, "states": states})
            else:
                return None
            out[spec.name] = spec.table(m, acols)
        return True


def columnar_plan(b: Any) -> ColumnarPlan | None:
    """The columnar plan of a builder with EntityTablesMixin tables, or None when it is not covered."""
    item_schema = b.item_schema
    meta: dict[str, tuple[pa.DataType, bool]] = {}
    for k in b.meta_fields:
        info = item_schema.model_fields[k]
        typ = _scalar_type(info.annotation)
        if typ is None or k == "normalized" or k == getattr(b, "entity_name", None):
            return None
        meta[k] = (typ, _nullable_ok(info))
    item = TableSpec.of("item", item_schema, {"id", "split", "created_at", "updated_at", *meta})
    view = TableSpec.of(
        b.view_name, b.view_schema, {"id", "item_ref", "url", "sha256", "width", "height", "format", "content", "created_at", "updated_at"}
    )
    if item is None or view is None:
        return None
    entity = None
    ent_fields: dict[str, tuple[pa.DataType, bool]] = {}
    annotations: dict[str, TableSpec] = {}
    if b.entity_name:
        es = b.entity_schema
        for k, info in es.model_fields.items():
            if k in BASE_FIELDS:
                continue
            typ = _scalar_type(info.annotation)
            if typ is None or k in b.annotation_tables or k == "normalized":
                return None
            ent_fields[k] = (typ, _nullable_ok(info))
        entity = TableSpec.of(b.entity_name, es, {"id", "item_ref", "view_ref", "created_at", "updated_at", *ent_fields})
        if entity is None:
            return None
        base = {"id", "created_at", "updated_at", "item_ref", "view_ref", "entity_ref", "source_ref"}
        for key, (table, schema) in b.annotation_tables.items():
            if issubclass(schema, BBox):
                spec = TableSpec.of(table, schema, base | {"coords", "format", "is_normalized", "confidence"})
            elif issubclass(schema, KeyPoints):
                spec = TableSpec.of(table, schema, base | {"coords", "states"})
            else:
                return None  # masks: row path
            if spec is None:
                return None
            annotations[key] = spec
    return ColumnarPlan(b, item, view, entity, meta, ent_fields, annotations)


__all__ = ["ColumnarPlan", "columnar_plan", "stable_ids", "stable_id_column"]
