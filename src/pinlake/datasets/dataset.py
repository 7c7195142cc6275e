"""Dataset: a directory of Lance tables with info/schema/stats/preview files, read at one version.

``Dataset(path, media_dir=...)`` opens the latest dataset version; ``version=`` opens an older one
(read-only). Writes (``add_data`` …, see :mod:`pinlake.datasets.crud`) each make a new dataset version.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import lance
import pyarrow as pa
import pyarrow.compute as pc

from pinlake.datasets.crud import CrudMixin
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.info import DatasetInfo
from pinlake.datasets.schema import DatasetSchema
from pinlake.datasets.tables import id_filter, open_table, table_exists, tables_size
from pinlake.datasets.versions import DatasetVersion, VersionLog
from pinlake.errors import InputFileError, NotFoundError
from pinlake.features.arrow import table_to_rows
from pinlake.features.base import BaseSchema
from pinlake.features.groups import Image
from pinlake.lake import Lake
from pinlake.layout import LAKE_DIR, is_incomplete
from pinlake.storage import AnyPath, location
from pinlake.util.mediapath import inside, url_problem
from pinlake.util.sqltext import sql_str


def incomplete_error(path: AnyPath) -> InputFileError:
    return InputFileError(
        f"{path}: dataset {path.name!r} is incomplete: it has no committed version (a create never finished)",
        hint=f"Run the create again (`pinlake build ... --name {path.name} --mode create` takes it over) or delete {path}.",
    )


class Dataset(CrudMixin):
    """A pinlake dataset, read at its latest version or at ``version``."""

    def __init__(
        self,
        path: str | os.PathLike[str] | AnyPath,
        media_dir: str | os.PathLike[str] | None = None,
        *,
        version: int | None = None,
        dataset_item: type[DatasetItem] | None = None,
    ) -> None:
        self.path = location(path)
        self.media_dir = Path(media_dir) if media_dir is not None else None
        self._log = VersionLog(self.path)
        if not self._log.exists():
            raise (
                incomplete_error(self.path)
                if is_incomplete(self.path)
                else NotFoundError(
                    f"{self.path}: not a pinlake dataset (no version log)",
                    hint="Build one first, e.g. `pinlake demo` or `pinlake build SOURCE_DIR --name NAME`.",
                )
            )
        self._pinned = version is not None
        state = self._log.get(version) if version is not None else self._log.latest()
        if state is None:
            raise incomplete_error(self.path)
        self._use(state, dataset_item)

    def _use(
        self,
        state: DatasetVersion,
        dataset_item: type[DatasetItem] | None = None,
        info: DatasetInfo | None = None,
        schema: DatasetSchema | None = None,
    ) -> None:
        """Read ``state`` with its own info.json and schema.json (those of that version)."""
        self._state = state
        self.info = info if info is not None else DatasetInfo.from_json(self._own_file(state, "info.json"))
        if dataset_item is not None:
            schema = DatasetSchema.from_dataset_item(dataset_item)
        self.schema = schema if schema is not None else DatasetSchema.from_json(self._own_file(state, "schema.json"))

    def _own_file(self, state: DatasetVersion, name: str) -> AnyPath:
        path = self._log.version_file(state.dataset_version, name)
        if path is None:
            raise InputFileError(
                f"{self.path}: version {state.dataset_version} has no {name}",
                hint="Its files were removed by hand; restore them or `pinlake restore` another version.",
            )
        return path

    @classmethod
    def candidate(
        cls,
        path: str | os.PathLike[str] | AnyPath,
        state: DatasetVersion,
        info: DatasetInfo,
        schema: DatasetSchema,
        media_dir: str | os.PathLike[str] | None = None,
    ) -> Dataset:
        """A read-only handle on a state about to be committed (its stats and preview are computed
        before the commit, so a version never exists without them)."""
        ds = cls.__new__(cls)
        ds.path = location(path)
        ds.media_dir = Path(media_dir) if media_dir is not None else None
        ds._log = VersionLog(ds.path)
        ds._pinned = True
        ds._use(state, info=info, schema=schema)
        return ds

    # --- identity and versions ------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def id(self) -> str:
        return self.info.id or self.path.name

    @property
    def version(self) -> int:
        """The dataset version this handle reads."""
        return self._state.dataset_version

    @property
    def state(self) -> DatasetVersion:
        return self._state

    @property
    def read_only(self) -> bool:
        return self._pinned

    @property
    def dataset_item(self) -> type[DatasetItem]:
        return self.schema.dataset_item

    @property
    def tables(self) -> list[str]:
        return [t for t in self.schema.tables if t in self._state.tables]

    def versions(self) -> list[DatasetVersion]:
        return self._log.entries()

    def checkout(self, version: int) -> Dataset:
        """A read-only handle on an older (or the same) dataset version."""
        return Dataset(self.path, self.media_dir, version=version, dataset_item=None)

    def refresh(self) -> Dataset:
        """Deprecated name of :meth:`reload` (it does not refresh the dataset: ``pinlake refresh`` does)."""
        warnings.warn("Dataset.refresh() is deprecated: use Dataset.reload()", DeprecationWarning, stacklevel=2)
        return self.reload()

    def reload(self) -> Dataset:
        """Move this (unpinned) handle to the latest committed version."""
        if not self._pinned:
            latest = self._log.latest()
            if latest is not None and latest.dataset_version != self._state.dataset_version:
                self._use(latest, info=None, schema=self.schema)
        return self

    def table_version(self, table: str) -> int:
        self.schema.schema(table)
        try:
            return self._state.tables[table]
        except KeyError:
            raise NotFoundError(f"table {table!r} has no rows in dataset version {self.version}") from None

    def open_lance(self, table: str, *, low_memory: bool = False) -> lance.LanceDataset:
        """The Lance dataset of ``table`` at this dataset version (``low_memory``: scans read little
        ahead, for a consumer slower than the read, such as a DuckDB join)."""
        return open_table(self.path, table, self.table_version(table), low_memory=low_memory)

    def num_rows(self, table: str = "item") -> int:
        return self._state.rows[table] if table in self._state.rows else self.open_lance(table).count_rows()

    @property
    def num_items(self) -> int:
        return self.num_rows("item")

    # --- reads -----------------------------------------------------------------
    def to_arrow(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> pa.Table:
        ds = self.open_lance(table)
        return ds.to_table(columns=list(columns) if columns else None, filter=filter, limit=limit, offset=offset)

    def get_data(
        self,
        table: str,
        ids: Sequence[str] | str | None = None,
        where: str | None = None,
        limit: int | None = None,
        skip: int = 0,
        item_ids: Sequence[str] | None = None,
    ) -> list[BaseSchema]:
        """Rows of ``table`` as schema objects: by ``ids``, by a SQL ``where``, by ``item_ids``, paged."""
        schema = self.schema.schema(table)
        filters = []
        if isinstance(ids, str):
            ids = [ids]
        if ids is not None:
            filters.append(id_filter(list(ids)))
        if item_ids is not None:
            filters.append(id_filter(list(item_ids), "item_ref.id"))
        if where:
            filters.append(f"({where})")
        data = self.to_arrow(table, filter=" AND ".join(filters) or None, limit=limit, offset=skip or None)
        return table_to_rows(schema, data)

    def get_dataset_items(
        self,
        ids: Sequence[str] | str | None = None,
        limit: int | None = None,
        skip: int = 0,
        split: str | None = None,
    ) -> Any:
        """Dataset items with their views, entities and annotations attached.

        One id (a str) returns one item (``NotFoundError`` if absent); otherwise a list.
        """
        single = isinstance(ids, str)
        where = f"split = {sql_str(split)}" if split else None
        items = self.get_data("item", ids=ids, where=where, limit=limit, skip=skip)
        if single and not items:
            raise NotFoundError(f"dataset {self.name!r} has no item {ids!r}")
        out = self.assemble(items)
        return out[0] if single else out

    def assemble(self, items: list[BaseSchema]) -> list[DatasetItem]:
        """Full DatasetItems (views, entities, annotations attached) for these item rows, in their order."""
        cls = self.dataset_item
        item_ids = [i.id for i in items]
        per_table: dict[str, dict[str, list[BaseSchema]]] = {}
        for table, (_schema, _is_list) in cls.table_fields().items():
            grouped: dict[str, list[BaseSchema]] = defaultdict(list)
            if table in self._state.tables and item_ids:
                for row in self.get_data(table, item_ids=item_ids):
                    grouped[row.item_ref.id].append(row)  # type: ignore[attr-defined]  # every table field's schema has item_ref
            per_table[table] = grouped
        out = []
        meta_names = list(cls.metadata_fields())
        for item in items:
            values: dict[str, Any] = {"id": item.id, "split": getattr(item, "split", "default")}
            for name in meta_names:
                values[name] = getattr(item, name, None)
            for table, (_schema, is_list) in cls.table_fields().items():
                rows = per_table[table].get(item.id, [])
                values[table] = rows if is_list else (rows[0] if rows else None)
            out.append(cls.model_construct(**values))
        return out

    def splits(self) -> dict[str, int]:
        data = self.to_arrow("item", columns=["split"])
        counts = pc.value_counts(data.column("split"))
        return {c["values"].as_py(): c["counts"].as_py() for c in counts}

    # --- media -----------------------------------------------------------------
    def media_root(self, url: str) -> tuple[Path, str] | None:
        """(media root, path relative to it) of a view url, or None (embedded bytes, lake object, remote)."""
        if not url or "://" in url:
            return None
        rel = url.lstrip("/")
        if self.media_dir is not None:
            return self.media_dir, rel
        media = self.info.media
        prefix = (media.get("url_prefix") or "").strip("/")
        root = media.get("root")
        if root:
            if prefix and rel.startswith(prefix + "/"):
                rel = rel[len(prefix) + 1 :]
            return Path(root), rel
        return None

    @cached_property
    def _lake(self) -> Any:
        """The lake of the library holding this dataset (opened once per handle)."""
        return Lake(self.path.parent / LAKE_DIR)

    def read_media(self, view: Image | dict[str, Any]) -> bytes:
        """The bytes of an image view: embedded content, a lake object, or the file under the media dir."""
        if isinstance(view, dict):
            content, url, sha = view.get("content"), view.get("url", ""), view.get("sha256", "")
        else:
            content, url, sha = view.content, view.url, view.sha256
        if content:
            return bytes(content)
        if url.startswith("lake://"):
            return self._lake.get_object_bytes(url[len("lake://") :] or sha)
        where = self.media_root(url)
        if where is None:
            raise NotFoundError(f"cannot resolve media url {url!r}", hint="Pass media_dir= to Dataset().")
        root, rel = where
        problem = url_problem(url)
        if problem is not None:
            raise NotFoundError(f"media url {url!r} {problem}", hint="Fix the view's url: it must stay inside the media directory.")
        path = inside(root, rel)
        if path is None:
            raise NotFoundError(
                f"no media file for url {url!r} inside {root} (missing, not a file, or a symlink that leaves it)",
                hint="Pass the right media_dir.",
            )
        return path.read_bytes()

    def read_medias(self, views: Sequence[Image | dict[str, Any]]) -> list[bytes]:
        """The bytes of several views, in order: the ``lake://`` ones fetched in one batched lake read
        (:meth:`pinlake.lake.Lake.read_objects`), the others as :meth:`read_media` reads them."""

        def lake_sha(view: Image | dict[str, Any]) -> str | None:
            content, url, sha = (
                (view.get("content"), view.get("url", ""), view.get("sha256", ""))
                if isinstance(view, dict)
                else (view.content, view.url, view.sha256)
            )
            return (url[len("lake://") :] or sha) if not content and url.startswith("lake://") else None

        shas = [lake_sha(v) for v in views]
        wanted = sorted({s for s in shas if s})
        fetched = self._lake.read_objects(wanted) if wanted else {}
        return [fetched[s] if s else self.read_media(v) for v, s in zip(views, shas)]

    # --- files that describe this version (see pinlake.datasets.versions) -------------------
    def version_file(self, name: str) -> AnyPath | None:
        """This version's ``name`` (info.json, schema.json, features_values.json, stats.json,
        preview.png), or None when it has none (e.g. stats not computed after a CRUD write)."""
        return self._log.version_file(self.version, name)

    def read_json(self, name: str) -> Any:
        p = self.version_file(name)
        return json.loads(p.read_text()) if p is not None else None

    @property
    def stats(self) -> Any:
        return self.read_json("stats.json")

    @property
    def features_values(self) -> Any:
        return self.read_json("features_values.json")

    def write_version_files(self, files: dict[str, bytes]) -> None:
        """Add files computed after the commit (stats, preview) to this version (see VersionLog)."""
        self._log.write_version_files(self.version, files)

    @property
    def preview_path(self) -> AnyPath:
        """This version's preview.png (a path that does not exist when it has none)."""
        return self.version_file("preview.png") or self._log.meta_dir(self.version) / "preview.png"

    def size_bytes(self) -> int:
        """Bytes of this version's table data (:func:`tables_size`; older versions' files and the
        dataset's small files not counted)."""
        return tables_size(self.path, self._state.tables)

    def has_table(self, table: str) -> bool:
        return table in self._state.tables and table_exists(self.path, table)

    def __repr__(self) -> str:
        return f"Dataset({str(self.path)!r}, version={self.version})"
