"""DatasetInfo: the contents of a dataset's info.json."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pinlake.errors import InputFileError
from pinlake.storage import AnyPath, location, write_bytes_atomic


class Category(BaseModel):
    """One class of a dataset: what the annotation formats need (COCO's ``categories`` entries; the
    order of a YOLO ``names`` list is the order of ``id``)."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    supercategory: str = ""
    #: keypoint names of this category's template (COCO person keypoints), in order
    keypoints: list[str] = Field(default_factory=list)
    #: pairs of 1-based keypoint indices joined by an edge
    skeleton: list[list[int]] = Field(default_factory=list)


class DatasetInfo(BaseModel):
    """Identity and description of a dataset (``info.json``)."""

    model_config = ConfigDict(extra="allow")

    id: str = ""
    name: str = ""
    description: str = ""
    size: str = "Unknown"
    num_items: int = 0
    preview: str = "preview.png"
    workspace: str = "image"
    #: where view urls resolve when no media dir is given: {"url_prefix": ..., "root": abs path}
    media: dict[str, str] = Field(default_factory=dict)
    #: the dataset's classes, the source of truth of imports and exports (empty: none declared; the
    #: exports then number the category values in sorted order)
    categories: list[Category] = Field(default_factory=list)

    @classmethod
    def from_json(cls, path: AnyPath | str) -> DatasetInfo:
        try:
            return cls.model_validate(json.loads(location(path).read_text()))
        except FileNotFoundError:
            raise InputFileError(f"{path}: no info.json here, so this is not a pinlake dataset") from None
        except (json.JSONDecodeError, ValueError) as exc:
            raise InputFileError(f"{path}: invalid info.json ({exc})") from None

    def to_json(self, path: AnyPath | str) -> None:
        write_json_atomic(path, self.model_dump(mode="json"))


def write_json_atomic(path: AnyPath | str, obj: Any) -> None:
    """Write JSON so readers never see half a file (temp file + rename locally, one PUT on S3)."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"
    write_bytes_atomic(location(path), text.encode())
