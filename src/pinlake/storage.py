"""Where a library lives: a local directory or an S3-compatible bucket (``s3://bucket/prefix``).

:func:`location` turns a path or uri into a path-like object: a plain :class:`pathlib.Path` for
local paths (so local libraries behave exactly as before) or an :class:`S3Path` for ``s3://``
uris. ``S3Path`` supports what the engine uses of ``Path``: ``/``, ``name``, ``parent``,
``exists()``, ``is_dir()``, ``is_file()``, ``read_bytes/read_text``, ``write_bytes/write_text``
(one PUT: atomic), ``iterdir()``, ``glob``, ``rglob``, ``unlink``, ``stat().st_size``; ``mkdir`` is
a no-op (S3 has no directories: a "directory" exists when a key lies under it). ``str()`` gives the
uri Lance opens; Lance calls take :func:`storage_options` (``None`` for local paths).

Settings come from the environment: ``PINLAKE_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL``; e.g.
``http://127.0.0.1:9000`` for MinIO or moto), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``PINLAKE_S3_ALLOW_HTTP`` (default: true when the
endpoint is ``http://``). An unreachable endpoint, a host name that does not resolve or wrong
credentials fail within seconds with one :class:`~pinlake.errors.StorageError` naming the uri and
the endpoint. A store that accepts connections but stops answering is bounded by
``PINLAKE_S3_TIMEOUT`` (``T``, default 10): a boto3 call waits ``T`` per attempt, two attempts in all;
a Lance request gets ``T`` (body included) and is not retried after timing out, but Lance lists a
prefix up to 6 times, so one Lance call can take about ``6 × T``. Once a request got no answer,
further calls to that endpoint through this module fail at once for ``3 × T``
(:func:`mark_unresponsive`), so a failing command does not wait again while it cleans up.

Concurrency
-----------
Writers that must not interleave (a dataset's writes and its version-log append, the lake's
check-then-write ingest, catalog appends, refreshes of one dataset) hold :func:`lock`:

- local: a ``filelock.FileLock`` on the given file, as before;
- S3: a *lease object* at the same key, created with a conditional PUT (``If-None-Match: *``), so
  exactly one writer creates it. The holder renews it every ``ttl/3`` seconds with ``If-Match`` on its
  ETag and deletes it (``If-Match`` again) when done. A lease not renewed for ``ttl`` seconds
  (``PINLAKE_S3_LEASE_TTL``, default 60; its age is measured against the server's clock from the
  object's ``Last-Modified``, never the local clock) belongs to a dead writer and is taken over with
  an ``If-Match`` PUT, which only one contender can win.

A lease alone can be outlived by a paused holder, so the commit point has its own fence: the
dataset version log (:mod:`pinlake.datasets.versions`) commits each entry as a Lance ``Overwrite``
transaction against the log version it read. Lance refuses an ``Overwrite`` whose read version is
no longer the latest (and on S3 writes each manifest with a conditional PUT), so two writers can
never both commit the same dataset version number, and numbers stay dense: the loser gets an error
and nothing of its write is recorded.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import re
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Union
from urllib.parse import urlparse

from pinlake.errors import NotFoundError, StorageError

SCHEME = "s3://"


# --- settings ----------------------------------------------------------------------------
@dataclass(frozen=True)
class S3Settings:
    endpoint: str | None
    region: str | None
    access_key: str | None
    secret_key: str | None
    allow_http: bool
    timeout: float

    @classmethod
    def from_env(cls) -> "S3Settings":
        env = os.environ
        endpoint = env.get("PINLAKE_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or None
        if endpoint and "://" not in endpoint:
            endpoint = f"https://{endpoint}"
        flag = env.get("PINLAKE_S3_ALLOW_HTTP")
        allow_http = flag.lower() in ("1", "true", "yes") if flag else bool(endpoint and endpoint.startswith("http://"))
        return cls(
            endpoint=endpoint,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            allow_http=allow_http,
            timeout=float(env.get("PINLAKE_S3_TIMEOUT", "10")),
        )

    @property
    def where(self) -> str:
        return self.endpoint or "AWS S3"

    @property
    def connect_timeout(self) -> float:
        return max(1.0, self.timeout / 3)

    def lance_options(self) -> dict[str, str]:
        """Lance / object_store ``storage_options``: each request (body included) gets ``timeout``
        seconds; a request that failed fast is tried once more, one that timed out is not
        (``client_retry_timeout``: no new attempt after that many seconds), and a download cut short
        is retried once. Lance itself lists a prefix up to 6 times (not configurable)."""
        ms = max(1, round(self.timeout * 1000))
        opts: dict[str, str] = {
            "connect_timeout": f"{round(self.connect_timeout * 1000)}ms",
            "timeout": f"{ms}ms",
            "client_max_retries": "1",
            "client_retry_timeout": str(max(1, int(self.timeout))),
            "download_retry_count": "1",
        }
        if self.endpoint:
            opts["aws_endpoint"] = self.endpoint
        if self.allow_http:
            opts["allow_http"] = "true"
        if self.access_key:
            opts["aws_access_key_id"] = self.access_key
        if self.secret_key:
            opts["aws_secret_access_key"] = self.secret_key
        if self.region:
            opts["aws_region"] = self.region
        return opts


def settings() -> S3Settings:
    return S3Settings.from_env()


@lru_cache(maxsize=8)
def _client(s: S3Settings) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - boto3 is in the s3 extra
        raise StorageError("a library on s3:// needs boto3", hint="Install the s3 extra: pip install 'pinlake[s3]'.") from None
    config = Config(
        connect_timeout=s.connect_timeout,
        read_timeout=s.timeout,
        retries={"total_max_attempts": 2, "mode": "standard"},  # two attempts in all ("max_attempts" counts retries)
        s3={"addressing_style": "path"} if s.endpoint else None,
    )
    c = boto3.client(
        "s3", endpoint_url=s.endpoint, region_name=s.region or "us-east-1",
        aws_access_key_id=s.access_key, aws_secret_access_key=s.secret_key, config=config,
    )
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    def refuse_while_unresponsive(**_: Any) -> None:
        if unresponsive(s):
            raise _unresponsive_error()(endpoint_url=s.where)

    def note_timeout(exception: BaseException | None = None, **_: Any) -> None:
        if isinstance(exception, (ConnectTimeoutError, ReadTimeoutError)):
            mark_unresponsive(s)

    c.meta.events.register("before-call.s3", refuse_while_unresponsive)
    c.meta.events.register("after-call-error.s3", note_timeout)  # after the last attempt
    return c


def client() -> Any:
    """A boto3 S3 client configured from the environment (one per settings)."""
    return _client(settings())


# --- a store that stopped answering ---------------------------------------------------------
# Once a request got no answer (both attempts timed out, or a Lance request ran out its timeout),
# every further call to that endpoint from this process fails at once for a short while, so the
# rest of a failing command (releasing its lease, cleaning up) does not wait out the timeouts again.
_UNRESPONSIVE: dict[str, float] = {}  # endpoint -> time.monotonic() until which calls fail at once


def unresponsive_window(s: S3Settings | None = None) -> float:
    return 3 * (s or settings()).timeout


def mark_unresponsive(s: S3Settings | None = None) -> None:
    s = s or settings()
    _UNRESPONSIVE[s.where] = time.monotonic() + unresponsive_window(s)


def unresponsive(s: S3Settings | None = None) -> bool:
    until = _UNRESPONSIVE.get((s or settings()).where)
    return until is not None and time.monotonic() < until


@lru_cache(maxsize=1)
def _unresponsive_error() -> type:
    from botocore.exceptions import ConnectTimeoutError

    class StoreUnresponsiveError(ConnectTimeoutError):
        fmt = "the store at {endpoint_url} did not answer a request moments ago"

    return StoreUnresponsiveError


# --- errors --------------------------------------------------------------------------------
def _code(exc: Exception) -> str:
    resp = getattr(exc, "response", None) or {}
    return str(resp.get("Error", {}).get("Code", ""))


_LANCE_IO = re.compile(r"LanceError\(IO\)|Generic S3 error|Generic N/A error|error sending request|dispatch failure")
_REQUEST = re.compile(r"\b(GET|PUT|POST|HEAD|DELETE|PATCH) (https?://\S+?)(?: in [0-9.]+m?s)?(?:,|$| )")
_ELAPSED = re.compile(r" in ([0-9.]+)(ms|s)\b")
_HTTP_REASON = re.compile(r"HTTP error: ([^,/]+)")


def _lance_no_answer(exc: BaseException) -> bool:
    """True for a Lance object-store error whose request ran out its timeout (the store did not answer)."""
    text = str(exc)
    if not isinstance(exc, (OSError, ValueError, RuntimeError)) or not _LANCE_IO.search(text):
        return False
    elapsed = _ELAPSED.search(text)
    seconds = float(elapsed.group(1)) / (1000 if elapsed.group(2) == "ms" else 1) if elapsed else 0.0
    return seconds >= 0.9 * settings().timeout


def lance_storage_error(exc: BaseException) -> StorageError | None:
    """A clear StorageError for an object-store failure that surfaced through Lance or Arrow in the
    middle of an operation (the endpoint died, a request kept failing); None for anything else.

    Lance reports these as ``LanceError(IO): Generic S3 error: Error performing GET <url> … HTTP
    error: error sending request, <rust source paths>``: the request and the reason are kept, the rest
    is dropped."""
    text = str(exc)
    if not isinstance(exc, (OSError, ValueError, RuntimeError)) or not _LANCE_IO.search(text):
        return None
    req = _REQUEST.search(text)
    reason = _HTTP_REASON.search(text)
    what = f"{req.group(1)} {req.group(2)}" if req else "a request"
    why = reason.group(1).strip() if reason else text.split(",")[0].split(": ")[-1].strip()
    s = settings()
    host = _endpoint_host(s)
    hint = ("The store stopped answering mid-command (see PINLAKE_S3_ENDPOINT). Nothing uncommitted is visible; "
            "run the same command again once it is back.")
    if _lance_no_answer(exc):
        why = f"no answer within {s.timeout:g}s (PINLAKE_S3_TIMEOUT)"
    elif "error sending request" in why and host and not _resolves(host):
        why = f"the host name {host!r} does not resolve"
        hint = "Check the host name in PINLAKE_S3_ENDPOINT (or AWS_ENDPOINT_URL) and your DNS."
    return StorageError(f"object storage failed during the operation: {what}: {why}", hint=hint)


def storage_error(uri: str, exc: Exception) -> Exception:
    """One clear PinlakeError for a failed S3 call on ``uri``."""
    from botocore import exceptions as bx

    s = settings()
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError, bx.ConnectionClosedError)):
        host = _endpoint_host(s)
        if _name_not_resolved(exc) or (isinstance(exc, bx.EndpointConnectionError) and host and not _resolves(host)):
            return StorageError(f"cannot reach {uri} at {s.where}: the host name {host!r} does not resolve",
                                hint="Check the host name in PINLAKE_S3_ENDPOINT (or AWS_ENDPOINT_URL) and your DNS.")
        if isinstance(exc, _unresponsive_error()):
            reason = f"not answering (a request got no answer within {s.timeout:g}s moments ago; PINLAKE_S3_TIMEOUT)"
        elif isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
            reason = f"timed out (no answer within {s.timeout:g}s, twice; PINLAKE_S3_TIMEOUT)"
        elif isinstance(exc, bx.ConnectionClosedError):
            reason = "the connection was closed"
        else:
            reason = "connection refused"
        return StorageError(f"cannot reach {uri} at {s.where}: {reason}",
                            hint="Check PINLAKE_S3_ENDPOINT (and that the server is up) and your network.")
    if isinstance(exc, bx.NoCredentialsError):
        return StorageError(f"no credentials to access {uri} at {s.where}",
                            hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.")
    code = _code(exc)
    if code in ("NoSuchBucket",):
        bucket = uri[len(SCHEME):].split("/", 1)[0]
        return NotFoundError(f"bucket {bucket!r} of {uri} does not exist at {s.where}",
                             hint="Create the bucket first, or fix the uri / PINLAKE_S3_ENDPOINT.")
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "Forbidden"):
        return StorageError(f"access to {uri} at {s.where} denied ({code})",
                            hint="Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_REGION) for this endpoint.")
    if isinstance(exc, bx.BotoCoreError) or code:
        return StorageError(f"S3 request on {uri} at {s.where} failed: {code or type(exc).__name__}: {exc}".replace("\n", " "),
                            hint="Check PINLAKE_S3_ENDPOINT and AWS_* settings.")
    return exc


def _endpoint_host(s: S3Settings) -> str | None:
    return urlparse(s.endpoint).hostname if s.endpoint else None


def _name_not_resolved(exc: BaseException) -> bool:
    """True when a failed connection was a DNS failure (socket.gaierror, urllib3's NameResolutionError)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError":
            return True
        todo += [getattr(e, "kwargs", {}).get("error") if isinstance(getattr(e, "kwargs", None), dict) else None,
                 e.__cause__, e.__context__]
    return False


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    except OSError:
        return True  # not a name-resolution failure
    return True


@contextmanager
def _s3_errors(uri: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise storage_error(uri, exc) from None


def _missing(exc: Exception) -> bool:
    return _code(exc) in ("404", "NoSuchKey", "NotFound")


_checked: set[tuple[S3Settings, str]] = set()


def check_reachable(path: "AnyPath") -> None:
    """Fail fast (one clear error) when the bucket of an ``s3://`` location cannot be used."""
    if not isinstance(path, S3Path):
        return
    s = settings()
    if (s, path.bucket) in _checked:
        return
    with _s3_errors(path.uri):
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
        rest = uri[len(SCHEME):] if uri.startswith(SCHEME) else uri
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

    def __lt__(self, other: "S3Path") -> bool:
        return self.uri < other.uri

    def as_posix(self) -> str:
        return self.uri

    # navigation
    def __truediv__(self, other: str | os.PathLike[str]) -> "S3Path":
        return S3Path(f"{self.uri}/{os.fspath(other)}")

    def joinpath(self, *parts: str) -> "S3Path":
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
    def parent(self) -> "S3Path":
        return S3Path(f"{SCHEME}{self.bucket}/{self.key.rsplit('/', 1)[0] if '/' in self.key else ''}")

    def with_name(self, name: str) -> "S3Path":
        return self.parent / name

    def relative_to(self, other: "S3Path") -> str:
        prefix = other.key + "/" if other.key else ""
        if other.bucket != self.bucket or not self.key.startswith(prefix):
            raise ValueError(f"{self} is not under {other}")
        return self.key[len(prefix):]

    def resolve(self) -> "S3Path":
        return self

    absolute = resolve

    def expanduser(self) -> "S3Path":
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
            with _s3_errors(self.uri):
                try:
                    client().head_object(Bucket=self.bucket, Key=self.key)
                except ClientError as exc:
                    if _missing(exc):
                        return False
                    raise
        except NotFoundError:  # no bucket: nothing is there
            return False
        return True

    def is_dir(self) -> bool:
        if self._size is not None:
            return False
        try:
            with _s3_errors(self.uri):
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
        with _s3_errors(self.uri):
            for page in client().get_paginator("list_objects_v2").paginate(**kwargs):
                yield page

    def iterdir(self) -> Iterator["S3Path"]:
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

    def glob(self, pattern: str) -> Iterator["S3Path"]:
        return (p for p in self.iterdir() if fnmatch.fnmatchcase(p.name, pattern))

    def rglob(self, pattern: str) -> Iterator["S3Path"]:
        """Every object under this prefix whose name matches (objects only: S3 has no directories)."""
        try:
            pages = list(self._list(delimiter=False))
        except NotFoundError:
            return iter(())
        return iter(sorted(
            S3Path(f"{SCHEME}{self.bucket}/{obj['Key']}", _size=int(obj["Size"]))
            for page in pages for obj in page.get("Contents", [])
            if fnmatch.fnmatchcase(obj["Key"].rsplit("/", 1)[-1], pattern)
        ))

    def stat(self) -> _Stat:
        if self._size is not None:
            return _Stat(self._size, 0.0)
        from botocore.exceptions import ClientError

        with _s3_errors(self.uri):
            try:
                head = client().head_object(Bucket=self.bucket, Key=self.key)
            except ClientError as exc:
                if _missing(exc):
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

        with _s3_errors(self.uri):
            try:
                return client().get_object(Bucket=self.bucket, Key=self.key, **extra)["Body"].read()
            except ClientError as exc:
                if _missing(exc):
                    raise FileNotFoundError(self.uri) from None
                raise

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)

    def write_bytes(self, data: bytes) -> int:
        with _s3_errors(self.uri):
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
        with _s3_errors(self.uri):
            client().delete_object(Bucket=self.bucket, Key=self.key)

    def rmtree(self) -> None:
        """Delete every object under this prefix."""
        keys = [p.key for p in self.rglob("*")]
        with _s3_errors(self.uri):
            for i in range(0, len(keys), 1000):
                client().delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})


