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
]
