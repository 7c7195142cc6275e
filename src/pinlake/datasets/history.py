"""Dataset history: resolve versions (number, tag, lock hash), tag, restore, diff and cleanup.

Every function works on the dataset's version log; nothing here rewrites history. ``restore``
appends a new version equal to an old one; ``cleanup`` removes old table versions but keeps
tagged ones, pinned ones (pins.yaml entries registered with the catalog) and the latest, and
records what it removed in the catalog.
"""

from __future__ import annotations

import json

import re
from datetime import timedelta
from typing import Any

import pyarrow as pa

from pinlake.datasets.tables import open_table, table_uri
from pinlake.datasets.versions import VERSION_FILES, DatasetVersion, VersionLog
from pinlake.errors import NotFoundError, ValidationError
from pinlake.clock import utcnow
from pinlake.storage import AnyPath, lance_dataset, location

TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


# --- locating -----------------------------------------------------------------------
def dataset_path(name_or_path: str | AnyPath, library: str | AnyPath | None = None) -> AnyPath:
    """The directory of a dataset given its name in ``library`` (or a path to it)."""
    from pinlake.library import Library

    p = location(name_or_path)
    if (p / "_versions.lance" / "_versions").is_dir():
        return p
    lib = Library(library)
    names = lib.dataset_names()
    if str(name_or_path) not in names:
        raise NotFoundError(
            f"no dataset {str(name_or_path)!r} in library {lib.path}",
            hint=f"Datasets here: {', '.join(names) or 'none'}. Try `pinlake ls --library {lib.path}`.",
        )
    return lib.path / str(name_or_path)


def library_of(path: AnyPath) -> AnyPath | None:
    """The library holding the dataset at ``path`` (None if it lives outside a library)."""
    from pinlake.catalog.store import is_library

    return path.parent if is_library(path.parent) else None


# --- resolving --------------------------------------------------------------------------
def tags_of(path: AnyPath, entries: list[DatasetVersion] | None = None) -> dict[str, int]:
    """``{tag: dataset_version}``: from the catalog, else from the Lance tags on the tables.

    ``entries``: the version log when the caller has already read it.
    """
    lib = library_of(path)
    out: dict[str, int] = {}
    if lib is not None:
        from pinlake.catalog.store import Catalog
        from pinlake.sqltext import sql_str

        data = Catalog(lib).read("tags", filter=f"dataset = {sql_str(path.name)}", columns=["name", "dataset_version"])
        out.update(zip(data.column("name").to_pylist(), data.column("dataset_version").to_pylist()))
    if entries is None:
        entries = VersionLog(path).entries()
    lance_tags: dict[str, dict[str, int]] = {}
    db = path / "db"
    for table_dir in sorted(db.iterdir()) if db.is_dir() else []:
        if table_dir.name.endswith(".lance"):
            for name, t in lance_dataset(str(table_dir)).tags.list().items():
                if not name.startswith("pinlake-keep-"):
                    lance_tags.setdefault(name, {})[table_dir.name[:-6]] = t["version"]
    for name, tables in lance_tags.items():
        if name in out:
            continue
        for e in reversed(entries):
            if all(e.tables.get(t) == v for t, v in tables.items()):
                out[name] = e.dataset_version
                break
    return out


def resolve(path: AnyPath, version: int | str | None = None, *, tag: str | None = None, lock: str | None = None) -> DatasetVersion:
    """The dataset version named by a number, a tag or a lock hash (default: the latest)."""
    log = VersionLog(path)
    entries = log.entries()
    if not entries:
        raise NotFoundError(f"dataset {path.name!r} has no committed version", hint="Build it first.")
    by_number = {e.dataset_version: e for e in entries}

    def get(number: int) -> DatasetVersion:
        return by_number[number] if number in by_number else log.get(number)  # log.get raises NotFoundError
    if isinstance(version, str):
        if version.isdigit():
            version = int(version)
        elif version.startswith("lock:"):
            lock, version = version[5:], None
        else:
            tag, version = version, None
    if version is not None:
        return get(int(version))
    tags: dict[str, int] | None = None
    if tag is not None:
        tags = tags_of(path, entries)
        if tag in tags:
            return get(tags[tag])
        if re.fullmatch(r"[0-9a-f]{6,64}", tag) and lock is None:
            lock = tag
        else:
            raise NotFoundError(
                f"dataset {path.name!r} has no tag {tag!r}",
                hint=f"Tags: {', '.join(sorted(tags)) or 'none'}; versions 1..{entries[-1].dataset_version}.",
            )
    if lock is not None:
        for e in reversed(entries):
            if e.lock_hash and e.lock_hash.startswith(lock):
                return e
        locks = sorted({e.lock_hash[:12] for e in entries if e.lock_hash})
        tags = tags if tags is not None else tags_of(path, entries)
        raise NotFoundError(
            f"dataset {path.name!r} has no version built from lock {lock!r}",
            hint=f"Locks built: {', '.join(locks) or 'none'}; tags: {', '.join(sorted(tags)) or 'none'}.",
        )
    return entries[-1]


