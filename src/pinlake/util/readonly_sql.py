"""The read-only test of a DuckDB query: one SELECT (or EXPLAIN) statement, nothing that writes.

``pinlake sql`` (:mod:`pinlake.library.sql`) and the registry's SQL checks
(:mod:`pinlake.datasets.check_spec`) both refuse a query with it before running anything. DuckDB's own
parser splits the statements and names their types; a keyword scan of each statement's first word
(strings, quoted names and comments removed) catches the rest.
"""

from __future__ import annotations

import re
from typing import Any

from pinlake.errors import InvalidQueryError

WRITE_KEYWORDS = (
    "CREATE",
    "INSERT",
    "UPDATE",
    "DELETE",
    "DROP",
    "ALTER",
    "COPY",
    "ATTACH",
    "DETACH",
    "INSTALL",
    "LOAD",
    "PRAGMA",
    "SET",
    "RESET",
    "EXPORT",
    "IMPORT",
    "CALL",
    "CHECKPOINT",
    "VACUUM",
    "MERGE",
    "TRUNCATE",
    "USE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "ANALYZE",
    "UPSERT",
    "REPLACE",
)
_STRIP = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)


def first_keywords(query: str) -> list[str]:
    """The first word of each statement, with strings, quoted names and comments removed."""
    text = _STRIP.sub(" ", query)
    out = []
    for part in text.split(";"):
        m = re.match(r"[\s(]*([A-Za-z_]+)", part)
        if m:
            out.append(m.group(1).upper())
    return out


def check_read_only(query: str, what: str = "pinlake sql") -> list[Any]:
    """Parse ``query``; raise InvalidQueryError for syntax errors, statements that write and more than
    one statement. ``what`` names the caller in the messages ("pinlake sql", "an SQL check")."""
    import duckdb  # not at module level: the registry imports this module, and the no-op refresh never loads DuckDB

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise InvalidQueryError(str(exc).strip()) from None
    if not statements:
        raise InvalidQueryError("empty query", hint='Try: pinlake sql "SELECT * FROM catalog.versions LIMIT 5"')
    allowed = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
    for st in statements:
        try:
            kind_of = st.type
        except ValueError:  # a statement type newer than DuckDB's Python enum (e.g. UPDATE EXTENSIONS)
            kind_of = None
        if kind_of not in allowed:
            kind = str(kind_of).split(".")[-1] if kind_of is not None else (first_keywords(st.query)[:1] or ["this kind of"])[0]
            raise InvalidQueryError(
                f"{what} is read-only: {kind} statements are not allowed",
                hint="Only SELECT (and EXPLAIN) run here; change data through pinlake commands or the Python API.",
            )
    for word in first_keywords(query):
        if word in WRITE_KEYWORDS:
            raise InvalidQueryError(f"{what} is read-only: {word} statements are not allowed", hint="Only SELECT (and EXPLAIN) run here.")
    if len(statements) > 1:
        raise InvalidQueryError(
            f"the query has {len(statements)} statements; only one statement runs per query",
            hint="Send each SELECT on its own (a ';' inside a quoted string is fine), or combine them with UNION ALL.",
        )
    return statements
