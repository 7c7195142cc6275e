"""Annotate (the page's editor, ``POST /items/{dataset}/{id}/edits``): one item's edits as one version.

An annotator adds, moves, relabels and deletes the entities and annotations of one item, then saves.
:func:`edit_item` applies the whole save as ONE dataset version through the dataset's CRUD batch
(:meth:`pinlake.datasets.crud.CrudMixin.batch`: the version log append is the commit point, writers
of a dataset are serialised by its lock), recorded as the work of a human: the annotations it adds or
changes point at a ``Source`` row of kind ``human`` named after the user, and the version's lineage
says ``pinlake.operation=annotate``, ``pinlake.user``, ``pinlake.source_kind=human``,
``pinlake.items`` and ``pinlake.base_version``.

Optimistic concurrency: the edit names the version it was made on (``base_version``). When the
dataset moved on since, the edit is still applied if none of the rows it touches changed in between
(updated or deleted rows, the annotations a deleted entity takes with it, the entities new
annotations point at); otherwise it is refused with :class:`ConflictError` and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc

from pinlake.datasets.dataset import Dataset
from pinlake.datasets.tables import id_filter
from pinlake.errors import ConflictError, NotFoundError, ValidationError
from pinlake.features.base import BaseSchema
from pinlake.features.groups import BBox, SchemaGroup, SourceKind, base_schema_of
from pinlake.library.diff import META_COLUMNS
from pinlake.util.sqltext import sql_str

#: the groups an item edit may write (views, embeddings and sources are not drawn by hand)
EDITABLE_GROUPS = (SchemaGroup.ENTITY.value, SchemaGroup.ANNOTATION.value)
#: the refs of an edited row that point at rows of an item (its views and entities): the edited item's only
ITEM_REFS = ("view_ref", "entity_ref", "parent_ref")
#: rows of one edit, at most (one item's boxes and keypoints; far more is not an edit by hand)
MAX_EDIT_ROWS = 10_000


@dataclass
class TableEdits:
    """The edits of one table: rows to ``add`` (new ids, or none: one is made), rows to ``update``
    (whole rows, by id) and ids to ``delete`` (an entity's annotations go with it)."""

    add: list[Any] = field(default_factory=list)
    update: list[Any] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.update or self.delete)


@dataclass(frozen=True)
class ItemEditResult:
    """What a save made: the new version, the version it was based on, the human source's id, and
    the ids added, updated and deleted per table (deleted: cascades included)."""

    dataset: str
    item_id: str
    dataset_version: int
    base_version: int
    source_id: str
    added: dict[str, list[str]]
    updated: dict[str, list[str]]
    deleted: dict[str, list[str]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "item_id": self.item_id,
            "dataset_version": self.dataset_version,
            "base_version": self.base_version,
            "source_id": self.source_id,
            "added": self.added,
            "updated": self.updated,
            "deleted": self.deleted,
        }


