"""Dataset builders: subclass DatasetBuilder, or use ImageFolderBuilder."""

from pinlake.datasets.builders.base import DatasetBuilder, stable_id
from pinlake.datasets.builders.folder import ImageFolderBuilder, read_metadata

__all__ = ["DatasetBuilder", "ImageFolderBuilder", "stable_id", "read_metadata"]
