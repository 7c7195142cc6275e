"""Schemas of the six groups (item, view, entity, annotation, embedding, source) and their Arrow types.

The names below load on first use (``from pinlake.features import BBox`` works as usual), so a
module that needs one helper of a submodule does not import pydantic and every schema.
"""

from __future__ import annotations

from pinlake.util.lazy import lazy_names

_MODULES = {
    "pinlake.features.arrow": ("arrow_schema", "arrow_type", "rows_to_table", "table_to_rows"),
    "pinlake.features.base": ("BaseSchema", "EntityRef", "ItemRef", "SchemaRef", "SourceRef", "ViewRef"),
    "pinlake.features.groups": (
        "BUILTIN_SCHEMAS",
        "GROUP_BASES",
        "Annotation",
        "BBox",
        "Classification",
        "CompressedRLE",
        "Embedding",
        "Entity",
        "EntityWithCategory",
        "Image",
        "Item",
        "KeyPoints",
        "SchemaGroup",
        "SequenceFrame",
        "Source",
        "SourceKind",
        "Track",
        "Video",
        "View",
        "base_schema_of",
        "group_of",
    ),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "BaseSchema",
    "SchemaRef",
    "ItemRef",
    "ViewRef",
    "EntityRef",
    "SourceRef",
    "SchemaGroup",
    "Item",
    "View",
    "Image",
    "SequenceFrame",
    "Video",
    "Entity",
    "EntityWithCategory",
    "Track",
    "Annotation",
    "BBox",
    "KeyPoints",
    "CompressedRLE",
    "Classification",
    "Embedding",
    "Source",
    "SourceKind",
    "GROUP_BASES",
    "BUILTIN_SCHEMAS",
    "group_of",
    "base_schema_of",
    "arrow_schema",
    "arrow_type",
    "rows_to_table",
    "table_to_rows",
]

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