def edit_item(
    ds: Dataset,
    item_id: str,
    edits: Mapping[str, TableEdits],
    *,
    base_version: int,
    user: str,
    message: str = "",
) -> ItemEditResult:
    """Apply one item's edits as one new version of ``ds`` (opened writable), made by ``user``.

    ``edits``: ``{table: TableEdits}`` over the dataset's entity and annotation tables; rows are
    schema objects or dicts, each of item ``item_id`` (an empty ``item_ref`` is set to it).
    ``base_version``: the version the edit was made on. Raises :class:`NotFoundError` (unknown
    version, item or row ids), :class:`ValidationError` (nothing to save, a table that cannot be
    edited, a row of another item) or :class:`ConflictError` (rows changed since ``base_version``).
    """
    if ds.read_only:
        raise ValidationError(f"dataset {ds.name!r} is open read-only at version {ds.version}", hint="Open it without version= to edit.")
    user = (user or "").strip()
    if not user:
        raise ValidationError(
            "user: an edit needs the name of who made it", hint="Pass user= (the API takes it from its token's identity)."
        )
    plan = {table: _as_dicts(table, e) for table, e in edits.items() if e}
    if not plan:
        raise ValidationError(
            "tables: nothing to save: the edit adds, updates and deletes no row", hint="Draw, move or delete something first."
        )
    n_rows = sum(len(e.add) + len(e.update) + len(e.delete) for e in plan.values())
    if n_rows > MAX_EDIT_ROWS:
        raise ValidationError(f"an item edit touches {n_rows} rows, over the limit of {MAX_EDIT_ROWS}", hint="Split it into several saves.")
    for table in plan:
        _check_editable(ds, table)
    source_table = _source_table(ds)

    with ds.batch(
        "annotate",
        message=message.strip(),
        user=user,
        source_kind=SourceKind.HUMAN.value,
        items=item_id,
        base_version=int(base_version),
    ):
        latest = ds.version
        if base_version > latest or base_version < 1:
            raise NotFoundError(
                f"dataset {ds.name!r} has no version {base_version} (base_version of the edit)",
                hint=f"The latest version is {latest}; reload the item.",
            )
        base = ds if base_version == latest else ds.checkout(base_version)
        if not ds.get_data("item", ids=[item_id]):
            if base is not ds and base.get_data("item", ids=[item_id]):
                raise ConflictError(
                    f"item {item_id!r} of dataset {ds.name!r} was deleted after version {base_version} (the latest is {latest}); nothing saved",
                    hint="Reload the dataset page.",
                )
            raise NotFoundError(f"dataset {ds.name!r} has no item {item_id!r}", hint="Pick an item listed by GET /items/{dataset}/.")
        for table, e in plan.items():
            for kind, rows in (("add", e.add), ("update", e.update)):
                _own_rows(table, kind, rows, item_id)

        cascade = _cascade(ds, item_id, plan)
        _check_not_deleted(plan, cascade)
        touched = _touched(plan, cascade)
        referenced = _referenced(ds, plan)
        if base is not ds:
            _check_unchanged(ds, base, item_id, touched, referenced)
        _check_known(ds, item_id, plan)
        _check_same_item(ds, item_id, plan)
        source_id = _human_source(ds, source_table, user)
        for table, e in plan.items():
            if ds.schema.group(table) == SchemaGroup.ANNOTATION.value:
                for row in (*e.add, *e.update):
                    row["source_ref"] = {"name": source_table, "id": source_id}

        deleted: dict[str, list[str]] = {}
        for table in _ordered(ds, touched, annotations_first=True):
            ids = sorted(set(plan[table].delete if table in plan else []) | set(cascade.get(table, [])))
            if ids:
                deleted[table] = ds.delete_data(table, ids)
        updated: dict[str, list[str]] = {}
        added: dict[str, list[str]] = {}
        for table in _ordered(ds, plan, annotations_first=False):
            if plan[table].update:
                updated[table] = ds.update_data(table, plan[table].update)
        for table in _ordered(ds, plan, annotations_first=False):
            if plan[table].add:
                added[table] = ds.add_data(table, plan[table].add)
    return ItemEditResult(ds.name, item_id, ds.version, int(base_version), source_id, added, updated, deleted)


def item_context(ds: Dataset, item: Any) -> dict[str, Any]:
    """What the editor shows beside an item's rows: ``sources`` its annotations point at
    ({id: Source row}), ``categories`` to pick from ({entity table: [names]}: the dataset's
    categories in info.json, then every category its entities of this version use) and
    ``normalized`` ({bbox table: whether its boxes are normalised}, see :func:`boxes_normalized`)."""
    refs: set[str] = set()
    for table, (schema, _is_list) in type(item).table_fields().items():
        if schema.group != SchemaGroup.ANNOTATION.value:
            continue
        value = getattr(item, table, None)
        for row in value if isinstance(value, list) else [value] if value is not None else []:
            ref = getattr(row, "source_ref", None)
            if ref is not None and ref.id:
                refs.add(ref.id)
    sources: dict[str, Any] = {}
    source_table = _source_table(ds)
    if refs and source_table in ds.state.tables:
        sources = {row.id: row for row in ds.get_data(source_table, ids=sorted(refs))}
    declared = [str(c.get("name", "")) if isinstance(c, dict) else str(c) for c in (getattr(ds.info, "categories", None) or [])]
    categories: dict[str, list[str]] = {}
    for table in ds.schema.tables_of(SchemaGroup.ENTITY):
        if "category" not in ds.schema.schema(table).model_fields:
            continue
        used: list[str] = []
        if table in ds.state.tables:
            column = ds.to_arrow(table, columns=["category"]).column("category").unique()
            used = sorted(str(v) for v in column.to_pylist() if v)
        categories[table] = list(dict.fromkeys([c for c in declared if c] + used))
    normalized = {t: boxes_normalized(ds, t) for t in ds.schema.tables if base_schema_of(ds.schema.schema(t)) is BBox}
    return {"sources": sources, "categories": categories, "normalized": normalized}


