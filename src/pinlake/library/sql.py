"""Read-only DuckDB SQL over a whole library.

Schemas exposed: one per dataset (a view per table at its latest *logged* version, or pinned with
``at={"dataset": version_or_tag}``; a dataset gated on a channel shows the channel's published
version, ``at={"dataset": "latest"}`` its newest), ``catalog`` (``versions``, ``lineage``, ``pins``,
``tags``, ``consumers``, ``cleanups``, ``members``, ``checks``, ``publications``) and ``lake`` (the lake's tables, e.g. ``lake.data``).
Only one SELECT/EXPLAIN statement runs per query; anything that writes, and several statements
separated by ';', are refused before execution (DuckDB's own parser splits the statements).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from string import Formatter
from typing import Any

import pyarrow as pa

from pinlake.catalog.store import Catalog
from pinlake.catalog.sync import lake_tables
from pinlake.datasets.tables import table_uri
from pinlake.errors import InvalidQueryError, NotFoundError, ValidationError
from pinlake.library.connection import Library
from pinlake.library.versions import resolve_read
from pinlake.storage import lance_dataset
from pinlake.util.readonly_sql import check_read_only
from pinlake.util.sqlreads import QueryReads, query_reads
from pinlake.util.sqltext import sql_ident


def parse_at(at: Mapping[str, Any] | Iterable[str] | None) -> dict[str, str]:
    """``{"ds": 3}`` or ``["ds=3", "other=v1.0"]`` → ``{"ds": "3", "other": "v1.0"}``."""
    if not at:
        return {}
    if isinstance(at, Mapping):
        return {str(k): str(v) for k, v in at.items()}
    out = {}
    for item in at:
        name, sep, ver = str(item).partition("=")
        if not sep or not name or not ver:
            raise InvalidQueryError(f"--at {item!r}: expected DATASET=VERSION (or DATASET=TAG)")
        out[name] = ver
    return out


CATALOG_VIEWS = {
    "versions": """
        SELECT v.dataset, v."table", v.version, v.timestamp, v.operation, v.rows, v.schema_hash, v.message,
               v.run_id, v.flow_run_id, v.lock_hash, v.lake_version, v.recipe_hash, v.code_version, v.user,
               v.lineage, v.catalogued_at{flags}
        FROM {versions} v""",
    "lineage": "SELECT * FROM {dataset_versions}",
    "pins": """
        SELECT dataset, name AS pin, 'tag' AS kind, dataset_version, tables, created_at FROM {tags}
        UNION ALL SELECT dataset, pin_file, 'pins.yaml', dataset_version, tables, created_at FROM {pins}""",
    "tags": "SELECT * FROM {tags}",
    "consumers": "SELECT * FROM {consumers}",
    "cleanups": "SELECT * FROM {cleanups}",
    "checks": "SELECT * FROM {checks}",
    "publications": "SELECT * FROM {publications}",
    "members": "SELECT * FROM {members}",
}
#: columns of ``catalog.versions`` computed when read, each a scan of another table: made only when
#: the query can reach them (:class:`pinlake.util.sqlreads.QueryReads`)
VERSION_FLAGS = {
    # not named by a dataset version, nor indexed by a version one names (the write its index
    # commits followed: lineage ``pinlake.indexed_from``, catalog/sync.py)
    "orphan": """(v.dataset <> '_lake' AND v."table" <> '_versions' AND NOT EXISTS (
                   SELECT 1 FROM {members} m WHERE m.dataset = v.dataset AND m."table" = v."table" AND m.version = v.version
               ) AND NOT EXISTS (
                   SELECT 1 FROM (
                       SELECT w.dataset, w."table", w.version AS upto,
                              TRY_CAST(json_extract_string(w.lineage, '$."pinlake.indexed_from"') AS BIGINT) AS since
                       FROM {versions} w
                       WHERE w.operation = 'createindex' AND EXISTS (
                           SELECT 1 FROM {members} m WHERE m.dataset = w.dataset AND m."table" = w."table" AND m.version = w.version)
                   ) c
                   WHERE c.dataset = v.dataset AND c."table" = v."table" AND c.since <= v.version AND v.version < c.upto
               ))""",
    "removed": """EXISTS (SELECT 1 FROM (SELECT dataset, "table", unnest(from_json(removed, '["BIGINT"]')) AS version
                                      FROM {cleanups}) r
                       WHERE r.dataset = v.dataset AND r."table" = v."table" AND r.version = v.version)""",
}


def snapshot_name(schema: str, table: str) -> str:
    """The name a table's snapshot is registered under: its own whichever views a query needs, and
    never another's (the schema's length is in it: ``a__b.c`` and ``a.b__c`` differ)."""
    return f"__pinlake__{len(schema)}_{schema}__{table}"


def duckdb_connection(
    library: str | os.PathLike[str] | None = None, at: Mapping[str, Any] | Iterable[str] | None = None, reads: QueryReads | None = None
) -> Any:
    """A DuckDB connection with the whole library exposed as views (snapshots taken now).

    ``reads`` (what one query reads, :func:`pinlake.util.sqlreads.query_reads`): only the views it
    names are made, and ``catalog.versions`` computes ``orphan`` and ``removed`` only when the query
    can reach them; a query gets the same rows either way, without opening what it does not read."""
    import duckdb

    lib = Library(library)
    if not lib.path.is_dir():
        raise NotFoundError(f"library {lib.path} does not exist", hint="Pass --library PATH or set PINLAKE_LIBRARY.")
    pinned = parse_at(at)
    names = lib.dataset_names()
    unknown = sorted(set(pinned) - set(names))
    if unknown:
        raise NotFoundError(f"--at names unknown dataset(s) {', '.join(unknown)}", hint=f"Datasets: {', '.join(names) or 'none'}.")

    def wanted(schema: str, table: str | None = None) -> bool:
        if reads is None:
            return True
        tables = reads.tables.get(schema.lower())
        return tables is not None and (table is None or table.lower() in tables)

    # SQL identifiers ignore case: one schema could only ever show one of two datasets so named
    by_case: dict[str, list[str]] = {}
    for name in names:
        by_case.setdefault(name.lower(), []).append(name)
    unseen: set[str] = set()
    for twins in (t for t in by_case.values() if len(t) > 1):
        if any(name in pinned or (reads is not None and wanted(name)) for name in twins):
            raise ValidationError(
                f"datasets {' and '.join(map(repr, twins))} differ only in case, and SQL takes them for one schema",
                hint="Read them with pinlake.open(NAME) instead (new datasets can no longer be named so).",
            )
        unseen.update(twins)  # what the query reads is unknown: neither gets a schema (a query naming one finds none)
    con = duckdb.connect()

    def register(schema: str, table: str, obj: Any) -> str:
        name = snapshot_name(schema, table)
        con.register(name, obj)
        return sql_ident(name)

    for name in names:
        if (not wanted(name) and name not in pinned) or name in unseen:  # a pinned version is checked even when unread
            continue
        path = lib.path / name
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {sql_ident(name)}")
        try:
            entry = resolve_read(path, pinned.get(name))  # gated: the channel's version unless --at says otherwise
        except NotFoundError:
            if name in pinned:
                raise
            continue  # gated with nothing published yet: no views (read it with --at NAME=latest)
        for table, v in sorted(entry.tables.items()):
            try:
                ds = lance_dataset(table_uri(path, table), version=v)
            except (ValueError, OSError):
                raise NotFoundError(
                    f"dataset {name!r} version {entry.dataset_version}: table {table!r}@{v} was cleaned up",
                    hint=f"Pin another version with --at {name}=VERSION.",
                ) from None
            con.execute(f"CREATE VIEW {sql_ident(name)}.{sql_ident(table)} AS SELECT * FROM {register(name, table, ds)}")
    catalog = Catalog(lib.path)
    refs: dict[str, str] = {}
    con.execute("CREATE SCHEMA IF NOT EXISTS catalog")
    for view, body in CATALOG_VIEWS.items():
        if not wanted("catalog", view):
            continue
        if view == "versions":
            flags = {k: v for k, v in VERSION_FLAGS.items() if reads is None or reads.reaches(k)}
            body = body.replace("{flags}", "".join(f",\n               {expr} AS {k}" for k, expr in flags.items()))
        used = {field for _, field, _, _ in Formatter().parse(body) if field}
        for t in sorted(used - refs.keys()):
            refs[t] = register("catalog", t, catalog.dataset_ref(t))
        con.execute(f"CREATE VIEW catalog.{sql_ident(view)} AS " + body.format(**refs))
    con.execute("CREATE SCHEMA IF NOT EXISTS lake")
    if wanted("lake"):
        for table, uri in lake_tables(lib.path).items():
            if wanted("lake", table):
                con.execute(f"CREATE VIEW lake.{sql_ident(table)} AS SELECT * FROM {register('lake', table, lance_dataset(uri))}")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def sql(query: str, library: str | os.PathLike[str] | None = None, at: Mapping[str, Any] | Iterable[str] | None = None) -> pa.Table:
    """Run a read-only DuckDB query over the library; returns an Arrow table (``.to_pandas()`` for pandas).

    Only the views the query reads are made (see :func:`duckdb_connection`)."""
    import duckdb

    check_read_only(query)
    reads = query_reads(query)
    if reads is not None:
        con = duckdb_connection(library, at, reads)
        try:
            return con.sql(query).to_arrow_table()
        except (duckdb.CatalogException, duckdb.BinderException):
            pass  # a name the views made do not have: the rows, or the error, of every view (below)
        except duckdb.Error as exc:
            raise query_error(exc) from None
        finally:
            con.close()
    return run(duckdb_connection(library, at), query)


def query_error(exc: Exception) -> InvalidQueryError:
    return InvalidQueryError(str(exc).strip(), hint='Schemas: one per dataset, catalog.*, lake.*; try `pinlake sql "SHOW ALL TABLES"`.')


def run(con: Any, query: str) -> pa.Table:
    """The rows of ``query`` on ``con``, which it closes; a DuckDB error is an InvalidQueryError."""
    import duckdb

    try:
        return con.sql(query).to_arrow_table()
    except duckdb.Error as exc:
        raise query_error(exc) from None
    finally:
        con.close()
