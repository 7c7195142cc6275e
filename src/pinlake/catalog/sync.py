"""Catalog sync: walk each Lance table's own version history and append what the catalog lacks.

Coverage is exact by construction: every version ``lance.dataset(uri).versions()`` lists is
catalogued once, whoever made it (pinlake, a user calling lance/lancedb directly, a crashed write).
Versions made outside pinlake carry no ``pinlake.*`` properties, so their lineage is empty.

A write's own sync is incremental, so it costs the same whatever the history: each dataset's
*mark* (``_catalog/marks/<dataset>.json``: the last log entry and each table's Lance version that a
sync catalogued) says what is in; when it names the entry just before the new one, only the
versions after the mark and the new entry are read and appended. Any other mark (none, older, a
table it does not know) means something was missed, and the full walk runs; every sync writes the
mark after its appends, so a crash between the two only costs the next write a full walk.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from typing import Any

from pinlake.catalog.store import LINEAGE_COLUMNS, Catalog, dumps
from pinlake.errors import NotFoundError
from pinlake.layout import LAKE_DIR, LOG_NAME, is_library
from pinlake.storage import AnyPath, S3Path, lance_dataset, location, read_transaction, write_bytes_atomic
from pinlake.util.clock import utcnow
from pinlake.util.faults import commit_point

LAKE = LAKE_DIR
LOG_TABLE = LOG_NAME.removesuffix(".lance")


def dataset_tables(dataset_path: AnyPath | str) -> dict[str, str]:
    """``{table: uri}`` of a dataset: its ``db/*.lance`` tables and its ``_versions`` log."""
    dataset_path = location(dataset_path)
    out: dict[str, str] = {}
    db = dataset_path / "db"
    if db.is_dir():
        tables: list[AnyPath] = sorted(db.iterdir())
        for p in tables:
            if p.name.endswith(".lance") and (p / "_versions").is_dir():
                out[p.name[: -len(".lance")]] = str(p)
    log = dataset_path / LOG_NAME
    if (log / "_versions").is_dir():
        out[LOG_TABLE] = str(log)
    return out


def lake_tables(library_path: AnyPath | str) -> dict[str, str]:
    """``{table: uri}`` of every ``*.lance`` table under ``<library>/_lake`` (name relative, no suffix)."""
    root = location(library_path) / LAKE
    out: dict[str, str] = {}
    if not root.is_dir():
        return out
    stack = [root]
    while stack:
        d = stack.pop()
        children: list[AnyPath] = sorted(d.iterdir())
        for p in children:
            if not p.is_dir():
                continue
            if p.name.endswith(".lance"):
                if (p / "_versions").is_dir():
                    out[_relative(p, root)[: -len(".lance")]] = str(p)
            else:
                stack.append(p)
    return out


def _relative(path: AnyPath, root: AnyPath) -> str:
    """``path`` relative to ``root``, a directory above it on the same store (local or S3)."""
    if isinstance(path, S3Path):
        assert isinstance(root, S3Path)
        return path.relative_to(root)
    assert not isinstance(root, S3Path)
    return str(path.relative_to(root))


def library_datasets(library_path: AnyPath | str) -> list[AnyPath]:
    root = location(library_path)
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")) and ((p / "db").is_dir() or (p / LOG_NAME).is_dir())
    )


def schema_hash(schema: Any) -> str:
    return hashlib.sha256(schema.to_string(show_schema_metadata=False).encode()).hexdigest()[:16]


#: Lance's operation of an index commit (created or brought up to date): the same rows as the version it reads
INDEX_OP = "createindex"
#: index commits followed back to the write they index, at most
INDEX_CHAIN = 16


def indexed_lineage(ds: Any, tx: Any) -> dict[str, str]:
    """The lineage of the write an index commit indexes: pinlake commits a write, then its indexes
    (:mod:`pinlake.storage.lance_indexes`), and the dataset version names the indexed table version,
    so that version carries the write's lineage (run, lock, user…; none for a CRUD write, whose
    version-log entry holds it) with ``pinlake.indexed_from``, the version of the write. Empty when
    the chain cannot be followed (a version cleaned up, a transaction Lance cannot tell)."""
    for _ in range(INDEX_CHAIN):
        base = int(tx.read_version)
        if base <= 0:
            return {}
        try:
            tx = read_transaction(ds, base)
        except (OSError, ValueError, RuntimeError):  # cleaned up
            return {}
        if tx is None:
            return {}
        props = {k: val for k, val in (tx.transaction_properties or {}).items() if k.startswith("pinlake.")}
        if props or type(tx.operation).__name__.lower() != INDEX_OP:  # the write (a CRUD write's carries none)
            return {**props, "pinlake.indexed_from": str(base)}
    return {}


def version_record(dataset: str, table: str, uri: str, info: dict[str, Any], ds: Any = None) -> dict[str, Any]:
    """The catalog row of one table version (opened at that version for schema, rows and properties,
    unless ``ds`` is that version already)."""
    v = int(info["version"])
    ds = ds if ds is not None else lance_dataset(uri, version=v)
    tx = read_transaction(ds, v)
    props = dict(tx.transaction_properties or {}) if tx is not None else {}
    lance_op = type(tx.operation).__name__.lower() if tx is not None else ""
    meta = info.get("metadata") or {}
    rows = int(meta["total_rows"]) if "total_rows" in meta else ds.count_rows()
    lineage = {k: val for k, val in props.items() if k.startswith("pinlake.")}
    if not lineage and lance_op == INDEX_OP:
        lineage = indexed_lineage(ds, tx)
    rec = {
        "dataset": dataset,
        "table": table,
        "version": v,
        "timestamp": info["timestamp"],
        "operation": props.get("pinlake.operation") or lance_op,
        "rows": rows,
        "schema_hash": schema_hash(ds.schema),
        "message": props.get("lance.commit.message", ""),
        "lineage": dumps(lineage),
        "catalogued_at": utcnow(),
    }
    for col in LINEAGE_COLUMNS:
        rec[col] = lineage.get(f"pinlake.{col}", "")
    return rec


def _table_rows(catalog: Catalog, dataset: str, tables: dict[str, str], heads: dict[str, int]) -> list[dict[str, Any]]:
    """Rows of every table version the catalog lacks; ``heads`` gets each table's latest version."""
    known = catalog.keys("versions", dataset)
    rows = []
    for table, uri in tables.items():
        ds = lance_dataset(uri)
        heads[table] = ds.version
        if (dataset, table, ds.version) in known:
            # Lance numbers versions in commit order and each sync catalogues every version it lists
            # in one append, so a catalogued latest version means every older one is catalogued too.
            continue
        for info in ds.versions():
            if (dataset, table, int(info["version"])) not in known:
                rows.append(version_record(dataset, table, uri, info))
    return rows


def _new_table_rows(dataset: str, tables: dict[str, str], mark: dict[str, Any], heads: dict[str, int]) -> list[dict[str, Any]] | None:
    """Rows of the table versions after the mark (each opened once), or None when one is gone."""
    rows = []
    for table, uri in tables.items():
        head = lance_dataset(uri)
        heads[table] = head.version
        for v in range(int(mark["tables"].get(table, 0)) + 1, head.version + 1):
            try:
                ds = head if v == head.version else lance_dataset(uri, version=v)
            except (ValueError, OSError):  # removed by a cleanup: the full walk lists what exists
                return None
            rows.append(version_record(dataset, table, uri, ds.get_version(), ds))
    return rows


MARKS_DIR = "marks"


def read_mark(catalog: Catalog, dataset: str) -> dict[str, Any] | None:
    """What the last sync of ``dataset`` catalogued: ``{dataset_version, tables: {table: version}}``."""
    path = catalog.path / MARKS_DIR / f"{dataset}.json"
    try:
        mark = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) and isinstance(mark.get("tables"), dict) else None


def write_mark(catalog: Catalog, dataset: str, dataset_version: int, heads: dict[str, int]) -> None:
    (catalog.path / MARKS_DIR).mkdir(parents=True, exist_ok=True)
    mark = {"dataset_version": dataset_version, "tables": heads}
    write_bytes_atomic(catalog.path / MARKS_DIR / f"{dataset}.json", json.dumps(mark, sort_keys=True).encode())
    commit_point("catalog mark")


LOG_FIELDS = ("dataset_version", "created_at", "operation", "tables", "rows", "lineage", "message")


def log_entries(dataset_path: AnyPath) -> list[dict[str, Any]]:
    """The entries of a dataset's version log (a Lance table, ``LOG_NAME`` in :mod:`pinlake.layout`) as
    dicts, read without the datasets layer: the catalog sits below it."""
    log = dataset_path / LOG_NAME
    if not (log / "_versions").is_dir():
        return []
    return decode_log(lance_dataset(str(log)).to_table(columns=list(LOG_FIELDS)))


def decode_log(table: Any) -> list[dict[str, Any]]:
    """Rows of a version log table as entry dicts (JSON columns decoded), in version order: the one
    decoder of the log's format, used by the catalog and by :class:`pinlake.datasets.versions.VersionLog`."""
    out = [
        {
            **r,
            "tables": json.loads(r["tables"]),
            "rows": json.loads(r["rows"] or "{}"),
            "lineage": json.loads(r["lineage"] or "{}"),
            "message": r["message"] or "",
        }
        for r in table.select(list(LOG_FIELDS)).to_pylist()
    ]
    out.sort(key=lambda e: e["dataset_version"])
    return out


def _as_dict(entry: Any) -> dict[str, Any]:
    return entry if isinstance(entry, dict) else {k: getattr(entry, k) for k in LOG_FIELDS}


def _log_rows(
    catalog: Catalog, dataset: str, dataset_path: AnyPath, logged: list[Any] | None = None, known: set[int] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Catalog rows of the log entries not yet catalogued: ``logged`` (the entries a writer just
    committed, as objects with the log's fields or dicts) or, when None, every entry of the log;
    ``known``: the entry numbers already in (read from the catalog when None)."""
    known = {k[1] for k in catalog.keys("dataset_versions", dataset)} if known is None else known
    entries: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    for e in map(_as_dict, logged if logged is not None else log_entries(dataset_path)):
        if e["dataset_version"] in known:
            continue
        row = {
            "dataset": dataset,
            "dataset_version": e["dataset_version"],
            "created_at": e["created_at"],
            "operation": e["operation"],
            "tables": dumps(e["tables"]),
            "rows": dumps(e["rows"]),
            "message": e["message"],
            "lineage": dumps(e["lineage"]),
        }
        for col in LINEAGE_COLUMNS:
            row[col] = e["lineage"].get(f"pinlake.{col}", "")
        entries.append(row)
        members.extend(
            {"dataset": dataset, "dataset_version": e["dataset_version"], "table": t, "version": int(v)}
            for t, v in sorted(e["tables"].items())
        )
    return entries, members


def sync_dataset(library_path: AnyPath | str, dataset_path: AnyPath | str, *, lock: bool = True, entry: Any = None) -> dict[str, int]:
    """Catalogue every missing version of one dataset's tables and log; returns rows appended.
    ``entry``: the log entry a writer just committed; when the dataset's mark names the one before
    it, only what came after the mark is read (module doc)."""
    catalog = Catalog(library_path)
    dataset_path = location(dataset_path)
    name = dataset_path.name

    # The rows below are already filtered against the catalog's keys (or the mark), read under the
    # same lock: no second dedupe read. Members keep theirs (a crash may have left members without
    # their marker).
    with catalog.locked() if lock else nullcontext():
        tables = dataset_tables(dataset_path)
        heads: dict[str, int] = {}
        mark = read_mark(catalog, name) if entry is not None else None
        versions = None
        if (
            mark is not None
            and mark.get("dataset_version") == _as_dict(entry)["dataset_version"] - 1
            and set(mark["tables"]) <= set(tables)
        ):
            versions = _new_table_rows(name, tables, mark, heads)
        if versions is not None:
            latest = _as_dict(entry)["dataset_version"]
            entries, members = _log_rows(catalog, name, dataset_path, [entry], known=set())
        else:
            versions = _table_rows(catalog, name, tables, heads)
            log = log_entries(dataset_path)
            latest = max((e["dataset_version"] for e in log), default=0)
            entries, members = _log_rows(catalog, name, dataset_path, log)
        out = {"versions": catalog.append("versions", versions, dedupe=False, lock=False)}
        # members first: a dataset_versions row is the marker that its members are in.
        out["members"] = catalog.append("members", members, lock=False)
        out["dataset_versions"] = catalog.append("dataset_versions", entries, dedupe=False, lock=False)
        write_mark(catalog, name, latest, heads)
        return out


def sync_lake(library_path: AnyPath | str, *, lock: bool = True) -> dict[str, int]:
    catalog = Catalog(library_path)
    tables = lake_tables(library_path)
    if not tables:
        return {"versions": 0}
    with catalog.locked() if lock else nullcontext():
        return {"versions": catalog.append("versions", _table_rows(catalog, LAKE, tables, {}), dedupe=False, lock=False)}


def sync_library(library_path: AnyPath | str) -> dict[str, dict[str, int]]:
    """Walk every table of the library (datasets, logs, lake) and append what is missing."""
    library_path = location(library_path)
    if not library_path.is_dir():
        raise NotFoundError(f"library {library_path} does not exist", hint="Pass --library PATH or set PINLAKE_LIBRARY.")
    catalog = Catalog(library_path)
    report: dict[str, dict[str, int]] = {}
    with catalog.locked():
        for path in library_datasets(library_path):
            report[path.name] = sync_dataset(library_path, path, lock=False)
        report[LAKE] = sync_lake(library_path, lock=False)
    return report


def on_version_logged(dataset_path: AnyPath | str, entry: Any = None) -> None:
    """The hook :meth:`VersionLog.append` calls with the entry it just committed (a build's target
    check with none): catalogue this dataset (every entry and table version not yet in the catalog)
    if it lives in a library.

    Errors propagate (the log entry is committed either way; the next sync or write catches up).
    """
    parent = location(dataset_path).parent
    if is_library(parent):
        sync_dataset(parent, location(dataset_path), entry=entry)


def on_lake_committed(lake_root: AnyPath | str) -> None:
    """The hook an ingest calls after its commits: catalogue the new lake table versions when the lake
    is a library's ``_lake`` (errors propagate; the next sync or write catches up)."""
    root = location(lake_root)
    if root.name == LAKE_DIR and is_library(root.parent):
        sync_lake(root.parent)