def boxes_normalized(ds: Dataset, table: str) -> bool | None:
    """Whether the boxes of bbox ``table`` are normalised (coordinates in 0..1 of the view): what most
    of its rows of this version say (one boolean column read), None when the table has no rows yet.
    A new box drawn in the editor follows it, whether or not its item has boxes already."""
    if table not in ds.state.tables or "is_normalized" not in ds.schema.schema(table).model_fields:
        return None
    key = (str(ds.path), table, ds.state.dataset_version, ds.state.created_at.isoformat())
    if key not in _NORMALIZED:
        column = ds.to_arrow(table, columns=["is_normalized"]).column("is_normalized")
        n = len(column) - column.null_count
        n_true = (pc.sum(column).as_py() or 0) if n else 0
        if len(_NORMALIZED) >= 1024:
            _NORMALIZED.clear()
        _NORMALIZED[key] = bool(2 * n_true > n) if n else None
    return _NORMALIZED[key]


#: boxes_normalized per (dataset path, table, version number, version time): a version never changes
_NORMALIZED: dict[tuple[str, str, int, str], bool | None] = {}


# --- the steps of edit_item -------------------------------------------------------------------
def _as_dicts(table: str, e: TableEdits) -> TableEdits:
    def plain(row: Any, i: int, kind: str) -> dict[str, Any]:
        if isinstance(row, BaseSchema):
            return row.model_dump()
        if isinstance(row, Mapping):
            return dict(row)
        raise ValidationError(f"tables.{table}.{kind}.{i}: expected a row (an object), got {type(row).__name__}")

    ids = [str(i) for i in e.delete]
    return TableEdits(
        add=[plain(r, i, "add") for i, r in enumerate(e.add)],
        update=[plain(r, i, "update") for i, r in enumerate(e.update)],
        delete=list(dict.fromkeys(ids)),
    )


def _check_editable(ds: Dataset, table: str) -> None:
    editable = [t for t in ds.schema.tables if ds.schema.group(t) in EDITABLE_GROUPS]
    if table not in ds.schema.schemas:
        raise ValidationError(
            f"tables.{table}: dataset {ds.name!r} has no table {table!r}", hint=f"Editable tables: {', '.join(editable)}."
        )
    if table not in editable:
        raise ValidationError(
            f"tables.{table}: table {table!r} is in group {ds.schema.group(table)!r}; an item edit writes entities and annotations only",
            hint=f"Editable tables: {', '.join(editable)}.",
        )


def _source_table(ds: Dataset) -> str:
    tables = ds.schema.tables_of(SchemaGroup.SOURCE)
    return tables[0] if tables else "source"


def _own_rows(table: str, kind: str, rows: Sequence[dict[str, Any]], item_id: str) -> None:
    """Every row is of the edited item (an empty item_ref is set to it); updates name their id."""
    for i, row in enumerate(rows):
        ref = row.get("item_ref") or {}
        ref_id = ref.get("id", "") if isinstance(ref, Mapping) else getattr(ref, "id", "")
        if ref_id and ref_id != item_id:
            raise ValidationError(
                f"tables.{table}.{kind}.{i}.item_ref: the row belongs to item {ref_id!r}, not to the edited item {item_id!r}",
                hint="Edit one item per save.",
            )
        row["item_ref"] = {"name": "item", "id": item_id}
        if kind == "update" and not row.get("id"):
            raise ValidationError(f"tables.{table}.update.{i}.id: an updated row needs its id", hint="Send new rows under add.")


def _cascade(ds: Dataset, item_id: str, plan: Mapping[str, TableEdits]) -> dict[str, list[str]]:
    """The annotations and child entities of the item that deleted entities take with them, and
    theirs in turn (a child entity's annotations and children go too)."""
    frontier = {i for t, e in plan.items() if ds.schema.group(t) == SchemaGroup.ENTITY.value for i in e.delete}
    seen = set(frontier)
    out: dict[str, set[str]] = {}
    while frontier:
        gone, frontier = sorted(frontier), set()
        for table in ds.schema.tables:
            group = ds.schema.group(table)
            if table not in ds.state.tables or group not in EDITABLE_GROUPS:
                continue
            column = "entity_ref.id" if group == SchemaGroup.ANNOTATION.value else "parent_ref.id"
            if column.split(".")[0] not in ds.schema.schema(table).model_fields:
                continue
            rows = ds.to_arrow(table, columns=["id"], filter=f"{id_filter([item_id], 'item_ref.id')} AND {id_filter(gone, column)}")
            ids = rows.column("id").to_pylist()
            if ids:
                out.setdefault(table, set()).update(ids)
            if group == SchemaGroup.ENTITY.value:
                frontier.update(i for i in ids if i not in seen)
        seen |= frontier
    return {t: sorted(ids) for t, ids in out.items()}


