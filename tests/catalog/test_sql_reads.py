"""`pinlake sql` makes only the views a query reads: the same rows as with every view, fewer opens."""

from __future__ import annotations

import pytest

from pinlake.errors import InvalidQueryError
from pinlake.library.sql import duckdb_connection, run, snapshot_name, sql
from pinlake.util.sqlreads import query_reads

#: queries whose answer must not change when only the views they read are made
QUERIES = [
    "SELECT dataset, count(*) AS n, sum(rows) AS rows FROM catalog.versions GROUP BY dataset ORDER BY dataset",
    'SELECT "table", version FROM catalog.versions WHERE orphan ORDER BY ALL',
    "SELECT count(*) FILTER (removed) AS r, count(*) FILTER (NOT orphan) AS kept FROM catalog.versions",
    'SELECT * FROM catalog.versions ORDER BY dataset, "table", version',
    'SELECT v FROM catalog.versions v ORDER BY v.dataset, v."table", v.version',
    "SELECT struct_extract(v, 'orphan') AS o FROM catalog.versions AS v ORDER BY ALL",
    "SELECT * EXCLUDE (lineage) FROM catalog.versions NATURAL JOIN catalog.members ORDER BY ALL",
    "WITH x AS (SELECT * FROM catalog.versions) SELECT count(*) AS n, count(*) FILTER (orphan) AS o FROM x",
    "SELECT COLUMNS('orph.*') FROM catalog.versions ORDER BY ALL",
    "SELECT #18 AS flag FROM catalog.versions ORDER BY ALL",
    "SELECT (SELECT max(version) FROM catalog.versions WHERE NOT orphan) AS m",
    "SELECT 1 AS n UNION ALL SELECT count(*) FROM catalog.lineage",
    "SELECT split, count(*) AS n FROM health_images.item GROUP BY split ORDER BY split",
    "SELECT i.split, count(*) AS n FROM health_images.item i JOIN catalog.versions v ON v.\"table\" = 'item' GROUP BY ALL ORDER BY ALL",
    "SELECT * FROM query_table('catalog.versions') ORDER BY ALL",
    "SELECT table_schema, table_name FROM information_schema.tables ORDER BY ALL",
    "SHOW ALL TABLES",
    "SELECT list_transform([v.version], lambda orphan: orphan + 1) AS l FROM catalog.versions v ORDER BY ALL",
    # a column alias list names columns by position; a whole row by its qualified name
    "SELECT c3 AS version, c18 AS flag FROM catalog.versions AS t(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, "
    "c15, c16, c17, c18) WHERE 'removed' IS NOT NULL ORDER BY ALL",
    "SELECT to_json(catalog.versions) AS j FROM catalog.versions ORDER BY ALL",
    "SELECT catalog.versions AS row FROM catalog.versions ORDER BY ALL",
    'SELECT version, "table" FROM catalog.versions ORDER BY COLUMNS(\'orph.*\'), version, "table"',
    # the registered snapshots have the same names whichever views a query needs
    "SELECT count(*) AS n FROM catalog.members, __pinlake__7_catalog__versions",
    # ORDER BY ALL in an aggregate stands for every column (one output column each)
    "SELECT max(version ORDER BY ALL) AS m FROM catalog.versions",
]


@pytest.fixture
def versioned(lib, ds, make_versions):
    from pinlake.catalog import Catalog

    make_versions(ds)  # versions 2 and 3: some table versions are no longer members of the latest
    # and a table version no dataset version names (orphan), as a write outside pinlake leaves
    Catalog(lib).append("versions", [{"dataset": "health_images", "table": "item", "version": 99, "rows": 1, "operation": "x"}])
    return lib


@pytest.mark.parametrize("query", QUERIES)
def test_the_views_a_query_reads_give_the_rows_of_every_view(versioned, query):
    assert sql(query, versioned).equals(run(duckdb_connection(versioned), query))


