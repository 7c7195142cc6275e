"""S3 settings, the boto3 client, and S3/Lance errors turned into one-line StorageErrors."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
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
    def from_env(cls) -> S3Settings:
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
        "s3",
        endpoint_url=s.endpoint,
        region_name=s.region or "us-east-1",
        aws_access_key_id=s.access_key,
        aws_secret_access_key=s.secret_key,
        config=config,
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
def error_code(exc: Exception) -> str:
    resp = getattr(exc, "response", None) or {}
    return str(resp.get("Error", {}).get("Code", ""))


_LANCE_IO = re.compile(r"LanceError\(IO\)|Generic S3 error|Generic N/A error|error sending request|dispatch failure")


_REQUEST = re.compile(r"\b(GET|PUT|POST|HEAD|DELETE|PATCH) (https?://\S+?)(?: in [0-9.]+m?s)?(?:,|$| )")


_ELAPSED = re.compile(r" in ([0-9.]+)(ms|s)\b")


_HTTP_REASON = re.compile(r"HTTP error: ([^,/]+)")


def lance_no_answer(exc: BaseException) -> bool:
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
    hint = (
        "The store stopped answering mid-command (see PINLAKE_S3_ENDPOINT). Nothing uncommitted is visible; "
        "run the same command again once it is back."
    )
    if lance_no_answer(exc):
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
            return StorageError(
                f"cannot reach {uri} at {s.where}: the host name {host!r} does not resolve",
                hint="Check the host name in PINLAKE_S3_ENDPOINT (or AWS_ENDPOINT_URL) and your DNS.",
            )
        if isinstance(exc, _unresponsive_error()):
            reason = f"not answering (a request got no answer within {s.timeout:g}s moments ago; PINLAKE_S3_TIMEOUT)"
        elif isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
            reason = f"timed out (no answer within {s.timeout:g}s, twice; PINLAKE_S3_TIMEOUT)"
        elif isinstance(exc, bx.ConnectionClosedError):
            reason = "the connection was closed"
        else:
            reason = "connection refused"
        return StorageError(
            f"cannot reach {uri} at {s.where}: {reason}", hint="Check PINLAKE_S3_ENDPOINT (and that the server is up) and your network."
        )
    if isinstance(exc, bx.NoCredentialsError):
        return StorageError(f"no credentials to access {uri} at {s.where}", hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.")
    code = error_code(exc)
    if code in ("NoSuchBucket",):
        bucket = uri[len(SCHEME) :].split("/", 1)[0]
        return NotFoundError(
            f"bucket {bucket!r} of {uri} does not exist at {s.where}", hint="Create the bucket first, or fix the uri / PINLAKE_S3_ENDPOINT."
        )
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "Forbidden"):
        return StorageError(
            f"access to {uri} at {s.where} denied ({code})",
            hint="Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_REGION) for this endpoint.",
        )
    if isinstance(exc, bx.BotoCoreError) or code:
        return StorageError(
            f"S3 request on {uri} at {s.where} failed: {code or type(exc).__name__}: {exc}".replace("\n", " "),
            hint="Check PINLAKE_S3_ENDPOINT and AWS_* settings.",
        )
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
        todo += [
            getattr(e, "kwargs", {}).get("error") if isinstance(getattr(e, "kwargs", None), dict) else None,
            e.__cause__,
            e.__context__,
        ]
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
def s3_errors(uri: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise storage_error(uri, exc) from None


def missing_key(exc: Exception) -> bool:
    return error_code(exc) in ("404", "NoSuchKey", "NotFound")
