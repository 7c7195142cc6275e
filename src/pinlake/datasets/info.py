"""DatasetInfo: the contents of a dataset's info.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pinlake.errors import InputFileError


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
    def from_json(cls, path: Path) -> "DatasetInfo":
        try:
            return cls.model_validate(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise InputFileError(f"{path}: no info.json here, so this is not a pinlake dataset") from None
        except (json.JSONDecodeError, ValueError) as exc:
            raise InputFileError(f"{path}: invalid info.json ({exc})") from None

    def to_json(self, path: Path) -> None:
        write_json_atomic(path, self.model_dump(mode="json"))


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to a temporary file then rename it over ``path`` (readers never see half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
