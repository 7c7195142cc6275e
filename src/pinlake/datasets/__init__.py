"""Datasets: DatasetItem, DatasetInfo, Dataset (CRUD), builders, stats and preview."""

from pinlake.datasets.dataset import Dataset
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.info import DatasetInfo
from pinlake.datasets.schema import DatasetSchema
from pinlake.datasets.versions import DatasetVersion

__all__ = ["Dataset", "DatasetItem", "DatasetInfo", "DatasetSchema", "DatasetVersion"]
