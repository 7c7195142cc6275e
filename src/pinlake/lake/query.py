"""Selecting data rows with Lance filters: find_data, list_data and the ``q`` predicate."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
from lance.dataset import ColumnOrdering

from pinlake.errors import InvalidQueryError, NoDataError, NotFoundError, first_line
from pinlake.lake.lance_tables import DATA, DATA_COLUMNS, DATA_SCHEMA, Store, sql_in, sql_str

FORBIDDEN = re.compile(
    r"\b(drop|delete|insert|update|create|alter|truncate|attach|detach|copy|grant|revoke|merge|"
    r"exec|execute|pragma|replace|select|union|into|call|vacuum|load|install)\b",
    re.IGNORECASE,
)
STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
Q_HINT = "Write a SQL predicate over the data columns, e.g. \"media_type = 'image/png' AND width > 100\"."


def check_q(q: str) -> str:
    """Refuse anything but a single predicate: no ';', comments, or DDL/DML keywords."""
    if not isinstance(q, str) or not q.strip():
        raise InvalidQueryError("empty query", hint=Q_HINT)
    if q.count("'") % 2:
        raise InvalidQueryError(f"unbalanced quote in query {q!r}", hint=Q_HINT)
    bare = STRING_LITERAL.sub("''", q)
    if ";" in bare:
        raise InvalidQueryError(f"';' is not allowed in a query: {q!r}", hint=Q_HINT)
    if "--" in bare or "/*" in bare or "*/" in bare:
        raise InvalidQueryError(f"comments are not allowed in a query: {q!r}", hint=Q_HINT)
    m = FORBIDDEN.search(bare)
    if m:
        raise InvalidQueryError(f"keyword {m.group(1).upper()!r} is not allowed in a query: {q!r}", hint=Q_HINT)
    return q


def build_filter(
    *,
    tags: list[str] | None = None,
    intersect_tags: bool = False,
    filenames: Iterable[str] | None = None,
    object_names: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
    q: str | None = None,
    all_versions: bool = False,
    version: int | None = None,
) -> str | None:
    parts: list[str] = []
    if not all_versions and version is None:
        parts.append("is_latest = true")
    if version is not None:
        parts.append(f"version = {int(version)}")
    if tags:
        fn = "array_has_all" if intersect_tags else "array_has_any"
        parts.append(f"{fn}(tags, [{', '.join(sql_str(t) for t in tags)}])")
    if filenames is not None:
        parts.append(sql_in("filename", [str(f) for f in filenames]))
    if object_names is not None:
        parts.append(sql_in("object_name", [str(o) for o in object_names]))
    if ids is not None:
        parts.append(sql_in("id", [str(i) for i in ids]))
    if q is not None:
        parts.append(f"({check_q(q)})")
    return " AND ".join(parts) if parts else None


def orderings(order_by: list[str] | str | None) -> list[ColumnOrdering]:
    if order_by is None:
        order_by = ["object_name", "version"]
    if isinstance(order_by, str):
        order_by = [order_by]
    out = []
    for key in order_by:
        col = key.lstrip("-")
        if col not in DATA_COLUMNS or col in ("tags",):
            raise InvalidQueryError(
                f"cannot order by {col!r}",
                hint=f"Order by one of: {', '.join(c for c in DATA_COLUMNS if c != 'tags')} ('-col' = descending).",
            )
        out.append(ColumnOrdering(col, ascending=not key.startswith("-")))
    return out


def select(
    store: Store,
    filter: str | None,
    *,
    limit: int | None = None,
    offset: int | None = None,
    order_by: list[str] | str | None = None,
    columns: list[str] | None = None,
    dataset: Any = None,
    with_row_id: bool = False,
) -> pa.Table:
    """The data rows matching ``filter`` (of ``dataset``, an open data table, when given)."""
    ds = dataset if dataset is not None else store.open_or_none(DATA)
    if ds is None:
        raise NoDataError("the lake holds no data", hint="Upload some with `pinlake lake upload FILES…`.")
    if limit is not None and limit < 0 or offset is not None and offset < 0:
        raise InvalidQueryError("limit and offset must be >= 0", hint="Try limit=100, offset=0.")
    order = orderings(order_by)
    wanted = columns or DATA_COLUMNS
    if limit == 0:  # Lance 14 aborts a sorted scan with limit 0
        empty = ds.schema.empty_table().select(wanted)
        return empty.append_column("_rowid", pa.array([], pa.uint64())) if with_row_id else empty
    extra = [o.column_name for o in order if o.column_name not in wanted]  # Lance sorts only by scanned columns
    try:
        table = ds.to_table(
            columns=[*wanted, *extra],
            filter=filter,
            limit=limit,
            offset=offset,
            order_by=order,
            with_row_id=with_row_id,
        )
        return table.drop_columns(extra) if extra else table
    except InvalidQueryError:
        raise
    except Exception as exc:  # noqa: BLE001 - Lance raises ValueError/LanceError on a bad predicate
        raise InvalidQueryError(f"invalid query {filter!r}: {first_line(exc, 300)}", hint=Q_HINT) from None


def find_rows(store: Store, *, filename: str | None, object_name: str | None, id: Any, version: int | None) -> dict[str, Any]:
    given = {k: v for k, v in (("filename", filename), ("object_name", object_name), ("id", id)) if v is not None}
    if len(given) != 1:
        raise InvalidQueryError(
            "find_data needs exactly one of filename=, object_name=, id=", hint="Example: lake.find_data(object_name='trial/basel/t2.dcm')."
        )
    ((key, value),) = given.items()
    by: dict[str, Any] = {{"filename": "filenames", "object_name": "object_names", "id": "ids"}[key]: [str(value)]}
    flt = build_filter(all_versions=(key == "id"), version=version, **by)
    try:
        rows = select(store, flt, limit=2).to_pylist()
    except NoDataError:
        rows = []
    if not rows:
        raise NotFoundError(
            f"no data with {key}={value!r}" + (f" at version {version}" if version else ""), hint="List data with `pinlake lake ls`."
        )
    if len(rows) > 1:
        raise InvalidQueryError(
            f"several data match {key}={value!r}", hint="Find by object_name= or id= instead; filenames can repeat across folders."
        )
    return rows[0]


def key_columns(names: list[str]) -> list[str]:
    """The columns that name a data row among ``names``: ``id`` (any version), else
    ``object_name`` and ``version``, else ``object_name`` (its latest version)."""
    if "id" in names:
        return ["id"]
    if "version" in names:
        return ["object_name", "version"]
    return ["object_name"]


def key_scan(ds: Any, by: list[str]) -> pa.RecordBatchReader:
    """A streamed scan of the data table for a join on ``by`` (see :func:`key_columns`): the key
    columns, ``object_name``, ``version`` and ``_rowid``; only latest rows when keyed by object name."""
    scan = list(dict.fromkeys([*by, "object_name", "version"]))
    flt = "is_latest = true" if by == ["object_name"] else None
    if ds is None:
        return pa.RecordBatchReader.from_batches(pa.schema([*(DATA_SCHEMA.field(c) for c in scan), pa.field("_rowid", pa.uint64())]), [])
    return ds.scanner(columns=scan, filter=flt, with_row_id=True).to_reader()
