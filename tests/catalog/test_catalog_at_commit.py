"""Every Lance version is in the catalog when its commit returns: lake uploads as well as datasets."""

from __future__ import annotations

import lance
from PIL import Image as PILImage

from pinlake.catalog.store import Catalog
from pinlake.catalog.sync import LAKE, lake_tables
from pinlake.library import Library


def _catalogued(lib: Library, dataset: str) -> set[tuple[str, int]]:
    return {(k[1], k[2]) for k in Catalog(lib.path).keys("versions", dataset)}


def test_lake_upload_is_catalogued_at_its_commit(tmp_path):
    lib = Library(tmp_path / "library").ensure()
    files = []
    for i in range(3):
        p = tmp_path / f"img{i}.png"
        PILImage.new("RGB", (8 + i, 8), (i * 40, 0, 0)).save(p)
        files.append(str(p))
    lake = lib.get_datalake()
    lake.upload_data(files[:2], tags=["a"])
    lake.upload_data(files[2:], tags=["b"])
    want = {(name, v["version"]) for name, uri in lake_tables(lib.path).items() for v in lance.dataset(uri).versions()}
    assert want and want <= _catalogued(lib, LAKE)
