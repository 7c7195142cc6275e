"""Parquet export: every table of a dataset version as ``<table>.parquet``, streamed in record
batches (flat memory), with the version's provenance in each file's metadata (key ``pinlake``) and
in ``pinlake.json``; ``info.json`` and ``schema.json`` of the version beside them. Images placed
under ``media/`` by their url (``media``: copy, link or none); embedded bytes stay in the image
table's ``content`` column either way."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import pyarrow.parquet as pq

from pinlake.datasets.formats.common import (
    MEDIA_BATCH,
    ExportResult,
    Roles,
    check_media_mode,
    place_media,
    prepare_out,
    provenance,
)

BATCH_ROWS = 8192


def export_parquet(
    ds: Any, out: str | os.PathLike[str], *, media: str = "none", provenance_extra: Mapping[str, Any] | None = None
) -> ExportResult:
    """Write dataset version ``ds`` as Parquet files under ``out`` (see the module doc)."""
    check_media_mode(media)
    out_dir = prepare_out(out)
    prov = provenance(ds, "parquet", **dict(provenance_extra or {}))
    meta = {b"pinlake": json.dumps(prov).encode()}
    files, counts = [], {}
    for table in ds.tables:
        lance_ds = ds.open_lance(table)
        schema = lance_ds.schema.with_metadata({**(lance_ds.schema.metadata or {}), **meta})
        target = out_dir / f"{table}.parquet"
        with pq.ParquetWriter(target, schema) as writer:
            for batch in lance_ds.to_batches(batch_size=BATCH_ROWS):
                writer.write_batch(batch.replace_schema_metadata(schema.metadata))
        files.append(target.name)
        counts[table] = lance_ds.count_rows()
    for name in ("info.json", "schema.json"):
        src = ds.version_file(name)
        if src is not None:
            (out_dir / name).write_bytes(src.read_bytes())
            files.append(name)
    (out_dir / "pinlake.json").write_text(json.dumps(prov, indent=2) + "\n")
    files.append("pinlake.json")
    if media != "none":
        roles = Roles(ds)
        placed = 0
        for batch in ds.open_lance(roles.image).to_batches(batch_size=MEDIA_BATCH, columns=["id", "url", "sha256"]):
            views = [v for v in batch.to_pylist() if v["url"]]
            placed += place_media(ds, views, out_dir / "media", [v["url"].lstrip("/") for v in views], media)
        counts["images_written"] = placed
    return ExportResult("parquet", out_dir, files, counts, prov)


__all__ = ["export_parquet"]