AnyPath = Union[Path, S3Path]


# --- helpers the engine uses ----------------------------------------------------------------
def location(path: "str | os.PathLike[str] | S3Path") -> AnyPath:
    """A ``Path`` for a local path, an :class:`S3Path` for ``s3://`` (also when pathlib mangled it to ``s3:/``)."""
    if isinstance(path, S3Path):
        return path
    text = os.fspath(path)
    if text.startswith(SCHEME):
        return S3Path(text)
    if text.startswith("s3:/"):  # Path("s3://b/k") collapses the double slash: restore it
        return S3Path(SCHEME + text[len("s3:/"):])
    if text.startswith("file://"):
        return Path(urlparse(text).path)
    return Path(path)


def is_remote(path: Any) -> bool:
    return isinstance(path, S3Path) or (isinstance(path, str) and path.startswith(SCHEME))


def storage_options(path: Any) -> dict[str, str] | None:
    """Lance ``storage_options`` for a location or uri (``None`` when local)."""
    return settings().lance_options() if is_remote(path if isinstance(path, S3Path) else str(path)) else None


@contextmanager
def _lance_call(uri: Any) -> Iterator[dict[str, str] | None]:
    """Storage options for a Lance call on ``uri``; on S3, refuse at once while the store is known
    not to answer, and note a request that ran out its timeout (see :func:`mark_unresponsive`)."""
    opts = storage_options(uri)
    if opts is None:
        yield None
        return
    s = settings()
    if unresponsive(s):
        raise StorageError(f"cannot reach {uri} at {s.where}: not answering (a request got no answer within "
                           f"{s.timeout:g}s moments ago; PINLAKE_S3_TIMEOUT)",
                           hint="Check PINLAKE_S3_ENDPOINT (and that the server is up) and your network.")
    try:
        yield opts
    except BaseException as exc:
        if _lance_no_answer(exc):
            mark_unresponsive(s)
        raise


