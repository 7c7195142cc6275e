"""Tags and data sources: their name tables, and adding/removing tags on data rows."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from pinlake.errors import InvalidQueryError, NotFoundError, ValidationError
from pinlake.lake.lance_tables import DATA, NAMES_SCHEMA, SOURCES, TAGS, Store, lake_rows_table, now, sql_in, sql_str
from pinlake.lake.models import DataSource, Tag

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\- ]{0,127}$")
KIND = {TAGS: "tag", SOURCES: "data source"}


def check_name(name: str, table: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError(
            f"invalid {KIND[table]} name {name!r}: use letters, digits, ' ', '_', '-', '.', ':' (at most 128)",
            hint="Try a name like 'car' or 'camera-one'.",
        )
    return name


def tag_names(tags: str | Tag | Iterable[str | Tag] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, (str, Tag)):
        tags = [tags]
    out: list[str] = []
    for t in tags:
        name = t.name if isinstance(t, Tag) else t
        check_name(name, TAGS)
        if name not in out:
            out.append(name)
    return out


def source_name(source: str | DataSource | None) -> str | None:
    if source is None:
        return None
    name = source.name if isinstance(source, DataSource) else source
    return check_name(name, SOURCES)


def _make(table: str, row: dict[str, Any]) -> Tag | DataSource:
    cls = Tag if table == TAGS else DataSource
    return cls(row["name"], row.get("created_at"))


def list_names(store: Store, table: str) -> list[dict[str, Any]]:
    ds = store.open_or_none(table)
    if ds is None:
        return []
    return ds.to_table().to_pylist()


def get(store: Store, table: str, name: str) -> Tag | DataSource:
    check_name(name, table)
    ds = store.open_or_none(table)
    rows = [] if ds is None else ds.to_table(filter=f"name = {sql_str(name)}").to_pylist()
    if not rows:
        known = ", ".join(sorted(r["name"] for r in list_names(store, table))[:20]) or "none"
        cmd = "tags" if table == TAGS else "sources"
        raise NotFoundError(
            f"no {KIND[table]} named {name!r} in the lake",
            hint=f"Known: {known}. Create it with get_or_create, or list them with `pinlake lake {cmd}`.",
        )
    return _make(table, rows[0])


def create(store: Store, table: str, name: str) -> Tag | DataSource:
    check_name(name, table)
    with store.write_lock():
        ds = store.open_or_none(table)
        if ds is not None and ds.count_rows(filter=f"name = {sql_str(name)}"):
            raise ValidationError(
                f"{KIND[table]} {name!r} already exists",
                hint="Use get_or_create_data_tag / get_or_create_datasource to reuse it.",
            )
        row = {"name": name, "created_at": now()}
        store.append(table, pa.Table.from_pylist([row], schema=NAMES_SCHEMA), NAMES_SCHEMA, f"lake.create_{KIND[table].replace(' ', '')}")
    return _make(table, row)


def get_or_create(store: Store, table: str, names: list[str]) -> list[Tag | DataSource]:
    """Existing or newly created names (missing ones created in one commit)."""
    for n in names:
        check_name(n, table)
    if not names:
        return []
    with store.write_lock():
        ds = store.open_or_none(table)
        have = {} if ds is None else {r["name"]: r for r in ds.to_table(filter=sql_in("name", names)).to_pylist()}
        missing = [{"name": n, "created_at": now()} for n in names if n not in have]
        if missing:
            store.append(
                table, pa.Table.from_pylist(missing, schema=NAMES_SCHEMA), NAMES_SCHEMA, f"lake.create_{KIND[table].replace(' ', '')}"
            )
            have.update({r["name"]: r for r in missing})
    return [_make(table, have[n]) for n in names]


def list_sorted(store: Store, table: str, limit: int | None, offset: int | None, order_by: list[str] | None) -> list[Any]:
    rows = list_names(store, table)
    for key in reversed(order_by or ["name"]):
        desc = key.startswith("-")
        col = key.lstrip("-")
        if col not in ("name", "created_at"):
            raise InvalidQueryError(
                f"cannot order {KIND[table]}s by {col!r}", hint="Order by 'name' or 'created_at' ('-name' for descending)."
            )
        rows.sort(key=lambda r: (r[col] is None, r[col]), reverse=desc)
    start = offset or 0
    rows = rows[start : start + limit if limit is not None else None]
    return [_make(table, r) for r in rows]


def change_tags(store: Store, ids: list[str], add: list[str], remove: list[str]) -> int:
    """Add/remove tags on the data rows ``ids`` in one commit (a new lake version). Returns rows changed."""
    if not ids or not (add or remove):
        return 0
    with store.write_lock():
        if add:
            get_or_create(store, TAGS, add)
        ds = store.open_or_none(DATA)
        if ds is None:
            raise NotFoundError("the lake holds no data", hint="Upload some with `pinlake lake upload`.")
        rows = ds.to_table(filter=sql_in("id", list(dict.fromkeys(ids)))).to_pylist()
        missing = set(ids) - {r["id"] for r in rows}
        if missing:
            raise NotFoundError(f"no data with id {sorted(missing)[0]!r} in the lake", hint="List data with `pinlake lake ls`.")
        changed = []
        for r in rows:
            tags = [t for t in (r["tags"] or []) if t not in remove]
            tags += [t for t in add if t not in tags]
            if tags != (r["tags"] or []):
                r["tags"] = tags
                changed.append(r)
        if changed:
            store.upsert_data(lake_rows_table(changed))
    return len(changed)
