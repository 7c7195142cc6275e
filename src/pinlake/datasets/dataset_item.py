"""DatasetItem: the pythonic description of one dataset entry (as in Pixano).

Fields typed with a view/entity/annotation/embedding schema name tables (``image: Image``;
``list[...]`` when an item has several rows), any other field is item metadata
(``image_type: str``), stored as a column of the ``item`` table.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import typing
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, create_model

from pinlake.errors import InputFileError, ValidationError
from pinlake.features.base import BaseSchema
from pinlake.features.groups import Item, SchemaGroup, Source


def _table_schema(annotation: Any) -> tuple[type[BaseSchema] | None, bool]:
    """(schema, is_list) when a field annotation names a table, else (None, False)."""
    origin = typing.get_origin(annotation)
    if origin is list:
        (inner,) = typing.get_args(annotation) or (None,)
        if isinstance(inner, type) and issubclass(inner, BaseSchema):
            return inner, True
        return None, False
    if origin in (typing.Union,) or type(annotation).__name__ == "UnionType":
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _table_schema(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseSchema):
        return annotation, False
    return None, False


class DatasetItem(BaseModel):
    """Subclass to describe a dataset: views, entities and annotations as fields, plus metadata."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    if typing.TYPE_CHECKING:
        #: item_schema()'s cache, set on each subclass (not a pydantic field)
        _pinlake_item_schema: ClassVar[type[Item]]

    ITEM_TABLE: ClassVar[str] = "item"

    id: str = ""
    split: str = "default"

    # --- introspection -------------------------------------------------------
    @classmethod
    def table_fields(cls) -> dict[str, tuple[type[BaseSchema], bool]]:
        """Fields that name tables: {field: (schema, is_list)}."""
        out = {}
        for name, info in cls.model_fields.items():
            schema, is_list = _table_schema(info.annotation)
            if schema is not None:
                if schema.group == SchemaGroup.ITEM.value:
                    raise TypeError(f"{cls.__name__}.{name}: item metadata goes in plain fields, not an Item table")
                out[name] = (schema, is_list)
        return out

    @classmethod
    def metadata_fields(cls) -> dict[str, Any]:
        tables = cls.table_fields()
        return {name: info for name, info in cls.model_fields.items() if name not in tables and name not in ("id", "split")}

    @classmethod
    def item_schema(cls) -> type[Item]:
        """The Item subclass of the ``item`` table: Item + this class's metadata fields."""
        cached = cls.__dict__.get("_pinlake_item_schema")
        if cached is not None:
            return cached
        fields = {name: (info.annotation, info) for name, info in cls.metadata_fields().items()}
        model = create_model(f"{cls.__name__}Item", __base__=Item, **fields)  # type: ignore[call-overload]  # fields from a dict: pydantic's overloads cannot check them
        cls._pinlake_item_schema = model
        return model

    @classmethod
    def schemas(cls) -> dict[str, type[BaseSchema]]:
        """Every table of the dataset and its schema, the ``item`` table first and ``source`` last."""
        out: dict[str, type[BaseSchema]] = {cls.ITEM_TABLE: cls.item_schema()}
        for name, (schema, _) in cls.table_fields().items():
            out[name] = schema
        out.setdefault("source", Source)
        return out


def load_dataset_item(spec: str) -> type[DatasetItem]:
    """``path/to/file.py:ClassName`` or ``package.module:ClassName`` → the DatasetItem subclass."""
    if ":" not in spec:
        raise ValidationError(f"--item {spec!r}: expected FILE.py:ClassName or module:ClassName")
    target, name = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise InputFileError(f"--item: {path} does not exist")
        mod_spec = importlib.util.spec_from_file_location(f"_pinlake_item_{path.stem}", path)
        assert mod_spec and mod_spec.loader
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, DatasetItem)):
        raise ValidationError(f"--item {spec!r}: {name} is not a DatasetItem subclass in {target}")
    return cls
