"""The lineage catalog: version records of every Lance table in a library, kept by sync as tables change."""

from pinlake.catalog.store import Catalog
from pinlake.catalog.sync import sync_dataset, sync_library

__all__ = ["Catalog", "sync_dataset", "sync_library"]
