"""The six schema groups (as in Pixano): item, view, entity, annotation, embedding, source."""

from __future__ import annotations

import json
import math
from enum import Enum
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from pinlake.features.base import BaseSchema, EntityRef, ItemRef, SourceRef, ViewRef
from pinlake.util.mediapath import check_url


class SchemaGroup(str, Enum):
    ITEM = "item"
    VIEW = "views"
    ENTITY = "entities"
    ANNOTATION = "annotations"
    EMBEDDING = "embeddings"
    SOURCE = "source"


# --- item --------------------------------------------------------------------
class Item(BaseSchema):
    """One row per dataset entry; subclasses (built from DatasetItem) add metadata fields."""

    group: ClassVar[str] = SchemaGroup.ITEM.value
    split: str = "default"


# --- views -------------------------------------------------------------------
class View(BaseSchema):
    group: ClassVar[str] = SchemaGroup.VIEW.value
    item_ref: ItemRef = Field(default_factory=ItemRef)
    parent_ref: ViewRef = Field(default_factory=ViewRef)


class Image(View):
    """An image, by url (relative to the media dir, or ``lake://<sha256>``), optionally with its bytes."""

    url: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    content: bytes | None = None
    sha256: str = ""

    @field_validator("url")
    @classmethod
    def _url_inside_media(cls, v: str) -> str:
        return check_url(v)


class SequenceFrame(Image):
    timestamp: float = 0.0
    frame_index: int = 0


class Video(View):
    url: str = ""
    num_frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    format: str = ""
    duration: float = 0.0

    @field_validator("url")
    @classmethod
    def _url_inside_media(cls, v: str) -> str:
        return check_url(v)


# --- entities ----------------------------------------------------------------
class Entity(BaseSchema):
    """An object or track of an item; subclass to add e.g. ``category``."""

    group: ClassVar[str] = SchemaGroup.ENTITY.value
    item_ref: ItemRef = Field(default_factory=ItemRef)
    view_ref: ViewRef = Field(default_factory=ViewRef)
    parent_ref: EntityRef = Field(default_factory=EntityRef)


class EntityWithCategory(Entity):
    """An entity with a category label (what folder metadata's ``objects`` and the demo carry)."""

    category: str


class Track(Entity):
    name: str = ""


# --- annotations -------------------------------------------------------------
class Annotation(BaseSchema):
    group: ClassVar[str] = SchemaGroup.ANNOTATION.value
    item_ref: ItemRef = Field(default_factory=ItemRef)
    view_ref: ViewRef = Field(default_factory=ViewRef)
    entity_ref: EntityRef = Field(default_factory=EntityRef)
    source_ref: SourceRef = Field(default_factory=SourceRef)


class BBox(Annotation):
    """A box: ``coords`` are [x, y, w, h] (format "xywh") or [x1, y1, x2, y2] ("xyxy")."""

    coords: list[float] = Field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    format: Literal["xywh", "xyxy"] = "xywh"
    is_normalized: bool = False
    confidence: float = -1.0

    @field_validator("coords")
    @classmethod
    def _four_coords(cls, v: list[float]) -> list[float]:
        if len(v) != 4:
            raise ValueError(f"a bbox needs 4 coordinates, got {len(v)}")
        if not all(math.isfinite(c) for c in v):
            raise ValueError(f"bbox coordinates must be finite numbers (no NaN or infinity), got {v}")
        return v

    @field_validator("confidence")
    @classmethod
    def _finite_confidence(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"bbox confidence must be a finite number (no NaN or infinity), got {v}")
        return v

    @model_validator(mode="after")
    def _check_values(self) -> BBox:
        if self.format == "xywh" and (self.coords[2] < 0 or self.coords[3] < 0):
            raise ValueError(f"bbox width and height must be >= 0, got {self.coords}")
        if self.is_normalized and any(c < -1e-6 or c > 1 + 1e-6 for c in self.coords):
            raise ValueError(f"normalized bbox coordinates must lie in [0, 1], got {self.coords}")
        return self

    def xywh(self) -> list[float]:
        if self.format == "xywh":
            return list(self.coords)
        x1, y1, x2, y2 = self.coords
        return [x1, y1, x2 - x1, y2 - y1]

    def xyxy(self) -> list[float]:
        if self.format == "xyxy":
            return list(self.coords)
        x, y, w, h = self.coords
        return [x, y, x + w, y + h]


