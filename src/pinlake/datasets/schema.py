"""DatasetSchema: the tables of a dataset, their groups, base schemas, fields and relations.

Written to and read from ``schema.json``; a dataset opened without its Python classes gets
equivalent pydantic models rebuilt from the file.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import threading
import typing
from collections import OrderedDict
from typing import Any

from pydantic import create_model

from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.info import write_json_atomic
from pinlake.errors import InputFileError, NotFoundError
from pinlake.features.arrow import strip_optional
from pinlake.features.base import BaseSchema, SchemaRef
from pinlake.features.groups import BUILTIN_SCHEMAS, Embedding, SchemaGroup, base_schema_of
from pinlake.storage import AnyPath, location

_TYPE_NAMES: dict[Any, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    bytes: "bytes",
    dt.datetime: "datetime",
    dt.date: "date",
    dict: "dict",
}
_NAME_TYPES: dict[str, Any] = {v: k for k, v in _TYPE_NAMES.items()}


def type_name(tp: Any) -> str:
    tp, optional = strip_optional(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        (inner,) = typing.get_args(tp) or (str,)
        name = f"list[{type_name(inner)}]"
    elif origin is dict:
        name = "dict"
    elif origin is typing.Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        name = "str"
    elif isinstance(tp, type) and issubclass(tp, SchemaRef):
        name = f"ref:{tp.__name__}"
    else:
        name = _TYPE_NAMES.get(tp, "str")
    return f"{name}|None" if optional else name


def type_from_name(name: str) -> Any:
    optional = name.endswith("|None")
    if optional:
        name = name[: -len("|None")]
    if name.startswith("list[") and name.endswith("]"):
        tp: Any = list[type_from_name(name[5:-1])]  # type: ignore[misc]  # a type built at run time
    else:
        tp = _NAME_TYPES.get(name, str)
    return tp | None if optional else tp


def fields_of(schema: type[BaseSchema]) -> dict[str, dict[str, Any]]:
    return {name: {"type": type_name(info.annotation)} for name, info in schema.model_fields.items()}


class DatasetSchema:
    """Tables of a dataset: ``schemas`` {table: schema class}, which are lists, and their groups."""

    def __init__(self, schemas: dict[str, type[BaseSchema]], is_list: dict[str, bool], dataset_item: type[DatasetItem]):
        self.schemas = schemas
        self.is_list = is_list
        self.dataset_item = dataset_item

    @classmethod
    def from_dataset_item(cls, dataset_item: type[DatasetItem]) -> DatasetSchema:
        fields = dataset_item.table_fields()
        is_list = {name: lst for name, (_, lst) in fields.items()}
        return cls(dataset_item.schemas(), is_list, dataset_item)

    # --- queries -------------------------------------------------------------
    @property
    def tables(self) -> list[str]:
        return list(self.schemas)

    def schema(self, table: str) -> type[BaseSchema]:
        try:
            return self.schemas[table]
        except KeyError:
            raise NotFoundError(f"unknown table {table!r}", hint=f"Tables of this dataset: {', '.join(self.schemas)}.") from None

    def group(self, table: str) -> str:
        return self.schema(table).group

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {g.value: [] for g in SchemaGroup}
        for name, schema in self.schemas.items():
            out[schema.group].append(name)
        return out

    def tables_of(self, group: str | SchemaGroup, base: type[BaseSchema] | None = None) -> list[str]:
        g = group.value if isinstance(group, SchemaGroup) else group
        return [n for n, s in self.schemas.items() if s.group == g and (base is None or issubclass(s, base))]

    # --- schema.json -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        schemas = {}
        for name, schema in self.schemas.items():
            base = base_schema_of(schema)
            entry: dict[str, Any] = {
                "schema": schema.__name__,
                "base_schema": base.__name__,
                "group": schema.group,
                "is_list": self.is_list.get(name, False),
                "fields": fields_of(schema),
            }
            if issubclass(schema, Embedding) and schema.vector_dim:
                entry["vector_dim"] = schema.vector_dim
            schemas[name] = entry
        relations = {
            "item": {t: ("one_to_many" if self.is_list.get(t) else "one_to_one") for t in self.schemas if t != "item" and t != "source"}
        }
        return {
            "schemas": schemas,
            "relations": relations,
            "groups": self.groups(),
            "item_fields": {k: type_name(v.annotation) for k, v in self.dataset_item.metadata_fields().items()},
            "dataset_item": self.dataset_item.__name__,
        }

    def to_json(self, path: AnyPath | str) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def from_json(cls, path: AnyPath | str) -> DatasetSchema:
        """The schema a ``schema.json`` describes. Its classes are made once per distinct text (every
        open of a dataset reads its schema: pydantic's ``create_model`` was most of an API read)."""
        try:
            text = location(path).read_text()
        except FileNotFoundError:
            raise InputFileError(f"{path}: schema.json is missing") from None
        schemas, is_list, item_cls = schema_classes(text, str(path))
        return cls(dict(schemas), dict(is_list), item_cls)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "schema.json") -> DatasetSchema:
        schemas: dict[str, type[BaseSchema]] = {}
        is_list: dict[str, bool] = {}
        for table, entry in data.get("schemas", {}).items():
            try:
                base = BUILTIN_SCHEMAS[entry["base_schema"]]
            except KeyError:
                raise InputFileError(f"{source}: table {table!r} has unknown base_schema {entry.get('base_schema')!r}") from None
            if table == "item":
                schemas[table] = base  # rebuilt from item_fields below
                continue
            extra = {
                fname: (type_from_name(f["type"]), None if f["type"].endswith("|None") else ...)
                for fname, f in entry.get("fields", {}).items()
                if fname not in base.model_fields
            }
            name = entry.get("schema", base.__name__)
            if not extra and name == base.__name__ and not entry.get("vector_dim"):
                schemas[table] = base
            else:
                model = create_model(name, __base__=base, **extra)  # type: ignore[call-overload]  # fields from a dict: pydantic's overloads cannot check them
                if entry.get("vector_dim"):
                    model.vector_dim = int(entry["vector_dim"])
                schemas[table] = model
            is_list[table] = bool(entry.get("is_list", False))
        item_fields = {k: (type_from_name(v), ...) for k, v in data.get("item_fields", {}).items()}
        annotations: dict[str, Any] = {}
        for table, schema in schemas.items():
            if table in ("item", "source"):
                continue
            annotations[table] = (list[schema] if is_list.get(table) else schema | None, [] if is_list.get(table) else None)  # type: ignore[valid-type]  # annotations built at run time
        item_cls = create_model(data.get("dataset_item") or "DatasetItem", __base__=DatasetItem, **item_fields, **annotations)  # type: ignore[call-overload]  # fields from a dict: pydantic's overloads cannot check them
        schemas["item"] = item_cls.item_schema()
        return cls(schemas, is_list, item_cls)


