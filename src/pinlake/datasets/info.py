"""DatasetInfo: the contents of a dataset's info.json."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pinlake.errors import InputFileError
from pinlake.storage import AnyPath, location, write_bytes_atomic


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