def missing_tables(entry: DatasetVersion, path: AnyPath) -> list[str]:
    """Tables of ``entry`` whose Lance version no longer exists (removed by cleanup)."""
    out = []
    for table, v in entry.tables.items():
        try:
            lance_dataset(table_uri(path, table), version=v)
        except (ValueError, OSError):
            out.append(f"{table}@{v}")
    return out


def list_versions(path: AnyPath) -> list[dict[str, Any]]:
    """Every dataset version with its tags and whether it still reads (not cleaned up)."""
    entries = VersionLog(path).entries()
    tags = tags_of(path, entries)
    by_version: dict[int, list[str]] = {}
    for name, v in tags.items():
        by_version.setdefault(v, []).append(name)
    existing = {}
    for table_dir in (path / "db").iterdir():
        if table_dir.name.endswith(".lance"):
            existing[table_dir.name[:-6]] = {int(v["version"]) for v in lance_dataset(str(table_dir)).versions()}
    out = []
    for e in entries:
        d = e.to_dict()
        d["lock_hash"], d["run_id"] = e.lock_hash, e.run_id
        d["tags"] = sorted(by_version.get(e.dataset_version, []))
        d["available"] = all(v in existing.get(t, set()) for t, v in e.tables.items())
        out.append(d)
    return out


# --- tag ----------------------------------------------------------------------------------
def tag_version(path: AnyPath, version: int | str, name: str) -> dict[str, Any]:
    """Name a dataset version: a Lance tag on each of its tables, plus a catalog record."""
    if not TAG_RE.match(name) or name.isdigit() or name.startswith("lock:") or name.startswith("pinlake-keep-"):
        raise ValidationError(
            f"invalid tag name {name!r}: use letters, digits, '_', '-', '.', not only digits",
            hint="Try a name like 'v1.0' or 'baseline'.",
        )
    entry = resolve(path, version)
    existing = tags_of(path)
    if name in existing:
        raise ValidationError(
            f"dataset {path.name!r} already has a tag {name!r} (version {existing[name]})",
            hint=f"Tags: {', '.join(sorted(existing))}. Pick another name.",
        )
    gone = missing_tables(entry, path)
    if gone:
        raise NotFoundError(f"dataset {path.name!r} version {entry.dataset_version} was cleaned up ({', '.join(gone)})")
    for table, v in entry.tables.items():
        ds = lance_dataset(table_uri(path, table))
        if name not in ds.tags.list():
            ds.tags.create(name, v)
    lib = library_of(path)
    if lib is not None:
        from pinlake.catalog.store import Catalog, dumps
        from pinlake.lineage import lineage_properties

        Catalog(lib).append("tags", [{
            "dataset": path.name, "name": name, "dataset_version": entry.dataset_version,
            "tables": dumps(entry.tables), "created_at": utcnow(), "user": lineage_properties("tag")["pinlake.user"],
        }])
    return {"dataset": path.name, "tag": name, "dataset_version": entry.dataset_version, "tables": entry.tables}


# --- restore --------------------------------------------------------------------------------
def restore_version(path: AnyPath, version: int | str) -> DatasetVersion:
    """Append a new dataset version equal to an old one (each table restored to its old version)."""
    from pinlake.lineage import lineage_properties

    log = VersionLog(path)
    with log.locked():
        target = resolve(path, version)
        gone = missing_tables(target, path)
        if gone:
            raise NotFoundError(
                f"cannot restore dataset {path.name!r} to version {target.dataset_version}: cleaned up ({', '.join(gone)})",
                hint="Pick a version listed as available by `pinlake versions`.",
            )
        tables: dict[str, int] = {}
        rows: dict[str, int] = {}
        for table, v in target.tables.items():
            uri = table_uri(path, table)
            if lance_dataset(uri).version == v:
                tables[table] = v  # the latest table version already is the old one
            else:
                lance_dataset(uri, version=v).restore()
                tables[table] = lance_dataset(uri).version
            rows[table] = target.rows.get(table, lance_dataset(uri, version=tables[table]).count_rows())
        props = lineage_properties("restore", restored_from=target.dataset_version)
        for key in ("pinlake.lock_hash", "pinlake.lake_version", "pinlake.recipe_hash"):
            if target.lineage.get(key):
                props[key] = target.lineage[key]
        return log.append("restore", tables, rows, props, f"restore of version {target.dataset_version}",
                          derive=lambda entry: restored_files(log, target.dataset_version, entry.dataset_version))