#: classes made from a schema.json text, the newest last (at most SCHEMA_CLASSES_SIZE texts)
SCHEMA_CLASSES_SIZE = 256
_schema_classes: OrderedDict[str, tuple[dict[str, type[BaseSchema]], dict[str, bool], type[DatasetItem]]] = OrderedDict()
_schema_classes_lock = threading.Lock()


def schema_classes(text: str, source: str) -> tuple[dict[str, type[BaseSchema]], dict[str, bool], type[DatasetItem]]:
    """The classes of the schema.json ``text``, made once per distinct text whatever file it was read
    from (datasets copied or built alike share them; callers get fresh dicts from
    :meth:`DatasetSchema.from_json`). ``source`` names the file in errors; an error is never kept."""
    with _schema_classes_lock:
        hit = _schema_classes.get(text)
        if hit is not None:
            _schema_classes.move_to_end(text)
            return hit
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{source}: invalid JSON ({exc})") from None
    schema = DatasetSchema.from_dict(data, source=source)
    made = (schema.schemas, schema.is_list, schema.dataset_item)
    with _schema_classes_lock:
        made = _schema_classes.setdefault(text, made)  # a thread that made them first wins: one set of classes per text
        while len(_schema_classes) > SCHEMA_CLASSES_SIZE:
            _schema_classes.popitem(last=False)
    return made
