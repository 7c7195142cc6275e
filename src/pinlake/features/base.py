"""Base schema of every table row, and the references between rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from pinlake.util.clock import utcnow  # noqa: F401 - re-exported (item schemas default to it)


class SchemaRef(BaseModel):
    """A reference to a row of another table: the table's name and the row's id."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    id: str = ""

    def is_set(self) -> bool:
        return bool(self.id)


class ItemRef(SchemaRef):
    name: str = "item"


class ViewRef(SchemaRef):
    pass


class EntityRef(SchemaRef):
    pass


class SourceRef(SchemaRef):
    name: str = "source"


class BaseSchema(BaseModel):
    """A row of a dataset table. Subclass a group's base class to add fields."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)

    #: the schema group ("item", "views", "entities", "annotations", "embeddings", "source")
    group: ClassVar[str] = ""

    id: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def refs(self) -> dict[str, SchemaRef]:
        """Every set reference of this row, by field name."""
        out: dict[str, SchemaRef] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SchemaRef) and value.is_set():
                out[name] = value
        return out

    def to_row(self) -> dict[str, Any]:
        return self.model_dump(mode="python")