def _check_not_deleted(plan: Mapping[str, TableEdits], cascade: Mapping[str, list[str]]) -> None:
    """No row the save updates is one it deletes (itself, or with its entity), and no row it adds or
    updates points at an entity it deletes (else ValidationError naming the field): such a save is
    contradictory, not a row the item lacks."""
    direct = {t: set(e.delete) for t, e in plan.items()}
    gone = {t: direct.get(t, set()) | set(cascade.get(t, [])) for t in set(direct) | set(cascade)}
    for table, e in plan.items():
        for i, row in enumerate(e.update):
            row_id = str(row["id"])
            if row_id in direct.get(table, set()):
                raise ValidationError(
                    f"tables.{table}.update.{i}.id: {table} {row_id!r} is also under tables.{table}.delete of the same save",
                    hint="Either update the row or delete it, not both.",
                )
            if row_id in gone.get(table, set()):
                raise ValidationError(
                    f"tables.{table}.update.{i}.id: {table} {row_id!r} belongs to an entity the same save deletes "
                    "(an entity's annotations and child entities go with it)",
                    hint="Drop the update of this row, or keep its entity.",
                )
        for kind, rows in (("add", e.add), ("update", e.update)):
            for i, row in enumerate(rows):
                for name in ("entity_ref", "parent_ref"):
                    ref = row.get(name) or {}
                    target, ref_id = (ref.get("name", ""), ref.get("id", "")) if isinstance(ref, Mapping) else (ref.name, ref.id)
                    if ref_id and str(ref_id) in gone.get(target, set()):
                        raise ValidationError(
                            f"tables.{table}.{kind}.{i}.{name}: {target} {ref_id!r} is an entity the same save deletes",
                            hint="Point at an entity the item keeps, or keep the entity.",
                        )