def made_views(lib, query: str) -> list[str]:
    con = duckdb_connection(lib, reads=query_reads(query))
    try:
        rows = con.sql("SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal AND schema_name <> 'main'")
        return sorted(r[0] for r in rows.fetchall())
    finally:
        con.close()


def test_a_query_makes_only_the_views_it_names(versioned):
    assert made_views(versioned, "SELECT count(*) FROM catalog.lineage") == ["catalog.lineage"]
    assert made_views(versioned, "SELECT count(*) FROM health_images.item") == [
        f"health_images.{t}"
        for t in sorted(
            run(duckdb_connection(versioned), "SELECT DISTINCT \"table\" FROM catalog.members WHERE dataset = 'health_images'")
            .column(0)
            .to_pylist()
        )
    ]
    assert len(made_views(versioned, "SHOW ALL TABLES")) > 10  # SHOW lists every view: all are made


def test_versions_computes_orphan_and_removed_only_when_the_query_reaches_them(versioned):
    def columns(query: str) -> list[str]:
        con = duckdb_connection(versioned, reads=query_reads(query))
        try:
            return con.sql("FROM catalog.versions LIMIT 0").columns
        finally:
            con.close()

    assert not {"orphan", "removed"} & set(columns("SELECT count(*) FROM catalog.versions"))
    assert {"removed"} == {"orphan", "removed"} & set(columns("SELECT count(*) FROM catalog.versions WHERE NOT removed"))
    assert {"orphan", "removed"} <= set(columns("SELECT * FROM catalog.versions"))


def test_a_pinned_version_is_checked_even_when_the_query_does_not_read_the_dataset(versioned):
    from pinlake.errors import NotFoundError

    with pytest.raises(NotFoundError, match="999"):
        sql("SELECT count(*) AS n FROM catalog.lineage", versioned, at={"health_images": "999"})


def test_a_misspelt_view_gets_the_answer_of_every_view(versioned):
    with pytest.raises(InvalidQueryError, match=r"catalog\.versions|versions"):
        sql("SELECT * FROM catalog.version", versioned)


@pytest.mark.parametrize(
    ("query", "tables", "all_columns"),
    [
        ("SELECT 1", {}, False),
        ("SELECT a FROM catalog.versions JOIN ds.item USING (dataset)", {"catalog": {"versions"}, "ds": {"item"}}, False),
        ("SELECT * FROM (FROM Catalog.Lineage) t", {"catalog": {"lineage"}}, True),
        ("SELECT t FROM catalog.pins t", {"catalog": {"pins"}}, True),
        ("SELECT to_json(catalog.pins) FROM catalog.pins", {"catalog": {"pins"}}, True),
        ("SELECT a FROM catalog.pins AS t(a)", {"catalog": {"pins"}}, True),
        ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", {}, False),
        ("SELECT version FROM catalog.versions ORDER BY ALL DESC", {"catalog": {"versions"}}, False),  # the output's columns
        ("SELECT version FROM catalog.versions ORDER BY COLUMNS('orph.*')", {"catalog": {"versions"}}, True),
    ],
)
def test_query_reads_names_the_tables_and_a_star(query, tables, all_columns):
    reads = query_reads(query)
    assert reads is not None and reads.tables == tables and reads.all_columns is all_columns


@pytest.mark.parametrize(
    "query",
    [
        "SHOW ALL TABLES",
        "DESCRIBE catalog.versions",
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM query_table('catalog.versions')",
        "SELECT * FROM information_schema.columns",
        "EXPLAIN SELECT 1",
        "SELECT * FROM memory.main.t",
        "SELEC 1",
    ],
)
def test_query_reads_cannot_tell_what_these_read(query):
    assert query_reads(query) is None


def test_snapshot_names_never_meet():
    assert snapshot_name("a__b", "c") != snapshot_name("a", "b__c")
    assert snapshot_name("catalog", "versions") == "__pinlake__7_catalog__versions"