def restored_files(log: VersionLog, source: int, number: int) -> dict[str, bytes]:
    """The files of a version that restores ``source``: that version's own (its stats renumbered)."""
    out: dict[str, bytes] = {}
    for name in VERSION_FILES:
        src = log.version_file(source, name)
        if src is None:
            continue
        data = src.read_bytes()
        if name == "stats.json":
            stats = json.loads(data)
            if isinstance(stats, dict) and stats.get("dataset_version") == source:
                data = (json.dumps({**stats, "dataset_version": number}, indent=2) + "\n").encode()
        out[name] = data
    return out


# --- diff -------------------------------------------------------------------------------------
#: bookkeeping columns every table has (:class:`pinlake.features.base.BaseSchema`): when a row was
#: written, not what it holds. A rebuild of the same inputs writes new values in them.
META_COLUMNS = ("created_at", "updated_at")


def diff_versions(path: AnyPath, a: int | str, b: int | str, *, include_meta: bool = False) -> dict[str, Any]:
    """Rows added, removed and changed (same id, other content) per table.

    Content is every column but the bookkeeping ones (:data:`META_COLUMNS`: ``created_at``,
    ``updated_at``), so an identical rebuild of the same inputs has 0 changed rows;
    ``include_meta=True`` compares them too.

    Returns ``{"dataset", "a", "b", "tables": {table: {added, removed, changed}}, "ignored_columns",
    "ids": Arrow table (table, change, id)}``. Runs as DuckDB anti/inner joins over the two Lance versions.
    """
    import duckdb

    ignored = () if include_meta else META_COLUMNS
    ea, eb = resolve(path, a), resolve(path, b)
    con = duckdb.connect()
    summary: dict[str, dict[str, int]] = {}
    parts: list[pa.Table] = []
    for table in sorted(set(ea.tables) | set(eb.tables)):
        va, vb = ea.tables.get(table), eb.tables.get(table)
        if va == vb:
            summary[table] = {"added": 0, "removed": 0, "changed": 0}
            continue
        # a version removed by cleanup is a NotFoundError naming it (not Lance's missing-manifest error)
        da = open_table(path, table, va) if va is not None else None
        db = open_table(path, table, vb) if vb is not None else None
        schema = (db or da).schema  # type: ignore[union-attr]
        con.register("a_t", da if da is not None else schema.empty_table())
        con.register("b_t", db if db is not None else schema.empty_table())
        common = [c for c in schema.names if c not in ignored and (da is None or c in da.schema.names)
                  and (db is None or c in db.schema.names)]
        cols_a = ", ".join(f'a."{c}"' for c in common)
        cols_b = ", ".join(f'b."{c}"' for c in common)
        query = f"""
            SELECT 'added' AS change, b.id FROM b_t b ANTI JOIN a_t a ON a.id = b.id
            UNION ALL SELECT 'removed', a.id FROM a_t a ANTI JOIN b_t b ON a.id = b.id
            UNION ALL SELECT 'changed', a.id FROM a_t a JOIN b_t b ON a.id = b.id
                WHERE row({cols_a}) IS DISTINCT FROM row({cols_b})
        """
        ids = con.sql(query).to_arrow_table()
        con.unregister("a_t")
        con.unregister("b_t")
        counts = con.sql("SELECT change, count(*) FROM ids GROUP BY change").fetchall()
        summary[table] = {"added": 0, "removed": 0, "changed": 0, **dict(counts)}
        parts.append(pa.table({"table": pa.array([table] * ids.num_rows, pa.string()),
                               "change": ids.column("change").cast(pa.string()), "id": ids.column("id").cast(pa.string())}))
    empty = pa.table({"table": pa.array([], pa.string()), "change": pa.array([], pa.string()), "id": pa.array([], pa.string())})
    all_ids = pa.concat_tables([empty, *parts]).sort_by([("table", "ascending"), ("change", "ascending"), ("id", "ascending")])
    return {"dataset": path.name, "a": ea.dataset_version, "b": eb.dataset_version, "tables": summary,
            "ignored_columns": list(ignored), "ids": all_ids}


