"""Schemas of the six groups (item, view, entity, annotation, embedding, source) and their Arrow types."""

from pinlake.features.arrow import arrow_schema, arrow_type, rows_to_table, table_to_rows
from pinlake.features.base import BaseSchema, EntityRef, ItemRef, SchemaRef, SourceRef, ViewRef
from pinlake.features.groups import (
    BUILTIN_SCHEMAS,
    GROUP_BASES,
    Annotation,
    BBox,
    Classification,
    CompressedRLE,
    Embedding,
    Entity,
    Image,
    Item,
    KeyPoints,
    SchemaGroup,
    SequenceFrame,
    Source,
    SourceKind,
    Track,
    Video,
    View,
    base_schema_of,
    group_of,
)

__all__ = [
    "BaseSchema", "SchemaRef", "ItemRef", "ViewRef", "EntityRef", "SourceRef",
    "SchemaGroup", "Item", "View", "Image", "SequenceFrame", "Video", "Entity", "Track",
    "Annotation", "BBox", "KeyPoints", "CompressedRLE", "Classification", "Embedding",
    "Source", "SourceKind", "GROUP_BASES", "BUILTIN_SCHEMAS", "group_of", "base_schema_of",
    "arrow_schema", "arrow_type", "rows_to_table", "table_to_rows",
]
