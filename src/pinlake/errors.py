"""Errors raised by pinlake.

Every error carries a message that names the file, row or field at fault and,
where one helps, a one-line ``hint`` that the CLI prints under it.
Errors raised part-way through a batch carry the partial result in ``partial``
so callers (and the CLI) can show what did succeed.
"""

from __future__ import annotations

from typing import Any


class PinlakeError(Exception):
    """Base class of every pinlake error."""

    def __init__(self, message: str, *, hint: str | None = None, partial: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.partial = partial

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class NotFoundError(PinlakeError, LookupError):
    """Nothing matched: a dataset, table, row, tag, version or lake data."""


class InvalidQueryError(PinlakeError, ValueError):
    """A query is malformed or ambiguous (e.g. several rows match a find)."""


class NoDataError(PinlakeError, LookupError):
    """The lake (or a selection of it) holds no data."""


class ValidationError(PinlakeError, ValueError):
    """Input data does not match its schema (names the table, row and field)."""


class ReferenceError_(ValidationError):
    """A row points at a row that does not exist (item_ref, view_ref, entity_ref, source_ref)."""


class DatasetExistsError(PinlakeError, FileExistsError):
    """A dataset already exists where mode="create" wants to make one."""


class BuildError(PinlakeError):
    """A build failed; the dataset's previous version stays the latest."""


class InputFileError(PinlakeError, ValueError):
    """An input file is missing, unreadable or malformed (names the file and line)."""


class StorageError(PinlakeError, OSError):
    """Object storage cannot be used: unreachable endpoint, denied credentials, a lock not obtained."""


class RunnerError(PinlakeError):
    """A runner (e.g. a Dask cluster) is unknown, not installed or cannot be reached."""


class ConflictError(PinlakeError):
    """A write based on an older version than the latest, whose rows changed since (nothing written)."""


__all__ = [
    "PinlakeError",
    "NotFoundError",
    "InvalidQueryError",
    "NoDataError",
    "ValidationError",
    "ReferenceError_",
    "DatasetExistsError",
    "BuildError",
    "InputFileError",
    "StorageError",
    "RunnerError",
    "ConflictError",
]


# --- the size limit of a string field ---------------------------------------------------------------
#: environment variable: the largest string one field of one row may hold, in bytes
MAX_FIELD_BYTES_ENV = "PINLAKE_MAX_FIELD_BYTES"
#: its default: 1 MiB
DEFAULT_MAX_FIELD_BYTES = 1 << 20


def max_field_bytes() -> int:
    """The size limit of one string value (``PINLAKE_MAX_FIELD_BYTES``, default 1 MiB)."""
    import os

    raw = os.environ.get(MAX_FIELD_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_FIELD_BYTES
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValidationError(
            f"{MAX_FIELD_BYTES_ENV}={raw!r} is not a positive number of bytes",
            hint=f"Unset it (default {DEFAULT_MAX_FIELD_BYTES} bytes) or give e.g. {MAX_FIELD_BYTES_ENV}=4194304.",
        )
    return limit


def oversized_string(table: Any) -> tuple[str, int, int] | None:
    """(field, row, bytes) of the first string value of an Arrow table over :func:`max_field_bytes`,
    or None. Columnar: one ``binary_length`` and one ``max`` per string column (struct fields are
    flattened to ``a.b``; a list of strings counts each element, its row is the list's row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    limit = max_field_bytes()
    for _ in range(4):  # structs in structs
        if not any(pa.types.is_struct(f.type) for f in table.schema):
            break
        table = table.flatten()
    for f in table.schema:
        col = table.column(f.name)
        typ, parents = f.type, None
        if (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and (
            pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type)
        ):
            col = col.combine_chunks()
            parents, col = pc.list_parent_indices(col), pc.list_flatten(col)
        elif not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
            continue
        if len(col) == 0:
            continue
        lengths = pc.binary_length(col)
        top = pc.max(lengths).as_py()
        if top is None or top <= limit:
            continue
        at = pc.index(pc.greater(lengths, limit), True).as_py()
        row = parents[at].as_py() if parents is not None else at
        return f.name, row, lengths[at].as_py()
    return None


def field_size_error(where: str, field: str, size: int) -> ValidationError:
    """The error for a string of ``size`` bytes in ``field`` (``where``: the table and row, or the file and line)."""
    return ValidationError(
        f"{where}: field {field!r} holds {size:,} bytes, over the limit of {max_field_bytes():,} bytes per string field ({MAX_FIELD_BYTES_ENV})",
        hint=f"Keep large text in a file (next to the data, or in the lake) and store its name; or raise {MAX_FIELD_BYTES_ENV}.",
    )


__all__ += ["MAX_FIELD_BYTES_ENV", "DEFAULT_MAX_FIELD_BYTES", "max_field_bytes", "oversized_string", "field_size_error", "first_line"]


def truncated_image_error(path: Any, problem: str, where: str) -> InputFileError:
    """The error for an image file cut short (``problem``: why, from :func:`pinlake.util.mediatype.incomplete`)."""
    return InputFileError(
        f"{path}: not a readable image ({problem})",
        hint=f"The file is cut short (an interrupted copy or download?): copy it again or remove it ({where}).",
    )


def first_line(exc: BaseException, limit: int | None = 200) -> str:
    """The first line of an exception's message (at most ``limit`` characters; None: all of it), or
    its class name when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
