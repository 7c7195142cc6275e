"""The dataset item of the million-file measure: an image and (empty unless the lake's metadata says) its boxes."""

from pinlake.datasets.dataset_item import DatasetItem
from pinlake.features import BBox, EntityWithCategory, Image


class ScaleItem(DatasetItem):
    image: Image
    objects: list[EntityWithCategory] = []
    bbox: list[BBox] = []
