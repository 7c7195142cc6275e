"""Dataset builders: subclass DatasetBuilder, or use ImageFolderBuilder."""

from pinlake.datasets.builders.base import DatasetBuilder, stable_id
from pinlake.datasets.builders.folder import ImageFolderBuilder, read_metadata
from pinlake.datasets.builders.lockfile import LockfileBuilder

__all__ = ["DatasetBuilder", "ImageFolderBuilder", "LockfileBuilder", "stable_id", "read_metadata"]
