"""The library: one root directory holding the lake, the catalog, locks and datasets.

``pinlake.connect(path)`` returns a :class:`Library`. Names starting with ``_`` are
reserved (``_lake``, ``_catalog``, ``_locks``, ``_media``). The root is a local directory or an
``s3://bucket/prefix`` (see :mod:`pinlake.storage`).

Datasets and the lake load on first use (imports marked ``# lazy``): the no-op refresh opens a
Library and must not load Lance or pyarrow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pinlake.errors import NotFoundError, ValidationError
from pinlake.layout import CATALOG_DIR, LAKE_DIR, LOCKS_DIR, MEDIA_DIR, check_dataset_name, default_library_path, has_log, is_incomplete
from pinlake.storage import AnyPath, S3Path, check_reachable, location

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.datasets.dataset import Dataset
    from pinlake.lake import Lake


class Library:
    """A directory of datasets plus the lake (``_lake``), catalog (``_catalog``) and locks (``_locks``)."""

    def __init__(self, path: str | os.PathLike[str] | S3Path | None = None) -> None:
        self.path = location(path) if path is not None else default_library_path()
        check_reachable(self.path)

    # --- well-known places -------------------------------------------------
    @property
    def lake_path(self) -> AnyPath:
        return self.path / LAKE_DIR

    @property
    def catalog_path(self) -> AnyPath:
        return self.path / CATALOG_DIR

    @property
    def locks_path(self) -> AnyPath:
        return self.path / LOCKS_DIR

    @property
    def media_path(self) -> AnyPath:
        return self.path / MEDIA_DIR

    def ensure(self) -> Library:
        """Create the library's reserved directories (a library is catalogued from its first write)."""
        self.catalog_path.mkdir(parents=True, exist_ok=True)
        if isinstance(self.catalog_path, S3Path) and not self.catalog_path.is_dir():
            (self.catalog_path / ".library").write_bytes(b"")  # S3 has no empty directories: mark it
        return self

    def dataset_path(self, name: str) -> AnyPath:
        """The directory of dataset ``name``. A name that is not a dataset yet (a create, or a
        typo) is refused when it differs from an existing dataset's only in case: SQL (one schema
        per dataset) and the file systems of macOS and Windows would take them for one."""
        path = self.path / check_dataset_name(name)
        if not has_log(path):
            same = self.case_twins(name)
            if same:
                what = "the existing dataset" if has_log(self.path / same[0]) else "the incomplete dataset (a create that never finished)"
                raise ValidationError(
                    f"dataset name {name!r} differs from {what} {same[0]!r} only in case",
                    hint=f"Dataset names are case-insensitive (SQL schemas, macOS and Windows): use {same[0]!r} or another name.",
                )
        return path

    def not_found(self, name: str) -> NotFoundError:
        """The error for a dataset ``name`` the library lacks: its hint names the dataset that
        differs only in case when there is one, else the datasets here."""
        same = self.case_twins(name)
        if same:
            return NotFoundError(f"no dataset {name!r} in library {self.path}", hint=f"Did you mean {same[0]!r}?")
        known = ", ".join(self.dataset_names()) or "none"
        return NotFoundError(
            f"no dataset {name!r} in library {self.path}", hint=f"Datasets here: {known}. Try `pinlake ls --library {self.path}`."
        )

    def case_twins(self, name: str) -> list[str]:
        """The library's datasets, committed or incomplete, whose names equal ``name`` but for case
        (not ``name`` itself; other directories do not count)."""
        if not self.path.is_dir():
            return []
        same = [p for p in self.path.iterdir() if p.name.lower() == name.lower() and p.name != name]  # names first: no stat of the others
        return sorted(p.name for p in same if p.is_dir() and (has_log(p) or is_incomplete(p)))

    # --- datasets ------------------------------------------------------------
    def dataset_names(self) -> list[str]:
        """Names of the datasets with a committed version (see :meth:`incomplete_names` for the others)."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self._candidates() if has_log(p))

    def incomplete_names(self) -> list[str]:
        """Directories a create wrote but never committed (killed or failed before its first version):
        listings skip them; a new create of the name takes one over."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self._candidates() if is_incomplete(p))

    def incomplete_warnings(self) -> list[str]:
        """One line per incomplete dataset, naming it and the fix."""
        return [
            f"skipped incomplete dataset {n!r} (no committed version; a create never finished): run the create "
            f"again to take it over, or delete {self.path / n}"
            for n in self.incomplete_names()
        ]

    def _candidates(self) -> list[AnyPath]:
        return [p for p in self.path.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]

    def iter_datasets(self) -> Iterator[Dataset]:
        from pinlake.datasets.dataset import Dataset  # lazy: see the module doc

        for name in self.dataset_names():
            yield Dataset(self.path / name)

    def get_dataset(self, name: str, media_dir: str | os.PathLike[str] | None = None) -> Dataset:
        from pinlake.datasets.dataset import Dataset, incomplete_error  # lazy: see the module doc

        path = self.path / check_dataset_name(name)
        if not has_log(path):
            if is_incomplete(path):
                raise incomplete_error(path)
            raise self.not_found(name)
        return Dataset(path, media_dir=media_dir)

    def get_datalake(self) -> Lake:
        from pinlake.lake import Lake  # lazy: see the module doc

        return Lake(self.lake_path)

    def __repr__(self) -> str:
        return f"Library({str(self.path)!r})"


def connect(path: str | os.PathLike[str] | S3Path | None = None) -> Library:
    """Open (or designate) the library at ``path`` (default ``$PINLAKE_LIBRARY`` or ``./library``)."""
    return Library(path)