def lance_dataset(uri: Any, **kwargs: Any) -> Any:
    """``lance.dataset`` with the storage options of ``uri``."""
    import lance

    with _lance_call(uri) as opts:
        return lance.dataset(str(uri), storage_options=opts, **kwargs)


def lance_write(data: Any, uri: Any, **kwargs: Any) -> Any:
    """``lance.write_dataset`` with the storage options of ``uri``."""
    import lance

    with _lance_call(uri) as opts:
        return lance.write_dataset(data, str(uri), storage_options=opts, **kwargs)


def lance_commit(uri: Any, transaction: Any, **kwargs: Any) -> Any:
    """``LanceDataset.commit`` with the storage options of ``uri``."""
    import lance

    with _lance_call(uri) as opts:
        return lance.LanceDataset.commit(str(uri), transaction, storage_options=opts, **kwargs)


def lance_write_fragments(data: Any, uri: Any, **kwargs: Any) -> Any:
    """``lance.fragment.write_fragments`` with the storage options of ``uri``."""
    from lance.fragment import write_fragments

    with _lance_call(uri) as opts:
        return write_fragments(data, str(uri), storage_options=opts, **kwargs)


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


# --- locks ------------------------------------------------------------------------------------
@contextmanager
def lock(path: AnyPath, timeout: float = 600) -> Iterator[None]:
    """Hold an exclusive lock named by ``path``: a FileLock locally, a lease object on S3."""
    if isinstance(path, S3Path):
        lease = S3Lease(path, timeout=timeout)
        lease.acquire()
        try:
            yield
        except BaseException as exc:
            if _lance_no_answer(exc):  # the store stopped answering: releasing would only wait again
                mark_unresponsive()
            lease.release()
            raise
        lease.release()
        return
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=timeout):
        yield


