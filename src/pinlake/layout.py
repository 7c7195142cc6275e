"""Where things live in a library: reserved names, dataset names and the paths every layer agrees on.

A library is one root (a local directory or ``s3://bucket/prefix``)::

    <library>/
      _lake/            the lake (data.lance, objects, tags, sources; lake.json: its identity)
      _catalog/         the lineage catalog (append-only Lance tables)
      _locks/           lockfiles of recipes
      _media/           media files of datasets built from the lake
      .<name>.lock      the writer lock of dataset <name>
      <name>/           a dataset: db/*.lance, _versions.lance (its version log), _meta/<N>/, info.json, ...

Names starting with ``_`` or ``.`` are reserved. This module imports nothing of pinlake but errors and
storage, so the catalog, the lake and the datasets share these names without importing each other.
"""

from __future__ import annotations

import os
import re

from pinlake.errors import ValidationError
from pinlake.storage import AnyPath, S3Path, location

LAKE_DIR = "_lake"
CATALOG_DIR = "_catalog"
LOCKS_DIR = "_locks"
MEDIA_DIR = "_media"
RESERVED_DIRS = (CATALOG_DIR, LAKE_DIR, LOCKS_DIR, MEDIA_DIR)
#: a dataset's version log (a Lance table) and the directory of its per-version files
LOG_NAME = "_versions.lance"
META_DIR = "_meta"

DEFAULT_LIBRARY = "./library"
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def default_library_path() -> AnyPath:
    """``$PINLAKE_LIBRARY`` or ``./library``."""
    return location(os.environ.get("PINLAKE_LIBRARY", DEFAULT_LIBRARY))


def check_dataset_name(name: str) -> str:
    """``name`` when it is a valid dataset name, else a ValidationError with a hint."""
    if not DATASET_NAME_RE.match(name or ""):
        raise ValidationError(
            f"invalid dataset name {name!r}: use letters, digits, '_', '-', '.'; names starting with '_' are reserved",
            hint="Try a name like 'health_images'.",
        )
    return name


def has_log(dataset_path: AnyPath) -> bool:
    """The dataset has a committed version log (a directory without one is incomplete)."""
    return (dataset_path / LOG_NAME / "_versions").is_dir()


def is_incomplete(path: AnyPath) -> bool:
    """A dataset directory with files of a build but no committed version (a create that never finished)."""
    return not has_log(path) and any((path / n).exists() for n in ("info.json", "schema.json", "db", META_DIR, LOG_NAME))


def is_library(path: AnyPath | str) -> bool:
    """Whether ``path`` is a pinlake library: it holds a reserved directory (``_catalog``, ``_lake``,
    ``_locks``, ``_media``) or it is the default library (``$PINLAKE_LIBRARY`` or ``./library``)."""
    path = location(path)
    if not path.is_dir():
        return False
    if any((path / d).is_dir() for d in RESERVED_DIRS):
        return True
    default = default_library_path()
    if isinstance(path, S3Path) or isinstance(default, S3Path):
        return path == default
    try:
        return path.resolve() == default.resolve()
    except OSError:  # pragma: no cover
        return False
