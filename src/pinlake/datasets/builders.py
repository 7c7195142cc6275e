"""Deprecated: the builders live in :mod:`pinlake.datasets.build` (``DatasetBuilder`` and ``ImageFolderBuilder``
are also ``pinlake.DatasetBuilder`` and ``pinlake.ImageFolderBuilder``)."""

from __future__ import annotations

import warnings

from pinlake.datasets.build import DatasetBuilder, ImageFolderBuilder, LockfileBuilder

warnings.warn(
    "pinlake.datasets.builders is deprecated: import from pinlake.datasets.build (or pinlake.DatasetBuilder)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["DatasetBuilder", "ImageFolderBuilder", "LockfileBuilder"]
