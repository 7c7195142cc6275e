"""Media type, image size and metadata read from file contents (EXIF, TIFF tags, DICOM tags)."""

from __future__ import annotations

import io
import mimetypes
import struct
from fractions import Fraction
from typing import Any

from pinlake.util.mediatype import HEAD_BYTES, SIGNED, end_bytes, incomplete, signature_prefix, sniff

EXTRA_TYPES = {
    ".npy": "application/x-npy",
    ".dcm": "application/dicom",
    ".dicom": "application/dicom",
    ".tsv": "text/tab-separated-values",
    ".csv": "text/csv",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
}


class CorruptFileError(ValueError):
    """The file's content does not match its type (e.g. a truncated image)."""


def name_type(name: str) -> str:
    """The media type a file name claims (its extension), ``application/octet-stream`` when none."""
    lower = name.lower()
    if lower.endswith(".gz"):
        base = name_type(lower[:-3])
        return base + "+gzip" if base != "application/octet-stream" else "application/gzip"
    for ext, mt in EXTRA_TYPES.items():
        if lower.endswith(ext):
            return mt
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def media_type_of(name: str, head: bytes) -> str:
    """The media type of a file from its first bytes (:func:`pinlake.util.mediatype.sniff`), else from its name.

    The bytes win: a PNG named ``.jpg`` is ``image/png``. A name claiming a type whose files always
    start with a signature (:data:`pinlake.util.mediatype.SIGNED`, e.g. ``x.png``) for bytes without one
    is not believed: ``application/octet-stream``. Compressed names (``.csv.gz``) and types with no
    signature (CSV, JSON, SVG, …) keep the type of their name.
    """
    sniffed = sniff(head)
    if sniffed is not None:
        return sniffed
    claimed = name_type(name)
    return "application/octet-stream" if claimed in SIGNED else claimed


def check_complete(name: str, content: bytes, media_type: str) -> None:
    """CorruptFileError when the file is empty or cut short although its name or bytes say it is
    a PNG, JPEG, … (cheap: the first and last bytes only)."""
    claimed = name_type(name)
    if not content and claimed in SIGNED:
        raise CorruptFileError(f"empty file (0 bytes), but its name says {claimed}")
    if media_type == "application/octet-stream" and signature_prefix(content[:HEAD_BYTES], claimed):
        raise CorruptFileError(f"truncated file: {len(content)} byte(s), only the start of the {claimed} signature")
    problem = incomplete(media_type, end_bytes(content))
    if problem is not None:
        raise CorruptFileError(problem)


def _json_safe(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value else None
    if isinstance(value, Fraction) or type(value).__name__ == "IFDRational":
        try:
            return float(value)
        except (ZeroDivisionError, ValueError):
            return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip("\x00") if len(value) <= 256 else None
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value][:64]
    if isinstance(value, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    return str(value)


def probe(name: str, content: bytes, fill_metadata: bool) -> tuple[str, int | None, int | None, dict[str, Any]]:
    """(media type, width, height, filled metadata). The media type comes from the bytes (see
    :func:`media_type_of`). Raises CorruptFileError for an empty or truncated image (see
    :func:`check_complete`), and when ``fill_metadata`` is asked for and an image or DICOM file
    cannot be parsed."""
    media_type = media_type_of(name, content[:HEAD_BYTES])
    check_complete(name, content, media_type)
    width = height = None
    meta: dict[str, Any] = {}
    if media_type.startswith("image/"):
        width, height, meta = _probe_image(content, fill_metadata)
    elif media_type == "application/x-npy":
        width, height = _probe_npy(content)
    elif media_type == "application/dicom" and fill_metadata:
        width, height, meta = _probe_dicom(content)
    return media_type, width, height, meta


def header_size(content: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG, GIF or baseline/progressive JPEG header; None when unsure.

    A few struct reads instead of opening the image with Pillow (ingest probes every file).
    """
    if content[:8] == b"\x89PNG\r\n\x1a\n" and content[12:16] == b"IHDR" and len(content) >= 24:
        w, h = struct.unpack(">II", content[16:24])
        return (w, h) if w and h else None
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        w, h = struct.unpack("<HH", content[6:10])
        return (w, h) if w and h else None
    if content[:3] != b"\xff\xd8\xff":
        return None
    i, n = 2, len(content)
    while i + 4 <= n:
        if content[i] != 0xFF:
            return None
        marker = content[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", content[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in _SOF and i + 9 <= n:
            h, w = struct.unpack(">HH", content[i + 5 : i + 9])
            return (w, h) if w and h else None
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        i += 2 + length
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _probe_image(content: bytes, fill: bool) -> tuple[int | None, int | None, dict[str, Any]]:
    if not fill:
        size = header_size(content)
        if size is not None:
            return size[0], size[1], {}
    from PIL import ExifTags, Image, TiffTags

    try:
        img = Image.open(io.BytesIO(content))
        width, height = img.size
    except Exception as exc:  # noqa: BLE001 - any Pillow failure means "not an image"
        if fill:
            raise CorruptFileError(f"not a readable image ({exc.__class__.__name__}: {exc})") from None
        return None, None, {}
    if not fill:
        return width, height, {}
    meta: dict[str, Any] = {}
    try:
        tags = getattr(img, "tag_v2", None)
        if tags is not None:  # TIFF
            for key, value in tags.items():
                if key in (273, 279, 324, 325):  # strip/tile offsets and counts: noise
                    continue
                meta[TiffTags.lookup(key).name] = _json_safe(value)
        exif = img.getexif()
        for key, value in exif.items():
            meta.setdefault(ExifTags.TAGS.get(key, str(key)), _json_safe(value))
        img.load()  # decode fully: a truncated or corrupt image fails here
    except Exception as exc:  # noqa: BLE001
        raise CorruptFileError(f"corrupt image ({exc.__class__.__name__}: {exc})") from None
    meta = {k: v for k, v in meta.items() if v is not None}
    return width, height, meta


def _probe_npy(content: bytes) -> tuple[int | None, int | None]:
    import numpy as np

    try:
        buf = io.BytesIO(content[:4096])
        major, _ = np.lib.format.read_magic(buf)
        if major == 1:
            shape, _, _ = np.lib.format.read_array_header_1_0(buf)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(buf)
    except Exception:  # noqa: BLE001
        return None, None
    if len(shape) >= 2:
        return int(shape[1]), int(shape[0])
    return None, None


def _probe_dicom(content: bytes) -> tuple[int | None, int | None, dict[str, Any]]:
    try:
        import pydicom
    except ImportError:
        return None, None, {}
    try:
        ds = pydicom.dcmread(io.BytesIO(content), stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001
        raise CorruptFileError(f"corrupt DICOM file ({exc})") from None
    meta: dict[str, Any] = {}
    for elem in ds:
        if elem.VR in ("OB", "OW", "OF", "SQ", "UN") or not elem.keyword:
            continue
        meta[elem.keyword] = _json_safe(elem.value if not hasattr(elem.value, "original_string") else str(elem.value))
    width = int(ds.Columns) if "Columns" in ds else None
    height = int(ds.Rows) if "Rows" in ds else None
    return width, height, meta
