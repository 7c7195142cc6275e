"""Data as values: arrays from images / TIFF / .npy, Arrow tables from CSV / TSV; exports."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pinlake.errors import InputFileError, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from pinlake.lake.models import Data


def _content(data: Data) -> bytes:
    content = data.get_bytes()
    if data.filename.lower().endswith(".gz"):
        content = gzip.decompress(content)
    return content


def data_to_numpy(data: Data) -> np.ndarray:
    import numpy as np

    mt = data.media_type or ""
    content = _content(data)
    try:
        if mt.startswith("application/x-npy"):
            return np.load(io.BytesIO(content), allow_pickle=False)
        if mt.startswith("image/"):
            from PIL import Image

            with Image.open(io.BytesIO(content)) as img:
                return np.asarray(img)
        if mt.startswith("application/dicom"):
            import pydicom

            return pydicom.dcmread(io.BytesIO(content)).pixel_array
    except ImportError as exc:
        raise ValidationError(f"cannot read {data.object_name}: {exc}", hint="Install pinlake[dicom] for DICOM pixel data.") from None
    except Exception as exc:  # noqa: BLE001
        raise InputFileError(
            f"cannot read {data.object_name} as an array: {exc}", hint="Check the file is a valid image, TIFF or .npy."
        ) from None
    raise ValidationError(
        f"{data.object_name} ({mt}) is not an array type", hint="to_numpy() reads images, TIFF, .npy and DICOM; use to_arrow() for tables."
    )


def data_to_arrow(data: Data) -> pa.Table:
    import pyarrow.csv as pacsv

    mt = (data.media_type or "").split("+")[0]
    name = data.filename.lower().removesuffix(".gz")
    if mt == "application/vnd.apache.parquet":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(_content(data)))
    if mt in ("text/csv", "text/tab-separated-values") or name.endswith((".csv", ".tsv", ".txt")):
        delimiter = "\t" if mt == "text/tab-separated-values" or name.endswith(".tsv") else ","
        try:
            return pacsv.read_csv(io.BytesIO(_content(data)), parse_options=pacsv.ParseOptions(delimiter=delimiter))
        except pa.ArrowInvalid as exc:
            raise InputFileError(
                f"cannot parse {data.object_name} as a table: {exc}", hint="Check the delimiter and the header row."
            ) from None
    raise ValidationError(
        f"{data.object_name} ({mt}) is not a table type", hint="to_arrow() reads CSV, TSV and Parquet; use to_numpy() for arrays."
    )


def write_parquet(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def metadata_dicts(table: pa.Table) -> list[dict[str, Any]]:
    return [json.loads(m) if m else {} for m in table["metadata"].to_pylist()]
