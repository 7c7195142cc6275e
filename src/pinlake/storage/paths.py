"""Paths: a local :class:`pathlib.Path` or an :class:`S3Path`, decided once by :func:`location`."""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

from pinlake.errors import NotFoundError, StorageError
from pinlake.storage.s3 import SCHEME, S3Settings, client, missing_key, s3_errors, settings

_checked: set[tuple[S3Settings, str]] = set()


def check_reachable(path: AnyPath) -> None:
    """Fail fast (one clear error) when the bucket of an ``s3://`` location cannot be used."""
    if not isinstance(path, S3Path):
        return
    s = settings()
    if (s, path.bucket) in _checked:
        return
    with s3_errors(path.uri):
        client().list_objects_v2(Bucket=path.bucket, Prefix=path.key, MaxKeys=1)
    _checked.add((s, path.bucket))


# --- S3 paths -------------------------------------------------------------------------------
class _Stat(NamedTuple):
    st_size: int
    st_mtime: float


class S3Path:
    """A key (or key prefix) in a bucket, with the part of the ``pathlib.Path`` API pinlake uses."""

    __slots__ = ("bucket", "key", "_size")

    def __init__(self, uri: str, _size: int | None = None) -> None:
        rest = uri[len(SCHEME) :] if uri.startswith(SCHEME) else uri
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise StorageError(f"invalid s3 uri {uri!r}: no bucket", hint="Use s3://bucket/prefix.")
        self.bucket = bucket
        self.key = "/".join(p for p in key.split("/") if p and p != ".")
        self._size = _size  # known from a listing: a file of this size

    # identity
    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}" if self.key else f"{SCHEME}{self.bucket}"

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"S3Path({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Path) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __lt__(self, other: S3Path) -> bool:
        return self.uri < other.uri

    def as_posix(self) -> str:
        return self.uri

    # navigation
    def __truediv__(self, other: str | os.PathLike[str]) -> S3Path:
        return S3Path(f"{self.uri}/{os.fspath(other)}")

    def joinpath(self, *parts: str) -> S3Path:
        out = self
        for p in parts:
            out = out / p
        return out

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1] if self.key else ""

    @property
    def suffix(self) -> str:
        n = self.name
        i = n.rfind(".")
        return n[i:] if 0 < i < len(n) - 1 else ""

    @property
    def stem(self) -> str:
        return self.name[: len(self.name) - len(self.suffix)] if self.suffix else self.name

    @property
    def parent(self) -> S3Path:
        return S3Path(f"{SCHEME}{self.bucket}/{self.key.rsplit('/', 1)[0] if '/' in self.key else ''}")

    def with_name(self, name: str) -> S3Path:
        return self.parent / name

    def relative_to(self, other: S3Path) -> str:
        prefix = other.key + "/" if other.key else ""
        if other.bucket != self.bucket or not self.key.startswith(prefix):
            raise ValueError(f"{self} is not under {other}")
        return self.key[len(prefix) :]

    def resolve(self) -> S3Path:
        return self

    absolute = resolve

    def expanduser(self) -> S3Path:
        return self

    def storage_options(self) -> dict[str, str]:
        return settings().lance_options()

    # queries
    def _prefix(self) -> str:
        return self.key + "/" if self.key else ""

    def is_file(self) -> bool:
        if self._size is not None:
            return True
        if not self.key:
            return False
        from botocore.exceptions import ClientError

        try:
            with s3_errors(self.uri):
                try:
                    client().head_object(Bucket=self.bucket, Key=self.key)
                except ClientError as exc:
                    if missing_key(exc):
                        return False
                    raise
        except NotFoundError:  # no bucket: nothing is there
            return False
        return True

    def is_dir(self) -> bool:
        if self._size is not None:
            return False
        try:
            with s3_errors(self.uri):
                resp = client().list_objects_v2(Bucket=self.bucket, Prefix=self._prefix(), MaxKeys=1)
        except NotFoundError:
            return False
        return bool(resp.get("KeyCount") or resp.get("Contents"))

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def _list(self, delimiter: bool) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._prefix()}
        if delimiter:
            kwargs["Delimiter"] = "/"
        with s3_errors(self.uri):
            yield from client().get_paginator("list_objects_v2").paginate(**kwargs)

    def iterdir(self) -> Iterator[S3Path]:
        """Direct children: "directories" (common prefixes) and objects."""
        try:
            pages = list(self._list(delimiter=True))
        except NotFoundError:
            return iter(())
        out: list[S3Path] = []
        for page in pages:
            for cp in page.get("CommonPrefixes", []):
                out.append(S3Path(f"{SCHEME}{self.bucket}/{cp['Prefix']}"))
            for obj in page.get("Contents", []):
                if obj["Key"] != self._prefix():
                    out.append(S3Path(f"{SCHEME}{self.bucket}/{obj['Key']}", _size=int(obj["Size"])))
        return iter(sorted(out))

    def glob(self, pattern: str) -> Iterator[S3Path]:
        return (p for p in self.iterdir() if fnmatch.fnmatchcase(p.name, pattern))

    def rglob(self, pattern: str) -> Iterator[S3Path]:
        """Every object under this prefix whose name matches (objects only: S3 has no directories)."""
        try:
            pages = list(self._list(delimiter=False))
        except NotFoundError:
            return iter(())
        return iter(
            sorted(
                S3Path(f"{SCHEME}{self.bucket}/{obj['Key']}", _size=int(obj["Size"]))
                for page in pages
                for obj in page.get("Contents", [])
                if fnmatch.fnmatchcase(obj["Key"].rsplit("/", 1)[-1], pattern)
            )
        )

    def stat(self) -> _Stat:
        if self._size is not None:
            return _Stat(self._size, 0.0)
        from botocore.exceptions import ClientError

        with s3_errors(self.uri):
            try:
                head = client().head_object(Bucket=self.bucket, Key=self.key)
            except ClientError as exc:
                if missing_key(exc):
                    raise FileNotFoundError(self.uri) from None
                raise
        return _Stat(int(head["ContentLength"]), head["LastModified"].timestamp())

    # bytes
    def read_bytes(self) -> bytes:
        return self._get()

    def read_range(self, start: int, stop: int) -> bytes:
        """Bytes ``start:stop`` of the object (one ranged GET, not the whole object)."""
        return self._get(Range=f"bytes={start}-{stop - 1}") if stop > start else b""

    def _get(self, **extra: str) -> bytes:
        from botocore.exceptions import ClientError

        with s3_errors(self.uri):
            try:
                return client().get_object(Bucket=self.bucket, Key=self.key, **extra)["Body"].read()
            except ClientError as exc:
                if missing_key(exc):
                    raise FileNotFoundError(self.uri) from None
                raise

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)

    def write_bytes(self, data: bytes) -> int:
        with s3_errors(self.uri):
            client().put_object(Bucket=self.bucket, Key=self.key, Body=bytes(data))
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def open(self, mode: str = "r", encoding: str | None = "utf-8", errors: str | None = None) -> Any:
        """Read-only file objects (the whole object is fetched)."""
        if mode not in ("r", "rb", "rt"):
            raise StorageError(f"{self.uri}: cannot open for {mode!r} on S3", hint="Write whole objects with write_bytes().")
        data = self.read_bytes()
        if "b" in mode:
            return io.BytesIO(data)
        return io.StringIO(data.decode(encoding or "utf-8", errors or "strict"))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """S3 has no directories: a prefix exists once an object lies under it."""

    def unlink(self, missing_ok: bool = False) -> None:
        if not missing_ok and not self.is_file():
            raise FileNotFoundError(self.uri)
        with s3_errors(self.uri):
            client().delete_object(Bucket=self.bucket, Key=self.key)

    def rmtree(self) -> None:
        """Delete every object under this prefix."""
        keys = [p.key for p in self.rglob("*")]
        with s3_errors(self.uri):
            for i in range(0, len(keys), 1000):
                client().delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True})


