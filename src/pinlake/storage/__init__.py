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
check-then-write ingest, catalog appends, refreshes of one dataset) hold :func:`mutex`:

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

Modules: :mod:`.paths` (``location``, ``S3Path``, ``AnyPath``), :mod:`.s3` (settings, client,
errors), :mod:`.lance_io` (Lance calls with storage options), :mod:`.locks` (``mutex``, ``S3Lease``).
The names below are re-exported so callers write ``from pinlake.storage import location``.
"""

from __future__ import annotations

from pinlake.storage.lance_io import (
    LANCE_HINT,
    forget_stale_hint,
    lance_append,
    lance_commit,
    lance_dataset,
    lance_write,
    lance_write_fragments,
    read_transaction,
    take_rows,
)
from pinlake.storage.locks import S3Lease, lease_ttl, mutex
from pinlake.storage.paths import (
    AnyPath,
    S3Path,
    check_reachable,
    is_remote,
    is_uri,
    location,
    rmtree,
    storage_options,
    write_bytes_atomic,
)
from pinlake.storage.s3 import (
    S3Settings,
    client,
    lance_storage_error,
    mark_unresponsive,
    settings,
    storage_error,
    unresponsive,
    unresponsive_window,
)

__all__ = [
    "LANCE_HINT",
    "AnyPath",
    "S3Lease",
    "S3Path",
    "S3Settings",
    "check_reachable",
    "client",
    "forget_stale_hint",
    "is_remote",
    "is_uri",
    "lance_append",
    "lance_commit",
    "lance_dataset",
    "lance_storage_error",
    "lance_write",
    "lance_write_fragments",
    "lease_ttl",
    "location",
    "mark_unresponsive",
    "mutex",
    "read_transaction",
    "rmtree",
    "settings",
    "storage_error",
    "storage_options",
    "take_rows",
    "unresponsive",
    "unresponsive_window",
    "write_bytes_atomic",
]
