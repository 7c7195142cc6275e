"""Dataset builders: subclass DatasetBuilder, or use ImageFolderBuilder."""

from pinlake.datasets.build.base import DatasetBuilder, stable_id
from pinlake.datasets.build.folder import ImageFolderBuilder, read_metadata
from pinlake.datasets.build.from_lock import LockfileBuilder

__all__ = ["DatasetBuilder", "ImageFolderBuilder", "LockfileBuilder", "stable_id", "read_metadata"]
