"""Objects held by reference: listing a local directory or ``s3://bucket/prefix`` and reading a uri.

S3 settings come from the environment: ``PINLAKE_S3_ENDPOINT`` (e.g. ``http://127.0.0.1:9000``),
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from pinlake.errors import InputFileError, NotFoundError
from pinlake.lake.upload import UploadItem, check_object_name


def s3_filesystem() -> pafs.S3FileSystem:
    kwargs: dict[str, object] = {}
    endpoint = os.environ.get("PINLAKE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs["endpoint_override"] = parsed.netloc
        kwargs["scheme"] = parsed.scheme
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        kwargs["access_key"] = os.environ["AWS_ACCESS_KEY_ID"]
        kwargs["secret_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if region:
        kwargs["region"] = region
    return pafs.S3FileSystem(**kwargs)


def resolve_location(location: str) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, uri prefix) for a local path, ``file://`` or ``s3://`` uri."""
    if location.startswith("s3://"):
        return s3_filesystem(), location[len("s3://") :], "s3://"
    if location.startswith("file://"):
        location = urlparse(location).path
    return pafs.LocalFileSystem(), str(Path(location).resolve()), "file://"


def _reader(fs: pafs.FileSystem, path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with fs.open_input_stream(path) as f:
            return f.read()

    return read


def bucket_items(prefixes: list[str]) -> list[UploadItem]:
    """One UploadItem per object under each prefix (recursive), named by its key / relative path."""
    items: list[UploadItem] = []
    for prefix in prefixes:
        fs, path, scheme = resolve_location(prefix)
        try:
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.File:
                infos = [info]
                base = posixpath.dirname(path)
            elif info.type == pafs.FileType.Directory:
                infos = [i for i in fs.get_file_info(pafs.FileSelector(path, recursive=True)) if i.type == pafs.FileType.File]
                base = posixpath.dirname(path.rstrip("/"))
            elif scheme == "s3://":  # a key prefix that is not a "directory"
                parent = posixpath.dirname(path)
                infos = [
                    i
                    for i in fs.get_file_info(pafs.FileSelector(parent, recursive=True, allow_not_found=True))
                    if i.type == pafs.FileType.File and i.path.startswith(path)
                ]
                base = None
            else:
                infos = []
                base = None
        except OSError as exc:
            raise InputFileError(
                f"cannot list {prefix}: {exc}", hint="Check the path, the bucket name and PINLAKE_S3_ENDPOINT / AWS_* settings."
            ) from None
        if not infos:
            raise NotFoundError(f"no objects under {prefix}", hint="Check the prefix; local directories and s3://bucket/prefix work.")
        for i in sorted(infos, key=lambda i: i.path):
            if scheme == "s3://":
                name = i.path.split("/", 1)[1] if "/" in i.path else i.path  # key without bucket
            else:
                name = posixpath.relpath(i.path, base) if base else posixpath.basename(i.path)
            name = name.replace(os.sep, "/")
            check_object_name(name)
            items.append(
                UploadItem(scheme + i.path, name, posixpath.basename(name), _reader(fs, i.path), i.size or 0, scheme + i.path, None)
            )
    return items


def read_uri(uri: str, sha256: str) -> bytes:
    """Read a referenced object and check its sha256."""
    fs, path, _ = resolve_location(uri)
    try:
        with fs.open_input_stream(path) as f:
            content = f.read()
    except (OSError, FileNotFoundError) as exc:
        raise NotFoundError(f"cannot read {uri}: {exc}", hint="The referenced object moved or is gone; re-import it.") from None
    actual = hashlib.sha256(content).hexdigest()
    if actual != sha256:
        raise InputFileError(
            f"{uri} changed since it was imported: sha256 {actual[:12]}… != recorded {sha256[:12]}…",
            hint="Re-import the prefix to record a new version, or restore the original object.",
        )
    return content