class KeyPoints(Annotation):
    """Keypoints: ``coords`` flat [x1, y1, x2, y2, ...]; ``states`` one per point."""

    template_id: str = ""
    coords: list[float] = Field(default_factory=list)
    states: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> KeyPoints:
        if len(self.coords) % 2:
            raise ValueError(f"keypoint coords must be pairs of x, y; got {len(self.coords)} numbers")
        if not all(math.isfinite(c) for c in self.coords):
            raise ValueError(f"keypoint coords must be finite numbers (no NaN or infinity), got {self.coords}")
        n = len(self.coords) // 2
        if not self.states:
            object.__setattr__(self, "states", ["visible"] * n)
        elif len(self.states) != n:
            raise ValueError(f"{n} keypoints but {len(self.states)} states")
        bad = set(self.states) - {"visible", "invisible", "hidden"}
        if bad:
            raise ValueError(f"keypoint states must be visible/invisible/hidden, got {sorted(bad)}")
        return self

    def points(self) -> list[tuple[float, float]]:
        return [(self.coords[i], self.coords[i + 1]) for i in range(0, len(self.coords), 2)]


class CompressedRLE(Annotation):
    """A mask as COCO compressed RLE: ``size`` [height, width] and ``counts``."""

    size: list[int] = Field(default_factory=lambda: [0, 0])
    counts: bytes = b""

    @field_validator("size")
    @classmethod
    def _two(cls, v: list[int]) -> list[int]:
        if len(v) != 2:
            raise ValueError(f"size must be [height, width], got {v}")
        return v


class Classification(Annotation):
    labels: list[str] = Field(default_factory=list)
    confidences: list[float] = Field(default_factory=list)


# --- embeddings --------------------------------------------------------------
class Embedding(BaseSchema):
    """A vector for semantic search. ``vector_dim`` fixes the Arrow fixed-size-list width."""

    group: ClassVar[str] = SchemaGroup.EMBEDDING.value
    vector_dim: ClassVar[int | None] = None

    item_ref: ItemRef = Field(default_factory=ItemRef)
    view_ref: ViewRef = Field(default_factory=ViewRef)
    vector: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dim(self) -> Embedding:
        dim = type(self).vector_dim
        if dim is not None and len(self.vector) != dim:
            raise ValueError(f"vector must have {dim} values, got {len(self.vector)}")
        return self

    @classmethod
    def with_dim(cls, dim: int, name: str | None = None) -> type[Embedding]:
        """A subclass whose vectors have exactly ``dim`` values: ``ImageEmbedding = Embedding.with_dim(512)``."""
        return type(name or f"{cls.__name__}{dim}", (cls,), {"vector_dim": dim, "__module__": cls.__module__})


# --- sources -----------------------------------------------------------------
class SourceKind(str, Enum):
    MODEL = "model"
    HUMAN = "human"
    GROUND_TRUTH = "ground_truth"
    OTHER = "other"


class Source(BaseSchema):
    group: ClassVar[str] = SchemaGroup.SOURCE.value
    name: str = ""
    kind: SourceKind = SourceKind.OTHER
    metadata: str = "{}"

    @field_validator("metadata", mode="before")
    @classmethod
    def _json(cls, v: Any) -> str:
        if isinstance(v, dict):
            return json.dumps(v, sort_keys=True)
        if isinstance(v, str):
            json.loads(v)  # must be JSON
            return v
        raise ValueError("metadata must be a dict or a JSON string")

    def metadata_dict(self) -> dict[str, Any]:
        return json.loads(self.metadata or "{}")


GROUP_BASES: dict[str, type[BaseSchema]] = {
    SchemaGroup.ITEM.value: Item,
    SchemaGroup.VIEW.value: View,
    SchemaGroup.ENTITY.value: Entity,
    SchemaGroup.ANNOTATION.value: Annotation,
    SchemaGroup.EMBEDDING.value: Embedding,
    SchemaGroup.SOURCE.value: Source,
}

#: every built-in schema by name (schema.json names them; custom ones are rebuilt on top of these)
BUILTIN_SCHEMAS: dict[str, type[BaseSchema]] = {
    cls.__name__: cls
    for cls in (
        Item,
        View,
        Image,
        SequenceFrame,
        Video,
        Entity,
        Track,
        Annotation,
        BBox,
        KeyPoints,
        CompressedRLE,
        Classification,
        Embedding,
        Source,
    )
}


def group_of(schema: type[BaseSchema]) -> str:
    if not schema.group:
        raise TypeError(f"{schema.__name__} is not a subclass of a schema group base class")
    return schema.group


def base_schema_of(schema: type[BaseSchema]) -> type[BaseSchema]:
    """The nearest built-in ancestor (e.g. ``Entity`` for ``EntityWithCategory``)."""
    for cls in schema.__mro__:
        if isinstance(cls, type) and cls.__name__ in BUILTIN_SCHEMAS and BUILTIN_SCHEMAS[cls.__name__] is cls:
            return cls
    raise TypeError(f"{schema.__name__} does not derive from a pinlake schema")
