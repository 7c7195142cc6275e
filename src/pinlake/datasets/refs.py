"""Reference checks: every set item_ref / view_ref / entity_ref / source_ref / parent_ref must point
at an existing row of the named table (or a row written in the same batch)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pinlake.errors import ReferenceError_
from pinlake.features.arrow import REF_TYPE
from pinlake.util.idset import IdSet, absent_from

#: looks up which of ``ids`` exist in ``table``; returns the subset that exists
ExistsFn = Callable[[str, list[str]], set[str]]
#: ids written earlier in the same batch or build, by table (an IdSet or any set of str)
Pending = Mapping[str, "IdSet | set[str]"]


def ref_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if f.type == REF_TYPE]


def check_refs(
    table_name: str,
    data: pa.Table,
    known_tables: Mapping[str, object],
    pending: Pending,
    exists: ExistsFn,
    *,
    where: str = "",
    fresh: Mapping[str, pa.Array | pa.ChunkedArray] | None = None,
) -> None:
    """Raise :class:`ReferenceError_` naming the table, row, field and id of the first dangling ref.

    ``fresh``: the ids of the rows written in the same flush, by table (also in ``pending``): refs to
    them are settled with one ``is_in`` before ``pending`` is asked about the others.
    """
    for col in ref_columns(data.schema):
        refs = data.column(col)
        names = pc.struct_field(refs, "name")
        ids = pc.struct_field(refs, "id")
        mask = pc.and_(pc.is_valid(ids), pc.not_equal(ids, ""))
        if not pc.any(mask).as_py():
            continue
        pairs = pa.table({"name": names, "id": ids}).filter(mask)
        for target in pc.unique(pairs.column("name")).to_pylist():
            target_ids = pc.unique(pairs.filter(pc.equal(pairs.column("name"), target)).column("id"))
            if target not in known_tables:
                row = _first_row(data, col, "name", target)
                raise ReferenceError_(
                    f"{where}table {table_name!r}, row {row}, field {col!r}: refers to unknown table {target!r}",
                    hint=f"Tables: {', '.join(known_tables)}.",
                )
            if fresh is not None and target in fresh:
                target_ids = target_ids.filter(pc.invert(pc.is_in(target_ids, value_set=fresh[target])))
            missing = absent_from(pending.get(target, set()), target_ids) if len(target_ids) else []
            if missing:
                found = exists(target, missing)
                missing = [i for i in missing if i not in found]
            if missing:
                row = _first_row(data, col, "id", missing[0])
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                raise ReferenceError_(
                    f"{where}table {table_name!r}, row {row}, field {col!r}: {target!r} has no row with id {missing[0]!r}{more}",
                    hint=f"Add the {target!r} rows first, or fix the {col}.",
                )


def _first_row(data: pa.Table, col: str, field: str, value: str) -> int:
    values = pc.struct_field(data.column(col), field)
    idx = pc.index(values, value).as_py()
    return int(idx)