AnyPath = Path | S3Path


# --- helpers the engine uses ----------------------------------------------------------------
def location(path: str | os.PathLike[str] | S3Path) -> AnyPath:
    """A ``Path`` for a local path, an :class:`S3Path` for ``s3://`` (also when pathlib mangled it to ``s3:/``)."""
    if isinstance(path, S3Path):
        return path
    text = os.fspath(path)
    if text.startswith(SCHEME):
        return S3Path(text)
    if text.startswith("s3:/"):  # Path("s3://b/k") collapses the double slash: restore it
        return S3Path(SCHEME + text[len("s3:/") :])
    if text.startswith("file://"):
        return Path(urlparse(text).path)
    return Path(path)


def is_uri(text: Any) -> bool:
    """``text`` names a location by uri (``scheme://…``, ``file://`` included) rather than by path."""
    return "://" in str(text)


def is_remote(path: Any) -> bool:
    """The one test of "is this remote?": an :class:`S3Path`, or a uri of an object store (any scheme
    but ``file://``). :func:`location` decides the path type once; this answers for plain strings too."""
    return isinstance(path, S3Path) or (is_uri(path) and not str(path).startswith("file://"))


def storage_options(path: Any) -> dict[str, str] | None:
    """Lance ``storage_options`` for a location or uri: the S3 settings for ``s3://``, ``None`` otherwise."""
    return settings().lance_options() if isinstance(path, S3Path) or str(path).startswith(SCHEME) else None


def write_bytes_atomic(path: AnyPath, data: bytes) -> None:
    """Readers never see half a file: local temp file + rename; on S3 one PUT is atomic."""
    if isinstance(path, S3Path):
        path.write_bytes(data)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def rmtree(path: AnyPath) -> None:
    """Remove a directory tree (ignores a missing one)."""
    if isinstance(path, S3Path):
        path.rmtree()
    else:
        shutil.rmtree(path, ignore_errors=True)
