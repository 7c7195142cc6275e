"""The lineage catalog: version records of every Lance table in a library, lineage, DuckDB SQL."""

from pinlake.catalog.store import Catalog, is_library
from pinlake.catalog.sync import sync_dataset, sync_library

__all__ = ["Catalog", "is_library", "sync_dataset", "sync_library"]
