"""Media types from the bytes (magic numbers), and a cheap check that an image file is complete.

One table for every place that tells a file's type: the lake's probe, the folder builder and the
API's ``guess_type``. The rules:

- :func:`sniff` names the type of bytes that start with a known signature (PNG, JPEG, GIF, TIFF,
  BMP, WebP, NumPy, PDF, DICOM), else None. A file's name never overrides its signature: a PNG
  named ``.jpg`` is ``image/png``.
- :data:`SIGNED` are the types whose files always start with their signature. A name that claims
  one of them (``x.png``) for bytes without it is not believed (see :func:`pinlake.lake.metadata.media_type_of`).
- :func:`incomplete` says why a JPEG or PNG is truncated from its last :data:`TAIL_BYTES` bytes
  alone: a JPEG ends with the end-of-image marker ``FF D9``, a PNG with its ``IEND`` chunk. Zero
  padding after the end is skipped (some writers pad files to a block size), and a short trailer
  after the marker is allowed. Nothing is decoded."""

from __future__ import annotations

import os
from typing import BinaryIO

#: (signature at offset 0, media type), most specific first
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x93NUMPY", "application/x-npy"),
    (b"%PDF-", "application/pdf"),
)
#: types whose files always start with their signature (DICOM may lack its preamble: not here)
SIGNED = frozenset(mt for _, mt in SIGNATURES) | {"image/webp", "image/bmp"}
#: bytes :func:`sniff` looks at (the DICOM marker sits at offset 128)
HEAD_BYTES = 132
#: bytes from a file's end that :func:`incomplete` looks at (one page: a trailer after the end marker may be this long)
TAIL_BYTES = 4096

PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC
JPEG_END = b"\xff\xd9"  # EOI
JPEG_SOS = b"\xff\xda"  # start of scan


#: Pillow's format name of each image media type
IMAGE_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
    "image/bmp": "BMP",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}


def image_format(media_type: str) -> str:
    """Pillow's format name of an image media type ("" for a media type that is not an image)."""
    return IMAGE_FORMATS.get(media_type, media_type.split("/")[-1].upper() if media_type.startswith("image/") else "")


def sniff(head: bytes) -> str | None:
    """The media type the first bytes of a file announce, or None when they announce none."""
    for magic, media_type in SIGNATURES:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":  # reserved fields: zero
        return "image/bmp"
    if head[128:132] == b"DICM":
        return "application/dicom"
    return None


def signature_prefix(head: bytes, media_type: str) -> bool:
    """True when ``head`` is non-empty and only the start of ``media_type``'s signature (a file cut short)."""
    return bool(head) and any(mt == media_type and len(head) < len(magic) and magic.startswith(head) for magic, mt in SIGNATURES)


def incomplete(media_type: str, tail: bytes) -> str | None:
    """Why a file of this type is truncated, or None (checked: JPEG, PNG). ``tail``: its last
    :data:`TAIL_BYTES` bytes before any zero padding (:func:`end_bytes`, :func:`read_end`).

    A JPEG's last end-of-image marker in the tail must come after its last start-of-scan marker
    (scan data cannot hold either: ``FF`` is stuffed there), a PNG's tail must hold its IEND chunk.
    Data after the marker (a vendor trailer, an appended record) is allowed within the tail.
    """
    if media_type == "image/jpeg":
        eoi = tail.rfind(JPEG_END)
        if eoi < 0 or tail.find(JPEG_SOS, eoi) >= 0:
            return "truncated image: a JPEG must end with the end-of-image marker FF D9 after its last scan"
    elif media_type == "image/png" and PNG_END[4:] not in tail:
        return "truncated image: a PNG must end with its IEND chunk"
    return None


#: zero padding is skipped this many bytes at a time
_PAD_STEP = 4096


def end_bytes(data: bytes, n: int = TAIL_BYTES) -> bytes:
    """The last ``n`` bytes of ``data`` before its trailing zero bytes (no copy of ``data``)."""
    end = len(data)
    while end > 0:
        start = max(0, end - _PAD_STEP)
        kept = len(data[start:end].rstrip(b"\x00"))
        if kept:
            end = start + kept
            break
        end = start
    return data[max(0, end - n) : end]


def read_end(fh: BinaryIO, size: int | None = None, n: int = TAIL_BYTES) -> bytes:
    """:func:`end_bytes` of an open binary file: one read of its last ``n`` bytes, more only
    while they are zero padding (``size``: the file's size, if known)."""
    end = os.fstat(fh.fileno()).st_size if size is None else size
    step = n
    while end > 0:
        start = max(0, end - step)
        fh.seek(start)
        kept = fh.read(end - start).rstrip(b"\x00")
        if kept:
            if len(kept) < n and start > 0:  # the last data bytes straddle two reads
                before = max(0, start - n)
                fh.seek(before)
                kept = fh.read(start - before) + kept
            return kept[-n:]
        end, step = start, _PAD_STEP
    return b""


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the JPEG or PNG file at ``path`` is truncated, or None (other types: None); reads its
    first and last few bytes only."""
    with open(path, "rb") as fh:
        media_type = sniff(fh.read(HEAD_BYTES))
        if media_type not in ("image/jpeg", "image/png"):
            return None
        return incomplete(media_type, read_end(fh))


__all__ = [
    "SIGNATURES",
    "SIGNED",
    "HEAD_BYTES",
    "TAIL_BYTES",
    "sniff",
    "signature_prefix",
    "incomplete",
    "end_bytes",
    "read_end",
    "file_problem",
]
