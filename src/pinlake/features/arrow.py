"""Pydantic schema ⇄ Arrow type mapping, in one place.

Field types map as: str → string, int → int64, float → float64 (float32 inside vectors), bool →
bool, datetime → timestamp[us], bytes → large_binary, list[X] → list<X>, SchemaRef → struct<name,
id>, Enum/Literal → string, dict → JSON string. ``Embedding.vector`` maps to fixed_size_list<float32,
dim> when the schema fixes ``vector_dim``.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import types
import typing
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from pinlake.errors import ValidationError, field_size_error, oversized_string
from pinlake.features.base import BaseSchema, SchemaRef
from pinlake.features.groups import Embedding
from pinlake.util.mediapath import first_bad_url, url_error

REF_TYPE = pa.struct([pa.field("name", pa.string()), pa.field("id", pa.string())])


def strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def arrow_type(tp: Any, *, field_name: str = "", owner: str = "") -> pa.DataType:
    """The Arrow type of one Python/pydantic annotation."""
    tp, _ = strip_optional(tp)
    origin = typing.get_origin(tp)
    if tp is str:
        return pa.string()
    if tp is bool:
        return pa.bool_()
    if tp is int:
        return pa.int64()
    if tp is float:
        return pa.float64()
    if tp is bytes:
        return pa.large_binary()
    if tp is dt.datetime:
        return pa.timestamp("us")
    if tp is dt.date:
        return pa.date32()
    if origin is typing.Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return pa.string()
    if isinstance(tp, type) and issubclass(tp, SchemaRef):
        return REF_TYPE
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        args = typing.get_args(tp)
        inner = args[0] if args else str
        return pa.list_(arrow_type(inner, field_name=field_name, owner=owner))
    if origin is dict or tp is dict or tp is Any:
        return pa.string()  # stored as JSON text
    raise TypeError(f"{owner}.{field_name}: no Arrow mapping for type {tp!r}")


@cache
def arrow_schema(schema: type[BaseSchema]) -> pa.Schema:
    """The Arrow schema of a table whose rows are ``schema``."""
    fields = []
    for name, info in schema.model_fields.items():
        if issubclass(schema, Embedding) and name == "vector":
            dim = schema.vector_dim
            typ = pa.list_(pa.float32(), dim) if dim else pa.list_(pa.float32())
        else:
            typ = arrow_type(info.annotation, field_name=name, owner=schema.__name__)
        _, optional = strip_optional(info.annotation)
        fields.append(pa.field(name, typ, nullable=True))
    return pa.schema(fields, metadata={b"pinlake.schema": schema.__name__.encode()})


def plain_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def rows_to_table(schema: type[BaseSchema], rows: Iterable[BaseSchema | dict[str, Any]], *, table: str = "") -> pa.Table:
    """Validate rows (models or dicts) against ``schema`` and return them as one Arrow table."""
    names = list(schema.model_fields)
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for i, row in enumerate(rows):
        if not isinstance(row, schema):
            try:
                row = schema.model_validate(row.model_dump() if isinstance(row, BaseModel) else row)
            except Exception as exc:  # pydantic ValidationError: name table, row and field
                raise ValidationError(f"table {table or schema.__name__!r}, row {i}: {_pydantic_message(exc)}") from None
        for n in names:
            v = getattr(row, n)
            if isinstance(v, SchemaRef):
                columns[n].append({"name": v.name, "id": v.id})
            else:
                columns[n].append(plain_value(v))
    out = pa.Table.from_pydict(columns, schema=arrow_schema(schema))
    if "url" in names and getattr(schema, "group", "") == "views":  # rows given as models skip validation
        bad = first_bad_url(out.column("url"))
        if bad is not None:
            raise ValidationError(
                f"table {table or schema.__name__!r}, row {bad}: field 'url': {url_error(out.column('url')[bad].as_py())}"
            )

    over = oversized_string(out)  # a string over PINLAKE_MAX_FIELD_BYTES (columnar)
    if over is not None:
        raise field_size_error(f"table {table or schema.__name__!r}, row {over[1]}", over[0], over[2])
    return out


def table_to_rows(schema: type[BaseSchema], table: pa.Table) -> list[BaseSchema]:
    """Arrow rows back to pydantic models (validation skipped: the data was validated on write)."""
    out = []
    fields = schema.model_fields
    for rec in table.to_pylist():
        values = {}
        for name, info in fields.items():
            if name not in rec:
                continue
            v = rec[name]
            ann, _ = strip_optional(info.annotation)
            if isinstance(ann, type) and issubclass(ann, SchemaRef) and isinstance(v, dict):
                v = ann(**v)
            values[name] = v
        out.append(schema.model_construct(**values))
    return out


def _pydantic_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for e in errors():
            loc = ".".join(str(x) for x in e.get("loc", ())) or "(row)"
            parts.append(f"field {loc!r}: {e.get('msg')}")
        return "; ".join(parts)
    return str(exc)


def pydantic_message(exc: Exception) -> str:
    return _pydantic_message(exc)
