"""A change a test makes to the lake of a project (``make_project`` in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from pinlake.library import Library

#: the object name of :func:`upload_extra_image`'s image
EXTRA = "health/train/extra.jpg"


def upload_extra_image(library: Path, assets: Path, folder: Path) -> Path:
    """Upload one new image (a train image's bytes and one byte more, written in ``folder``) as
    :data:`EXTRA`, tagged ``mri``: the project's recipe selects it, so its next lock differs."""
    new = folder / "extra.jpg"
    new.write_bytes(next((assets / "train").glob("*.jpg")).read_bytes() + b"\0")
    Library(library).get_datalake().upload_data(
        [str(new)],
        tags=["mri"],
        object_names=[EXTRA],
        metadata={"image_type": "mri", "objects": {"category": [], "bbox": [], "keypoints": []}},
    )
    return new
