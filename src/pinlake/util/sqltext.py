"""SQL literals for Lance filters and DuckDB queries built from user values."""

from __future__ import annotations

from collections.abc import Iterable


def sql_str(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier (double quotes doubled): a table or column name from user data."""
    return '"' + str(name).replace('"', '""') + '"'


def sql_in(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b')``; ``false`` for no values."""
    values = list(values)
    if not values:
        return "false"
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"