# --- cleanup -------------------------------------------------------------------------------------
def parse_age(text: str | timedelta) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``45m``, ``10s`` → a timedelta."""
    if isinstance(text, timedelta):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text))
    if not m:
        raise ValidationError(f"invalid age {text!r}", hint="Use a number and a unit: 30d, 12h, 2w, 45m, 10s.")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
    return timedelta(**{unit: float(m.group(1))})


#: the tags refreshes put on the versions they build (``lock-<hash[:8]>``)
LOCK_TAG_PREFIX = "lock-"


def protected_versions(path: AnyPath, entries: list[DatasetVersion] | None = None, *,
                       keep_lock_tags: bool = True) -> dict[int, list[str]]:
    """Dataset versions cleanup keeps, with why: the latest, tagged ones, pinned ones.

    ``keep_lock_tags=False``: the refreshes' automatic ``lock-*`` tags do not protect a version
    (a registry ``retention:``); tags users give still do."""
    if entries is None:
        entries = VersionLog(path).entries()
    keep: dict[int, list[str]] = {}
    if entries:
        keep.setdefault(entries[-1].dataset_version, []).append("latest")
    for name, v in tags_of(path, entries).items():
        if keep_lock_tags or not name.startswith(LOCK_TAG_PREFIX):
            keep.setdefault(v, []).append(f"tag {name}")
    lib = library_of(path)
    if lib is not None:
        from pinlake.catalog.store import Catalog
        from pinlake.sqltext import sql_str

        pins = Catalog(lib).read("pins", filter=f"dataset = {sql_str(path.name)}", columns=["dataset_version", "pin_file"])
        for v, f in zip(pins.column("dataset_version").to_pylist(), pins.column("pin_file").to_pylist()):
            keep.setdefault(v, []).append(f"pin {f}")
    return keep


def cleanup_dataset(path: AnyPath, older_than: str | timedelta = "30d", *, keep_lock_tags: bool = True) -> dict[str, Any]:
    """Remove table versions older than ``older_than``, keeping the latest, tagged and pinned ones.

    ``keep_lock_tags=False`` (a registry ``retention:``): versions whose only protection is a
    refresh's automatic ``lock-*`` tag are removed too; those Lance tags are deleted first (the
    catalog keeps their history) and listed in the report under ``untagged``.
    """
    from pinlake.catalog.sync import dataset_tables

    age = parse_age(older_than)
    cutoff = utcnow() - age
    log = VersionLog(path)
    report: dict[str, Any] = {"dataset": path.name, "cutoff": cutoff.isoformat(), "tables": {}, "untagged": []}
    rows = []
    with log.locked():
        log_entries = log.entries()
        entries = {e.dataset_version: e for e in log_entries}
        keep_dv = protected_versions(path, log_entries, keep_lock_tags=keep_lock_tags)
        report["kept_dataset_versions"] = {v: why for v, why in sorted(keep_dv.items())}
        for table, uri in dataset_tables(path).items():
            keep = sorted({entries[v].tables[table] for v in keep_dv if v in entries and table in entries[v].tables})
            ds = lance_dataset(uri)
            before = {int(v["version"]) for v in ds.versions()}
            if not keep_lock_tags:
                for name, t in ds.tags.list().items():
                    if name.startswith(LOCK_TAG_PREFIX) and t["version"] not in keep:
                        ds.tags.delete(name)
                        if name not in report["untagged"]:
                            report["untagged"].append(name)
            temp = [f"pinlake-keep-{v}" for v in keep if v in before]
            tagged = ds.tags.list()
            for name, v in zip(temp, [v for v in keep if v in before]):
                if name not in tagged:
                    ds.tags.create(name, v)
            try:
                stats = ds.cleanup_old_versions(older_than=age, delete_unverified=True, error_if_tagged_old_versions=False)
            finally:
                for name in temp:
                    ds.tags.delete(name)
            after = {int(v["version"]) for v in lance_dataset(uri).versions()}
            removed = sorted(before - after)
            report["tables"][table] = {"removed": removed, "kept": sorted(after), "bytes_removed": stats.bytes_removed}
            rows.append({
                "dataset": path.name, "table": table, "cutoff": cutoff, "older_than": str(older_than),
                "removed": str(removed), "kept": str(sorted(after)), "bytes_removed": int(stats.bytes_removed),
                "cleaned_at": utcnow(), "user": "",
            })
    lib = library_of(path)
    if lib is not None:
        from pinlake.catalog.store import Catalog

        Catalog(lib).append("cleanups", rows, dedupe=False)
    return report