def _touched(plan: Mapping[str, TableEdits], cascade: Mapping[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for table, e in plan.items():
        out.setdefault(table, set()).update(str(r["id"]) for r in e.update)
        out[table].update(e.delete)
    for table, ids in cascade.items():
        out.setdefault(table, set()).update(ids)
    return {t: sorted(ids) for t, ids in out.items() if ids}


def _referenced(ds: Dataset, plan: Mapping[str, TableEdits]) -> dict[str, list[str]]:
    """Existing entities the added or updated annotations point at (not ones this edit adds)."""
    new = {str(r.get("id")) for e in plan.values() for r in e.add if r.get("id")}
    out: dict[str, set[str]] = {}
    for table, e in plan.items():
        if ds.schema.group(table) != SchemaGroup.ANNOTATION.value:
            continue
        for row in (*e.add, *e.update):
            ref = row.get("entity_ref") or {}
            name, ref_id = (ref.get("name", ""), ref.get("id", "")) if isinstance(ref, Mapping) else (ref.name, ref.id)
            if ref_id and name in ds.schema.schemas and ref_id not in new:
                out.setdefault(name, set()).add(ref_id)
    return {t: sorted(ids) for t, ids in out.items()}


def _content(rows: Sequence[BaseSchema]) -> dict[str, dict[str, Any]]:
    return {row.id: row.model_dump(exclude=set(META_COLUMNS)) for row in rows}


def _rows_at(ds: Dataset, table: str, ids: list[str]) -> list[BaseSchema]:
    return ds.get_data(table, ids=ids) if ids and table in ds.state.tables else []


def _check_unchanged(
    ds: Dataset, base: Dataset, item_id: str, touched: Mapping[str, list[str]], referenced: Mapping[str, list[str]]
) -> None:
    """Refuse (ConflictError) when a row the edit touches differs between ``base`` and the latest
    (changed, deleted or added since), or an entity a new annotation points at was deleted since."""
    conflicts: list[str] = []
    for table, ids in touched.items():
        if base.state.tables.get(table) == ds.state.tables.get(table):
            continue  # the table did not move since the base
        then, now = _content(_rows_at(base, table, ids)), _content(_rows_at(ds, table, ids))
        conflicts += [f"{table} {i}" for i in ids if then.get(i) != now.get(i)]
    for table, ids in referenced.items():
        if base.state.tables.get(table) == ds.state.tables.get(table):
            continue
        now_ids = {r.id for r in _rows_at(ds, table, ids)}
        then_ids = {r.id for r in _rows_at(base, table, ids)}
        conflicts += [f"{table} {i} (deleted)" for i in ids if i in then_ids and i not in now_ids]
    if conflicts:
        shown = ", ".join(conflicts[:5]) + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise ConflictError(
            f"item {item_id!r} of dataset {ds.name!r}: rows this edit changes were changed by version {ds.version} "
            f"since version {base.version} the edit is based on ({shown}); nothing saved",
            hint=f"Reload the item at version {ds.version} and make the edit again.",
        )


def _check_known(ds: Dataset, item_id: str, plan: Mapping[str, TableEdits]) -> None:
    """Updated and deleted ids must be rows of the item in the latest version (else NotFoundError)."""
    for table, e in plan.items():
        ids = sorted({str(r["id"]) for r in e.update} | set(e.delete))
        if not ids:
            continue
        found: set[str] = set()
        if table in ds.state.tables:
            rows = ds.to_arrow(table, columns=["id"], filter=f"{id_filter(ids)} AND {id_filter([item_id], 'item_ref.id')}")
            found = set(rows.column("id").to_pylist())
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(
                f"tables.{table}: item {item_id!r} of dataset {ds.name!r} has no {table} row with id {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                hint="Send rows that do not exist yet under add; reload the item to see its rows.",
            )


def _check_same_item(ds: Dataset, item_id: str, plan: Mapping[str, TableEdits]) -> None:
    """The views and entities the added and updated rows point at (other than the rows this edit adds)
    are rows of the edited item (else ValidationError naming the field): an edit of one item does not
    hang its boxes on another item's entity or image."""
    new = {t: {str(r["id"]) for r in e.add if r.get("id")} for t, e in plan.items()}
    wanted: dict[str, dict[str, str]] = {}  # table -> {id -> the first field naming it}
    for table, e in plan.items():
        for kind, rows in (("add", e.add), ("update", e.update)):
            for i, row in enumerate(rows):
                for name in ITEM_REFS:
                    ref = row.get(name) or {}
                    target, ref_id = (ref.get("name", ""), ref.get("id", "")) if isinstance(ref, Mapping) else (ref.name, ref.id)
                    if ref_id and target in ds.schema.schemas and ref_id not in new.get(target, set()):
                        wanted.setdefault(target, {}).setdefault(str(ref_id), f"tables.{table}.{kind}.{i}.{name}")
    for target, refs in wanted.items():
        if "item_ref" not in ds.schema.schema(target).model_fields:
            continue
        own: set[str] = set()
        if target in ds.state.tables:
            rows = ds.to_arrow(target, columns=["id"], filter=f"{id_filter(sorted(refs))} AND {id_filter([item_id], 'item_ref.id')}")
            own = set(rows.column("id").to_pylist())
        for ref_id, where in refs.items():
            if ref_id not in own:
                raise ValidationError(
                    f"{where}: {target} {ref_id!r} is not a row of the edited item {item_id!r}",
                    hint="Point at a view or entity of this item (GET /items/{dataset}/{id} lists them), or one the edit adds.",
                )


def _human_source(ds: Dataset, table: str, user: str) -> str:
    """The id of the ``human`` source named ``user`` (added in this batch the first time)."""
    if table in ds.state.tables:
        rows = ds.to_arrow(table, columns=["id"], filter=f"kind = {sql_str(SourceKind.HUMAN.value)} AND name = {sql_str(user)}", limit=1)
        if rows.num_rows:
            return str(rows.column("id")[0].as_py())
    (source_id,) = ds.add_data(table, [{"name": user, "kind": SourceKind.HUMAN.value, "metadata": {"via": "pinlake editor"}}])
    return source_id


def _ordered(ds: Dataset, tables: Mapping[str, Any], *, annotations_first: bool) -> list[str]:
    """Entities before annotations (adds, updates: annotations point at entities), or after (deletes)."""
    rank = {SchemaGroup.ENTITY.value: 0, SchemaGroup.ANNOTATION.value: 1}
    return sorted(tables, key=lambda t: rank.get(ds.schema.group(t), 2) * (-1 if annotations_first else 1))
