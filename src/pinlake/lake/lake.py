"""The Lake: the public face of the raw store (upload, find, list, tags, sources, values)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pinlake.errors import InvalidQueryError, NoDataError, NotFoundError, ValidationError
from pinlake.lake import query
from pinlake.lake import tags as tagmod
from pinlake.lake.bucket import bucket_items, read_uri
from pinlake.lake.dask_ingest import ingest_on_dask
from pinlake.lake.lance_tables import DATA, DATA_COLUMNS, DATA_SCHEMA, OBJECTS, SOURCES, TAGS, Store, sql_in
from pinlake.lake.models import Data, DataSource, ErrorManager, MultiData, Rows, Tag
from pinlake.lake.processing import ProcessingResult, run
from pinlake.lake.upload import Ingested, check_metadata_sizes, folder_items, ingest, local_items, repeated_names, walk_files
from pinlake.lake.values import write_parquet
from pinlake.runners.dask import check_runner
from pinlake.storage import S3Path, is_uri, take_rows
from pinlake.storage.lance_delta import rows_kept

if TYPE_CHECKING:  # pragma: no cover
    from lance.dataset import Version

PathLike = str | os.PathLike[str]

#: objects per batched blob read (Lance's planned reader): fast, and its memory does not grow with N
READ_BLOBS_STEP = 128


class Lake:
    """A lake rooted at a directory (or ``s3://`` uri). ``Lake(root, version=N)`` is read-only at N."""

    def __init__(self, root: PathLike | S3Path, version: int | None = None) -> None:
        self.root = str(root) if isinstance(root, S3Path) or is_uri(root) else Path(root)
        self._store = Store(root, version=version)
        self.read_only = version is not None
        if self.read_only:
            self._store.read_only = (
                f"this lake is pinned at version {version} and is read-only",
                "Write through a Lake opened without version=.",
            )

    @property
    def store(self) -> Store:
        """The lake's Lance tables (:class:`pinlake.lake.lance_tables.Store`): what the engine's ingest,
        processing and lock checks read and write below this public face."""
        return self._store

    # --- versions ----------------------------------------------------------
    @property
    def version(self) -> int:
        """The data table's Lance version (0 before the first upload)."""
        return self._store.data_version()

    def rows_unchanged_since(self, version: int) -> bool:
        """Whether the data table held at ``version`` the rows it holds at this lake's version: every
        commit since compacted it or indexed it (``pinlake maintain``, whose compactions the lake
        records, :meth:`~pinlake.lake.lance_tables.Store.compactions`; an ingest's index update), so
        what was computed from the lake at ``version`` (a recipe's lock) holds now. False when
        unsure (:func:`pinlake.storage.lance_delta.rows_kept`)."""
        ds = self._store.open_or_none(DATA)
        return ds is not None and rows_kept(ds, version, self._store.compactions(DATA))

    def checkout(self, version: int) -> Lake:
        """A read-only Lake pinned at ``version`` of the data table."""
        ds = self._store.open_or_none(DATA)
        if ds is None or not any(v["version"] == version for v in ds.versions()):
            raise NotFoundError(f"the lake has no version {version}", hint=f"Current version: {self.version}.")
        return Lake(self.root, version=version)

    def versions(self) -> list[Version]:
        ds = self._store.open_or_none(DATA)
        return [] if ds is None else ds.versions()

    def read_only_view(self, reason: str, hint: str) -> Lake:
        """A Lake that reads this one at its current version and refuses every write, its own and
        its store's, with ``reason`` (e.g. the lake a recipe gets while it is locked)."""
        version = self.version
        view = Lake(self.root, version=version or None)  # an empty lake (version 0) has no version to pin
        view.read_only = True
        view._store.read_only = (reason, hint)
        return view

    def _writable(self) -> None:
        self._store.check_writable()
        if self.read_only:
            raise ValidationError(
                f"this lake is pinned at version {self._store.pinned_version} and is read-only",
                hint="Write through a Lake opened without version=.",
            )

    # --- upload --------------------------------------------------------------
    def upload_data(
        self,
        filepaths: PathLike | Iterable[PathLike],
        tags: Sequence[str | Tag] | str | Tag | None = None,
        source: str | DataSource | None = None,
        max_workers: int | None = None,
        error_manager: ErrorManager | None = None,
        metadata: dict[str, Any] | list[dict[str, Any] | None] | None = None,
        fill_metadata: bool = False,
        object_names: list[str] | str | None = None,
        *,
        object_prefix: str | None = None,
        progress: Callable[[int], None] | None = None,
        use_state: bool = True,
        runner: str = "local",
        dask_address: str | None = None,
        dask_client: Any = None,
        tasks: int | None = None,
    ) -> Data | MultiData:
        """Upload one file (returns Data) or a list (returns MultiData) into the lake.

        Files already hashed whose path, inode, size and mtime are unchanged are not read again
        (the state cache, :mod:`pinlake.lake.state`); ``use_state=False`` reads every file.

        ``runner="dask"``: hash and write on the Dask cluster at ``dask_address`` (or through
        ``dask_client``), in about ``tasks`` hash tasks, then commit here once (see
        :mod:`pinlake.lake.dask_ingest`). The files must be readable by every worker at the same path.
        """
        self._writable()
        single = isinstance(filepaths, (str, os.PathLike))
        paths: list[PathLike] = [filepaths] if isinstance(filepaths, (str, os.PathLike)) else list(filepaths)
        if isinstance(object_names, str):
            object_names = [object_names]
        if object_names is not None and len(object_names) != len(paths):
            raise ValidationError(
                f"object_names has {len(object_names)} entries for {len(paths)} files",
                hint="Give one object name per file, in the same order.",
            )
        if metadata is None or isinstance(metadata, dict):
            metas = [metadata] * len(paths)
        elif isinstance(metadata, list):
            if len(metadata) != len(paths):
                raise ValidationError(
                    f"metadata has {len(metadata)} entries for {len(paths)} files",
                    hint="Pass one dict for all files, or a list with one dict per file.",
                )
            metas = metadata
        else:
            raise ValidationError(
                f"metadata must be a dict or a list of dicts, not {type(metadata).__name__}", hint="Example: metadata={'site': 'basel'}."
            )
        for m in metas:
            if m is not None and not isinstance(m, dict):
                raise ValidationError(
                    f"metadata entries must be dicts, got {type(m).__name__}", hint="Example: metadata=[{'site': 'basel'}, {}]."
                )
        items = local_items(paths, metas, object_names, object_prefix)
        check_metadata_sizes(items)
        names, src = self._labels(tags, source)
        if runner != "local" or dask_client is not None:
            check_runner(runner, dask_address, dask_client)
            rows, _ = ingest_on_dask(
                self._store,
                items,
                tags=names,
                source=src,
                error_manager=error_manager,
                fill_metadata=fill_metadata,
                operation="lake.upload",
                address=dask_address,
                client=dask_client,
                tasks=tasks,
                progress=progress,
                use_state=use_state,
            )
            return self._wrap(rows, single)
        kept = self._ingest(items, names, src, max_workers, error_manager, progress, fill_metadata=fill_metadata, use_state=use_state).rows
        assert kept is not None
        return self._wrap(kept, single)

    def upload_folder(
        self,
        paths: PathLike | Sequence[PathLike],
        tags: Sequence[str | Tag] | str | Tag | None = None,
        source: str | DataSource | None = None,
        *,
        object_prefix: str | None = None,
        error_manager: ErrorManager | None = None,
        max_workers: int | None = None,
        progress: Callable[[int], None] | None = None,
        use_state: bool = True,
    ) -> Ingested:
        """Upload every file under ``paths`` (directories are walked; hidden files are skipped) and
        return counts, not one Data per file: the walk and the ingest stream batch by batch, so
        memory stays flat at a million files. A file is named by its path under the directory given
        (``train/img-1.jpg``; a file given itself: its name), after ``object_prefix/``, as
        ``pinlake lake upload`` names them.

        >>> lake.upload_folder("assets/health_images", tags=["mri"], source="basel").ok  # doctest: +SKIP
        40
        """
        self._writable()
        roots = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        names, src = self._labels(tags, source)
        repeated = repeated_names(roots, object_prefix)
        items = folder_items(walk_files(roots), object_prefix)
        return self._ingest(
            items, names, src, max_workers, error_manager, progress, use_state=use_state, keep_rows=False, repeated=repeated
        )

    def _ingest(
        self,
        items: Iterable[Any],
        tags: list[str],
        source: str | None,
        max_workers: int | None,
        error_manager: ErrorManager | None,
        progress: Callable[[int], None] | None,
        operation: str = "lake.upload",
        fill_metadata: bool = False,
        **kw: Any,
    ) -> Ingested:
        return ingest(
            self._store,
            items,
            tags=tags,
            source=source,
            max_workers=max_workers,
            error_manager=error_manager,
            fill_metadata=fill_metadata,
            operation=operation,
            progress=progress,
            **kw,
        )

    def import_bucket_objects(
        self,
        prefixes: list[str] | str,
        tags: Sequence[str | Tag] | str | Tag | None = None,
        source: str | DataSource | None = None,
        *,
        max_workers: int | None = None,
        error_manager: ErrorManager | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> MultiData:
        """Import by reference every object under local directories or ``s3://bucket/prefix`` prefixes."""
        self._writable()
        prefixes = [prefixes] if isinstance(prefixes, str) else list(prefixes)
        items = bucket_items(prefixes)
        names, src = self._labels(tags, source)
        lineage = {"prefixes": ",".join(prefixes)}
        rows = self._ingest(items, names, src, max_workers, error_manager, progress, operation="lake.import", lineage=lineage).rows
        assert rows is not None
        return self._wrap(rows, False)  # type: ignore[return-value]  # single=False: always MultiData

    def _labels(self, tags: Any, source: Any) -> tuple[list[str], str | None]:
        names = tagmod.tag_names(tags)
        src = tagmod.source_name(source)
        if names:
            tagmod.get_or_create(self._store, TAGS, names)
        if src:
            tagmod.get_or_create(self._store, SOURCES, [src])
        return names, src

    def _wrap(self, rows: list[dict[str, Any] | None], single: bool) -> Data | MultiData:
        if single:
            if rows[0] is None:  # the only file failed and an ErrorManager took the error
                return MultiData(self, [])
            return Data(self, rows[0])
        return MultiData(self, [Data(self, r) for r in rows if r is not None])

    # --- reading ---------------------------------------------------------------
    def find_data(self, filename: str | None = None, object_name: str | None = None, id: Any = None, *, version: int | None = None) -> Data:
        """The one data matching; NotFoundError when none, InvalidQueryError when several."""
        return Data(self, query.find_rows(self._store, filename=filename, object_name=object_name, id=id, version=version))

    def get_resource(self, object_name: str, version: int | None = None) -> Data:
        return self.find_data(object_name=object_name, version=version)

    def list_data(
        self,
        limit: int | None = None,
        offset: int | None = None,
        order_by: list[str] | str | None = None,
        tags: str | Tag | Sequence[str | Tag] | None = None,
        intersect_tags: bool = False,
        filenames: list[str] | None = None,
        object_names: list[str] | None = None,
        q: str | None = None,
        ids: list[Any] | None = None,
        all_versions: bool = False,
    ) -> MultiData:
        """Latest version of each resource (all versions with ``all_versions=True``), filtered."""
        ds = self._store.open_or_none(DATA)  # one version for the listing and the columns its Data read later
        table = self.select_rows(
            limit,
            offset,
            order_by,
            tags,
            intersect_tags,
            filenames,
            object_names,
            q,
            ids,
            all_versions,
            columns=[c for c in DATA_COLUMNS if c not in Rows.LAZY],
            dataset=ds,
            with_row_id=True,
        )
        return MultiData.from_arrow(self, table, dataset=ds)

    def select_rows(
        self,
        limit: int | None = None,
        offset: int | None = None,
        order_by: list[str] | str | None = None,
        tags: str | Tag | Sequence[str | Tag] | None = None,
        intersect_tags: bool = False,
        filenames: list[str] | None = None,
        object_names: list[str] | None = None,
        q: str | None = None,
        ids: list[Any] | None = None,
        all_versions: bool = False,
        **scan: Any,
    ) -> pa.Table:
        """The rows :meth:`list_data` would wrap, as one Arrow table (same arguments)."""
        flt = query.build_filter(
            tags=tagmod.tag_names(tags),
            intersect_tags=intersect_tags,
            filenames=filenames,
            object_names=object_names,
            ids=ids,
            q=q,
            all_versions=all_versions,
        )
        return query.select(self._store, flt, limit=limit, offset=offset, order_by=order_by, **scan)

    def select(
        self,
        where: str | None = None,
        *,
        columns: list[str] | None = None,
        tags: str | Tag | Sequence[str | Tag] | None = None,
        intersect_tags: bool = False,
        object_names: list[str] | None = None,
        order_by: list[str] | str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        all_versions: bool = False,
    ) -> pa.Table:
        """The data rows matching ``where`` (a SQL predicate over the data columns) as one Arrow table.

        The columnar twin of :meth:`list_data`: no Python object per row, only ``columns`` read
        (default: all). Latest versions unless ``all_versions``; ordered by (object_name, version)
        unless ``order_by`` says otherwise (``[]``: scan order, the cheapest). A lake without data
        gives an empty table. Example: ``lake.select("width > 100", columns=["id", "object_name"])``.
        """
        unknown = [c for c in columns or [] if c not in DATA_COLUMNS]
        if unknown:
            raise InvalidQueryError(f"no data column {unknown[0]!r}", hint=f"Select some of: {', '.join(DATA_COLUMNS)}.")
        try:
            return self.select_rows(
                limit,
                offset,
                order_by,
                tags,
                intersect_tags,
                None,
                object_names,
                where,
                None,
                all_versions,
                columns=columns,
            )
        except NoDataError:
            return DATA_SCHEMA.empty_table().select(columns or DATA_COLUMNS)

    def key_scan(self, by: list[str]) -> pa.RecordBatchReader:
        """The data table streamed for a join on the key columns ``by`` (``["id"]``, ``["object_name",
        "version"]`` or ``["object_name"]``: latest rows): those columns, ``object_name``,
        ``version`` and ``_rowid``. See :func:`pinlake.lake.query.key_scan`."""
        return query.key_scan(self._store.open_or_none(DATA), by)

    def rows_by_rowid(self, row_ids: list[int], columns: list[str] | None = None) -> pa.Table:
        """The data rows with these row ids (from :meth:`match`, or a scan with ``_rowid``), in that order."""
        ds = self._store.open_or_none(DATA)
        if ds is None:
            raise NoDataError("the lake holds no data", hint="Upload some with `pinlake lake upload FILES…`.")
        return take_rows(ds, row_ids, columns=columns)

    def count(self, q: str | None = None, all_versions: bool = False) -> int:
        ds = self._store.open_or_none(DATA)
        return 0 if ds is None else ds.count_rows(filter=query.build_filter(q=q, all_versions=all_versions))

    def row_by_id(self, id: str) -> dict[str, Any]:
        return query.find_rows(self._store, filename=None, object_name=None, id=id, version=None)

    def rows_by_ids(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        rows = query.select(self._store, query.build_filter(ids=ids, all_versions=True)).to_pylist()
        return {r["id"]: r for r in rows}

    def get_object_bytes(self, sha256: str) -> bytes:
        """The bytes of the object with this sha256 (stored in the lake, or read from its uri and checked)."""
        if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise NotFoundError(f"{sha256!r} is not a sha256 (64 lowercase hex digits)")
        found = self._fetch_objects([sha256])
        if sha256 not in found:
            raise NotFoundError(f"no object with sha256 {sha256[:12]}… in the lake at {self.root}")
        return found[sha256]

    def read_objects(self, sha256s: list[str]) -> dict[str, bytes]:
        """The bytes of many objects at once: one filtered scan and one blob take for stored objects."""
        out = self._fetch_objects(sha256s)
        missing = sorted(set(sha256s) - out.keys())
        if missing:
            raise NotFoundError(f"{len(missing)} object(s) missing from the lake at {self.root}, e.g. sha256 {missing[0][:12]}…")
        return out

    def read_row_bytes(self, row: dict[str, Any]) -> bytes:
        if row.get("uri"):
            return read_uri(row["uri"], row["sha256"])
        found = self._fetch_objects([row["sha256"]])
        if row["sha256"] not in found:
            raise NotFoundError(
                f"the bytes of {row['object_name']} (sha256 {row['sha256'][:12]}…) are missing from the lake",
                hint="The lake's objects table is damaged; re-upload the file.",
            )
        return found[row["sha256"]]

    def _fetch_objects(self, sha256s: Iterable[str]) -> dict[str, bytes]:
        """{sha256: bytes} of those objects the lake holds (absent ones are left out).

        One filtered scan of the objects table and one batched blob read for the stored ones; objects held only
        by reference are read from their uri (and checked against their sha256).
        """
        wanted = sorted(set(sha256s))
        ds = self._store.open_or_none(OBJECTS) if wanted else None
        if ds is None:
            return {}
        hits = ds.to_table(columns=["sha256", "uri"], filter=sql_in("sha256", wanted), with_row_id=True).to_pylist()
        stored: dict[str, int] = {}
        for h in hits:
            if not h["uri"]:
                stored.setdefault(h["sha256"], h["_rowid"])
        out: dict[str, bytes] = {}
        if stored:
            # one planned, batched read in Rust (not one file handle and read call per blob)
            shas, ids = list(stored), list(stored.values())
            step = READ_BLOBS_STEP  # small planned reads: the reader's buffers stay small as the lake grows
            for k in range(0, len(ids), step):
                blobs = ds.read_blobs("blob", ids=ids[k : k + step], preserve_order=True)
                # a null blob is not held: left out like an absent object
                out.update((sha, content) for sha, (_, content) in zip(shas[k : k + step], blobs) if content is not None)
        for h in hits:
            if h["uri"] and h["sha256"] not in out:
                out[h["sha256"]] = read_uri(h["uri"], h["sha256"])
        return out

    # --- tags and sources ----------------------------------------------------
    def create_data_tag(self, name: str) -> Tag:
        self._writable()
        return tagmod.create(self._store, TAGS, name)  # type: ignore[return-value]  # the TAGS table gives Tags

    def get_data_tag(self, name: str) -> Tag:
        return tagmod.get(self._store, TAGS, name)  # type: ignore[return-value]  # the TAGS table gives Tags

    def get_or_create_data_tag(self, name: str) -> Tag:
        self._writable()
        return tagmod.get_or_create(self._store, TAGS, [name])[0]  # type: ignore[return-value]  # the TAGS table gives Tags

    def list_data_tags(self, limit: int | None = None, offset: int | None = None, order_by: list[str] | None = None) -> list[Tag]:
        return tagmod.list_sorted(self._store, TAGS, limit, offset, order_by)

    def create_datasource(self, name: str) -> DataSource:
        self._writable()
        return tagmod.create(self._store, SOURCES, name)  # type: ignore[return-value]  # SOURCES gives DataSources

    def get_datasource(self, name: str) -> DataSource:
        return tagmod.get(self._store, SOURCES, name)  # type: ignore[return-value]  # SOURCES gives DataSources

    def get_or_create_datasource(self, name: str) -> DataSource:
        self._writable()
        return tagmod.get_or_create(self._store, SOURCES, [name])[0]  # type: ignore[return-value]  # SOURCES gives DataSources

    def list_datasources(self, limit: int | None = None, offset: int | None = None, order_by: list[str] | None = None) -> list[DataSource]:
        return tagmod.list_sorted(self._store, SOURCES, limit, offset, order_by)

    def tag_ids(self, ids: list[str], tags: Any) -> int:
        self._writable()
        return tagmod.change_tags(self._store, ids, tagmod.tag_names(tags), [])

    def untag_ids(self, ids: list[str], tags: Any) -> int:
        self._writable()
        return tagmod.change_tags(self._store, ids, [], tagmod.tag_names(tags))

    # --- processing ------------------------------------------------------------
    def launch_processing(
        self, processing: Any, data: Data | MultiData | Iterable[Data], parameters: dict[str, Any] | None = None
    ) -> ProcessingResult:
        """Run a registered processing over ``data``; outputs land as metadata/tags in one lake version."""
        self._writable()
        if isinstance(data, Data):
            data = MultiData(self, [data])
        elif not isinstance(data, MultiData):
            data = MultiData(self, list(data))
        return run(self, processing, data, parameters)

    # --- exports -----------------------------------------------------------------
    def to_arrow(self, selection: Data | MultiData | Iterable[Data] | None = None, **list_kwargs: Any) -> pa.Table:
        """The data rows of a selection (default: latest of every resource) as an Arrow table."""
        if selection is None:
            return self.select_rows(**list_kwargs)
        ids = [selection.id] if isinstance(selection, Data) else [d.id for d in selection]
        table = query.select(self._store, query.build_filter(ids=ids, all_versions=True))
        order = {i: n for n, i in enumerate(ids)}
        got = table["id"].to_pylist()
        idx = sorted(range(table.num_rows), key=lambda k: order[got[k]])
        return table.take(idx)

    def to_pandas(self, selection: Any = None, **list_kwargs: Any) -> Any:  # a pandas.DataFrame (pandas is optional)
        return self.to_arrow(selection, **list_kwargs).to_pandas()

    def to_parquet(self, path: PathLike, selection: Any = None, **list_kwargs: Any) -> Path:
        return write_parquet(self.to_arrow(selection, **list_kwargs), path)

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r}, version={self.version}{', read-only' if self.read_only else ''})"
