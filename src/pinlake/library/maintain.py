"""Maintain (``pinlake maintain``, the ``maintain`` deployment): compact what many small writes leave.

Every write adds fragments: a CRUD write one per table it touches, an ingest one per lake table, a
catalog sync one per catalog table. Scans then open more files and commits list more fragments, so
reads slow down as the history grows. This verb merges them with Lance's ``compact_files``:

- **A dataset**: under its write lock, each table of the latest version with more than
  ``fragments`` fragments is compacted, and the compacted table versions are committed as ONE new
  dataset version (operation ``maintain``, the same rows and files as the version it compacts,
  lineage ``pinlake.compacted_from`` and that version's lock, lake version and recipe, so the next
  refresh finds the dataset current, or builds its change incrementally). Its tables' scalar indexes
  (:func:`pinlake.datasets.tables.table_indexes`) are made whatever their size, or brought up to
  date, in the same version (a version of indexes alone when nothing needed compacting). A missing
  index is made before the compaction: it is then built in segments over the fragments as they are,
  and the compaction keeps the segments' bounds (:mod:`pinlake.storage.lance_indexes`); after the
  compaction, the indexes are brought up to date over what it rewrote. As for
  every write, the version-log entry is the commit point: a maintain killed before it leaves the
  dataset at its last version, and the next write rolls the uncommitted compaction back. Compaction writes new files and removes none, so every version stays
  readable until ``pinlake cleanup`` (retention) removes it.
- **The lake** (its data and objects tables), under the lake's write lock. Readers pin lake
  versions by number; the compacted version is a new number with the same rows, older ones stay.
  Each compacted table's new version is recorded in the lake's :data:`pinlake.lake.lance_tables.COMPACTIONS_FILE`
  (pylance 14 cannot read the record of a compaction that remapped the indexes of a table with
  deleted rows): the next refresh then knows the lake's rows were kept.
  The lake's scalar indexes (:data:`pinlake.lake.lance_tables.INDEXES`) are created whatever the
  table's size before the compaction (for the same reason as a dataset's), and brought up to date
  with every row after it (an ingest does so only past a threshold).
- **The catalog** tables, under the catalog lock (each append compacts past 32 fragments already;
  this compacts whatever is left), after a sync, so a write killed after its commit but before its
  catalogue is caught up even when there is nothing to compact.

Returns a report: per dataset, lake and catalog table, the fragments before and after, the tables
whose indexes were written, and the new dataset version (None when nothing needed doing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pinlake.catalog.store import SCHEMAS, Catalog
from pinlake.catalog.sync import sync_dataset, sync_library
from pinlake.datasets.tables import index_tables, table_uri
from pinlake.datasets.versions import DatasetVersion, VersionLog
from pinlake.lake.lance_tables import Store
from pinlake.layout import LAKE_DIR
from pinlake.library.connection import Library
from pinlake.library.restore import restored_files
from pinlake.provenance import content_lineage, lineage_properties
from pinlake.storage import AnyPath, lance_dataset, location
from pinlake.util.faults import commit_point

#: compact a table with more fragments than this
FRAGMENTS = 8


@dataclass
class MaintainReport:
    """What :func:`maintain_library` did: ``{name: {table: (fragments before, after)}}`` per part,
    ``{name: [table]}`` of the indexes written, and the dataset versions it committed."""

    datasets: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    indexes: dict[str, list[str]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    lake: dict[str, tuple[int, int]] = field(default_factory=dict)
    lake_indexes: dict[str, list[str]] = field(default_factory=dict)
    catalog: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "datasets": self.datasets,
            "indexes": self.indexes,
            "versions": self.versions,
            "lake": self.lake,
            "lake_indexes": self.lake_indexes,
            "catalog": self.catalog,
        }


def compact(uri: str, fragments: int) -> tuple[int, int] | None:
    """Compact the Lance table at ``uri`` (its head) when it has more than ``fragments`` fragments:
    (before, after), or None when it had few enough or Lance found
    nothing to rewrite (no commit: fragments of whole index segments are not merged across them, so
    a large indexed table keeps more than ``fragments`` and must not make a version every run)."""
    ds = lance_dataset(uri)
    before, base = len(ds.get_fragments()), ds.version
    if before <= fragments:
        return None
    ds.optimize.compact_files()
    after = lance_dataset(uri)
    if after.version == base:
        return None
    return before, len(after.get_fragments())


def maintain_dataset(path: AnyPath, fragments: int = FRAGMENTS) -> tuple[dict[str, tuple[int, int]], list[str], DatasetVersion | None]:
    """Index one dataset's tables, compact them and bring their indexes up to date, and commit them
    as a new version (module doc): (compacted tables, tables whose indexes were written, the version)."""
    log = VersionLog(path)
    with log.locked():
        state = log.latest()
        if state is None:
            return {}, [], None
        log.write_bases(state)  # tables rolled back to the logged state first: each head is its base
        done: dict[str, tuple[int, int]] = {}
        # indexes first, whatever the size: made in segments over the fragments as they are, which a
        # compaction keeps (as for the lake: maintain_lake); then updated over what it rewrote
        tables = index_tables(path, dict(state.tables), min_rows=1, stale_rows=0)
        made = {t for t in tables if tables[t] != state.tables[t]}
        for table in sorted(state.tables):
            uri = table_uri(path, table)
            result = compact(uri, fragments)
            if result is not None:
                commit_point(f"compact {table}")
                done[table] = result
                tables[table] = lance_dataset(uri).version
        indexed = index_tables(path, tables, min_rows=1, stale_rows=0)
        reindexed = sorted(made | {t for t in indexed if indexed[t] != tables[t]})
        if not done and not reindexed:
            return {}, [], None
        what = [f"compaction of {', '.join(sorted(done))}"] if done else []
        what += [f"indexes of {', '.join(reindexed)}"] if reindexed else []
        props = lineage_properties("maintain", compacted_from=state.dataset_version) | content_lineage(state.lineage)
        entry = log.append(
            "maintain",
            indexed,
            dict(state.rows),
            props,
            f"{' and '.join(what)} (the content of version {state.dataset_version})",
            derive=lambda e: restored_files(log, state.dataset_version, e.dataset_version),
        )
        return done, reindexed, entry


def compact_all(uris: dict[str, str], fragments: int, where: str) -> dict[str, tuple[int, int]]:
    """:func:`compact` each table of ``{name: uri}`` (call with the owner's lock held)."""
    done: dict[str, tuple[int, int]] = {}
    for table, uri in sorted(uris.items()):
        result = compact(uri, fragments)
        if result is not None:
            commit_point(f"compact {where} {table}")
            done[table] = result
    return done


def maintain_lake(library_path: AnyPath, fragments: int = FRAGMENTS) -> tuple[dict[str, tuple[int, int]], dict[str, list[str]]]:
    """Create the lake's missing indexes, compact its tables, then update their indexes:
    (compacted tables, {table: indexes written}). An index is made before the compaction so that it
    is built in segments over the fragments as they are (a compaction keeps the segments' bounds);
    after it, a table of a million rows would be one fragment, and its index one sort in memory
    (:mod:`pinlake.storage.lance_indexes`)."""
    root = location(library_path) / LAKE_DIR
    if not root.is_dir():
        return {}, {}
    store = Store(root)
    names = sorted(p.name.removesuffix(".lance") for p in root.iterdir() if p.name.endswith(".lance"))
    with store.write_lock():
        tables = [t for t in names if store.exists(t)]
        made = {t: store.index(t, min_rows=1, stale_rows=0) for t in tables}
        heads = {t: store.head(t).version for t in tables}
        done = compact_all({t: store.uri(t) for t in tables}, fragments, "lake")
        # pylance 14 may not read their records: pinlake's own says what they were (the tables whose
        # compact_files committed: it may find nothing worth rewriting)
        after = {t: store.head(t).version for t in done}
        store.record_compactions({t: v for t, v in after.items() if v > heads[t]})
        updated = {t: store.index(t, min_rows=1, stale_rows=0) for t in tables}
        indexed = {t: sorted({*made[t], *updated[t]}) for t in tables if made[t] or updated[t]}
        return done, indexed


def maintain_catalog(library_path: AnyPath, fragments: int = 1) -> dict[str, tuple[int, int]]:
    catalog = Catalog(library_path)
    if not catalog.path.is_dir():
        return {}
    with catalog.locked():
        done = compact_all({t: catalog.uri(t) for t in SCHEMAS if catalog.exists(t)}, fragments, "catalog")
        for table in SCHEMAS:
            catalog.index(table, min_rows=1)  # its dataset index made or brought up to date
        return done


def maintain_library(library_path: AnyPath, datasets: list[str] | None = None, *, fragments: int = FRAGMENTS) -> MaintainReport:
    """Compact the library's datasets (``datasets``: those only), lake and catalog (module doc)."""
    lib = Library(library_path)
    report = MaintainReport()
    for name in datasets if datasets is not None else lib.dataset_names():
        done, indexed, entry = maintain_dataset(lib.path / name, fragments)
        if done:
            report.datasets[name] = done
        if indexed:
            report.indexes[name] = indexed
        if entry is not None:
            report.versions[name] = entry.dataset_version
    if datasets is None:
        report.lake, report.lake_indexes = maintain_lake(lib.path, fragments)
        sync_library(lib.path)  # what an interrupted write left uncatalogued, before the catalog's compaction
        report.catalog = maintain_catalog(lib.path)
    else:
        for name in datasets:
            sync_dataset(lib.path, lib.path / name)
    return report


__all__ = [
    "FRAGMENTS",
    "MaintainReport",
    "compact",
    "compact_all",
    "maintain_dataset",
    "maintain_lake",
    "maintain_catalog",
    "maintain_library",
]
