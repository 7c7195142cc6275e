"""One writer at a time: a file lock locally, a lease object (conditional PUTs) on S3."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pinlake.errors import StorageError
from pinlake.storage.paths import AnyPath, S3Path
from pinlake.storage.s3 import client, error_code, lance_no_answer, mark_unresponsive, missing_key, s3_errors


# --- locks ------------------------------------------------------------------------------------
@contextmanager
def mutex(path: AnyPath, timeout: float = 600) -> Iterator[None]:
    """Hold the writers' mutex named by ``path`` (a recipe's lockfile is another thing: :mod:`pinlake.recipes.lockfile`): a FileLock locally, a lease object on S3."""
    if isinstance(path, S3Path):
        lease = S3Lease(path, timeout=timeout)
        lease.acquire()
        try:
            yield
        except BaseException as exc:
            if lance_no_answer(exc):  # the store stopped answering: releasing would only wait again
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
            with s3_errors(self.path.uri):
                try:
                    self.etag = self._put(IfNoneMatch="*")
                    break
                except ClientError as exc:
                    if error_code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                        raise
                try:
                    got = client().get_object(Bucket=self.path.bucket, Key=self.path.key)
                except ClientError as exc:
                    if missing_key(exc):
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
                        if error_code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"):
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
                    if error_code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404"):
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
                if error_code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404"):
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