def lease_ttl() -> float:
    return float(os.environ.get("PINLAKE_S3_LEASE_TTL", "60"))


class S3Lease:
    """An exclusive lease held as an object created with ``If-None-Match: *`` (see module docstring)."""

    def __init__(self, path: S3Path, *, timeout: float = 600, ttl: float | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self.ttl = ttl if ttl is not None else lease_ttl()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _body(self) -> bytes:
        return json.dumps({"owner": self.owner, "ttl": self.ttl, "renewed_at": time.time()}).encode()

    def _put(self, **cond: str) -> str:
        resp = client().put_object(Bucket=self.path.bucket, Key=self.path.key, Body=self._body(), **cond)
        return resp["ETag"]

    def acquire(self) -> None:
        from botocore.exceptions import ClientError

        deadline = time.monotonic() + self.timeout
        delay = 0.05
        holder = "?"
        while True:
            with _s3_errors(self.path.uri):
                try:
                    self.etag = self._put(IfNoneMatch="*")
                    break
                except ClientError as exc:
                    if _code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                        raise
                try:
                    got = client().get_object(Bucket=self.path.bucket, Key=self.path.key)
                except ClientError as exc:
                    if _missing(exc):
                        continue  # released meanwhile: try again at once
                    raise
                body = got["Body"].read()
                try:
                    info = json.loads(body)
                    holder, ttl = str(info.get("owner", "?")), float(info.get("ttl", self.ttl))
                except (ValueError, TypeError, AttributeError):
                    holder, ttl = "?", self.ttl
                server_now = _server_time(got)
                age = server_now - got["LastModified"].timestamp() if server_now else 0.0
                if age > ttl:
                    try:  # the holder stopped renewing: take over (only one contender's If-Match wins)
                        self.etag = self._put(IfMatch=got["ETag"])
                        break
                    except ClientError as exc:
                        if _code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"):
                            raise
            if time.monotonic() + delay > deadline:
                raise StorageError(
                    f"timed out after {self.timeout:.0f}s waiting for the lock {self.path.uri} (held by {holder})",
                    hint=f"Another writer is busy; a lock not renewed for {self.ttl:.0f}s is taken over automatically.",
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="pinlake-lease", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        while not self._stop.wait(max(0.5, self.ttl / 3)):
            with self._mutex:
                if self._stop.is_set():
                    return
                try:
                    self.etag = self._put(IfMatch=self.etag or "")
                except ClientError as exc:
                    if _code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                        self.lost = True  # taken over: the commit fence refuses our commit
                        return
                except BotoCoreError:
                    pass  # transient: try again at the next tick

    def release(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self._stop.set()
        with self._mutex:
            if self._renewer is not None:
                self._renewer.join(timeout=0)
            if self.lost or self.etag is None:
                return
            try:
                client().delete_object(Bucket=self.path.bucket, Key=self.path.key, IfMatch=self.etag)
            except ClientError as exc:
                if _code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                    return  # taken over (or gone): not ours to delete
                try:  # a store without conditional deletes: delete only if the lease is still ours
                    head = client().head_object(Bucket=self.path.bucket, Key=self.path.key)
                    if head["ETag"] == self.etag:
                        client().delete_object(Bucket=self.path.bucket, Key=self.path.key)
                except (ClientError, BotoCoreError):
                    pass  # the lease expires on its own
            except BotoCoreError:
                pass  # unreachable: the lease expires on its own


def _server_time(resp: dict[str, Any]) -> float | None:
    from email.utils import parsedate_to_datetime

    date = (resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}).get("date")
    try:
        return parsedate_to_datetime(date).timestamp() if date else None
    except (TypeError, ValueError):
        return None
