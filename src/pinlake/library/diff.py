"""Diff (``pinlake diff``): rows added, removed and changed between two dataset versions.

Cost follows the change. Per table, the rows one version has and the other lacks are read from
Lance's fragment metadata (:func:`pinlake.storage.lance_delta.table_delta`: new fragments, rows
deleted from shared ones), and DuckDB compares those only: a rewritten row with the same id is
``changed`` when its content differs, an id on one side only is ``added`` or ``removed``. Every
other row is the same row in both versions, so the result is that of comparing the whole
versions. When the fragments cannot tell (a compaction rewrote them) or more than
:data:`DELTA_FRACTION` of the rows changed (beyond :data:`DELTA_MIN_ROWS`), the whole versions are
compared. A version that only adds indexes has the same fragments: nothing to read. (Ids are
unique within a table; a damaged table holding one id twice can diff otherwise than the whole
comparison, which counts each id once.)
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pinlake.datasets.tables import open_table
from pinlake.library.versions import resolve
from pinlake.storage import AnyPath
from pinlake.storage.lance_delta import NotIncremental, table_delta

# --- diff -------------------------------------------------------------------------------------
#: bookkeeping columns every table has (:class:`pinlake.features.base.BaseSchema`): when a row was
#: written, not what it holds. A rebuild of the same inputs writes new values in them.
META_COLUMNS = ("created_at", "updated_at")
#: compare the changed rows only while at most this fraction of a table's rows changed…
DELTA_FRACTION = 0.1
#: … or at most this many (module doc)
DELTA_MIN_ROWS = 10_000


def compared_rows(da: Any, db: Any, columns: list[str]) -> tuple[Any, Any]:
    """The two sides the diff query compares: the rows each version has and the other lacks, in
    ``columns`` (module doc), or the whole versions when that cannot be told cheaply."""
    if da is None or db is None:
        return da, db
    limit = max(DELTA_MIN_ROWS, int(DELTA_FRACTION * max(da.count_rows(), db.count_rows())))
    try:
        delta = table_delta(da, db, columns, limit)
    except NotIncremental:
        return da, db
    return delta.removed, delta.added


def diff_versions(path: AnyPath, a: int | str, b: int | str, *, include_meta: bool = False) -> dict[str, Any]:
    """Rows added, removed and changed (same id, other content) per table.

    Content is every column but the bookkeeping ones (:data:`META_COLUMNS`: ``created_at``,
    ``updated_at``), so an identical rebuild of the same inputs has 0 changed rows;
    ``include_meta=True`` compares them too.

    Returns ``{"dataset", "a", "b", "tables": {table: {added, removed, changed}}, "ignored_columns",
    "ids": Arrow table (table, change, id)}``. Runs as DuckDB anti/inner joins over the rows that
    changed between the two Lance versions (module doc).
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
        schema = (db or da).schema  # type: ignore[union-attr]  # one side at least has the table (see above)
        common = [
            c for c in schema.names if c not in ignored and (da is None or c in da.schema.names) and (db is None or c in db.schema.names)
        ]
        ra, rb = compared_rows(da, db, common)
        con.register("a_t", ra if ra is not None else schema.empty_table())
        con.register("b_t", rb if rb is not None else schema.empty_table())
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
        parts.append(
            pa.table(
                {
                    "table": pa.array([table] * ids.num_rows, pa.string()),
                    "change": ids.column("change").cast(pa.string()),
                    "id": ids.column("id").cast(pa.string()),
                }
            )
        )
    empty = pa.table({"table": pa.array([], pa.string()), "change": pa.array([], pa.string()), "id": pa.array([], pa.string())})
    all_ids = pa.concat_tables([empty, *parts]).sort_by([("table", "ascending"), ("change", "ascending"), ("id", "ascending")])
    return {
        "dataset": path.name,
        "a": ea.dataset_version,
        "b": eb.dataset_version,
        "tables": summary,
        "ignored_columns": list(ignored),
        "ids": all_ids,
    }
