"""What a SELECT reads, from DuckDB's own parse tree (``json_serialize_sql``).

Contract: :func:`query_reads` says which ``schema.table`` names a query reads and which column
names it can reach, or ``None`` when it cannot tell. A caller may then leave out any view the
answer does not name, and any column the answer says is unreachable, and get the same result.
It answers ``None`` (make everything) for:

- a statement the serializer does not take (EXPLAIN, PIVOT, …) or cannot parse;
- a table reference other than a named table, a subquery, a join or ``VALUES``: a table function
  (``query_table('x.y')``, ``duckdb_tables()``), ``SHOW``, ``DESCRIBE``, ``SUMMARIZE``;
- a name with a database part, or in ``information_schema`` / ``pg_catalog``.

Columns are "all" when the query has a star (``*``, ``COLUMNS(…)``, ``* EXCLUDE``; not the one
DuckDB makes for a query's ``ORDER BY ALL``, which sorts the output columns; in an aggregate,
``first(x ORDER BY ALL)``, it stands for every column and counts), a positional
reference (``#2``), a ``NATURAL`` join, a table with a column alias list (``t(a, b, c)`` names
columns by position), or a reference whose last part is a table's name or alias (a whole row:
``SELECT v FROM t v``, ``to_json(catalog.versions)``). Otherwise a column is reachable when its name appears
anywhere in the tree: a column reference, ``USING (…)``, a lambda, a string (more than needed,
never less).

Cost: one parse in DuckDB and one walk of the tree, about a millisecond for a short query.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: table references that read only what they name
NAMED_REFS = {"BASE_TABLE", "SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY", "EMPTY_FROM"}
#: schemas that describe every other one
SYSTEM_SCHEMAS = {"information_schema", "pg_catalog"}
#: the query location of an expression DuckDB made itself (none in the text)
NO_LOCATION = 2**64 - 1


def order_by_all(expr: Any) -> bool:
    """DuckDB's ``ORDER BY ALL``: a star it makes itself, over the select list (not a table's columns)."""
    return (
        isinstance(expr, dict)
        and expr.get("class") == "STAR"
        and expr.get("expr") is None
        and expr.get("query_location") == NO_LOCATION
        and not (expr.get("relation_name") or expr.get("exclude_list") or expr.get("replace_list") or expr.get("rename_list"))
    )


@dataclass(frozen=True)
class QueryReads:
    #: ``{schema: {table, …}}`` (lower case); a name without a schema (a CTE) is left out
    tables: dict[str, set[str]]
    #: every column may be reached (a star, a whole-row reference, …)
    all_columns: bool
    #: the parse tree as text, lower case: a column name absent from it is not reached
    text: str

    def reaches(self, column: str) -> bool:
        return self.all_columns or re.search(rf"\b{re.escape(column.lower())}\b", self.text) is not None


def query_reads(query: str) -> QueryReads | None:
    """What ``query`` (one statement) reads, or ``None`` when that cannot be told (see the module doc)."""
    import duckdb

    con = duckdb.connect()
    try:
        raw = con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    if raw is None:
        return None
    tree = json.loads(raw[0])
    if tree.get("error") or len(tree.get("statements", ())) != 1:
        return None
    tables: dict[str, set[str]] = {}
    names: set[str] = set()  # tables' names and aliases: a reference ending in one is the whole row
    last: set[str] = set()  # the last part of every column reference
    all_columns = False
    stack: list[tuple[str, Any]] = [("statements", tree["statements"])]
    while stack:
        key, node = stack.pop()
        if isinstance(node, list):
            stack.extend((key, v) for v in node)
            continue
        if not isinstance(node, dict):
            continue
        if key == "modifiers" and node.get("type") == "ORDER_MODIFIER":
            # a query's ORDER BY ALL sorts its output; in an aggregate (order_bys) it means every column
            stack.extend(("orders", o) for o in node.get("orders", ()) if not order_by_all(o.get("expression")))
            continue
        stack.extend((k, v) for k, v in node.items() if isinstance(v, (dict, list)))
        if "class" in node:  # an expression
            if node["class"] in ("STAR", "POSITIONAL_REFERENCE"):
                all_columns = True
            elif node["class"] == "COLUMN_REF" and node.get("column_names"):
                last.add(str(node["column_names"][-1]).lower())
            continue
        if "sample" not in node or str(node.get("type", "_NODE")).endswith("_NODE"):  # not a table reference
            continue  # (a query node: SELECT_NODE, SET_OPERATION_NODE, … also has a sample)
        kind = node["type"]
        if kind not in NAMED_REFS:
            return None
        if node.get("alias"):
            names.add(str(node["alias"]).lower())
        if (kind == "JOIN" and node.get("ref_type") == "NATURAL") or node.get("column_name_alias"):
            all_columns = True
        if kind == "BASE_TABLE":
            schema, table = str(node.get("schema_name") or "").lower(), str(node["table_name"]).lower()
            if node.get("catalog_name") or schema in SYSTEM_SCHEMAS:
                return None
            names.add(table)
            if schema:
                tables.setdefault(schema, set()).add(table)
    return QueryReads(tables, all_columns or bool(last & names), json.dumps(tree).lower())


__all__ = ["QueryReads", "query_reads"]
