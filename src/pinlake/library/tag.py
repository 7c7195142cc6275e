"""Name a dataset version (``pinlake tag``): a Lance tag on each of its tables and on the log."""

from __future__ import annotations

from typing import Any

from pinlake.catalog.store import Catalog, dumps
from pinlake.datasets.tables import table_uri
from pinlake.errors import NotFoundError, ValidationError
from pinlake.library.versions import LATEST, TAG_RE, channel_state, library_of, missing_tables, resolve, tags_of
from pinlake.provenance import lineage_properties
from pinlake.storage import AnyPath, lance_dataset
from pinlake.util.clock import utcnow


# --- tag ----------------------------------------------------------------------------------
def tag_version(path: AnyPath, version: int | str, name: str) -> dict[str, Any]:
    """Name a dataset version: a Lance tag on each of its tables, plus a catalog record."""
    if not TAG_RE.match(name) or name.isdigit() or name == LATEST or name.startswith(("lock:", "pinlake-keep-")):
        raise ValidationError(
            f"invalid tag name {name!r}: use letters, digits, '_', '-', '.', not only digits, not 'latest'",
            hint="Try a name like 'v1.0' or 'baseline'.",
        )
    entry = resolve(path, version)
    channel = channel_state(path).channel
    if name == channel:
        raise ValidationError(
            f"{name!r} is the channel of dataset {path.name!r}: only a version that passes its checks moves it",
            hint=f"Use `pinlake publish {path.name}@{entry.dataset_version} --channel {name}` (with --force --reason to override).",
        )
    existing = tags_of(path)
    if name in existing:
        raise ValidationError(
            f"dataset {path.name!r} already has a tag {name!r} (version {existing[name]})",
            hint=f"Tags: {', '.join(sorted(existing))}. Pick another name.",
        )
    gone = missing_tables(entry, path)
    if gone:
        raise NotFoundError(f"dataset {path.name!r} version {entry.dataset_version} was cleaned up ({', '.join(gone)})")
    for table, v in entry.tables.items():
        ds = lance_dataset(table_uri(path, table))
        if name not in ds.tags.list():
            ds.tags.create(name, v)
    lib = library_of(path)
    if lib is not None:
        Catalog(lib).append(
            "tags",
            [
                {
                    "dataset": path.name,
                    "name": name,
                    "dataset_version": entry.dataset_version,
                    "tables": dumps(entry.tables),
                    "created_at": utcnow(),
                    "user": lineage_properties("tag")["pinlake.user"],
                }
            ],
        )
    return {"dataset": path.name, "tag": name, "dataset_version": entry.dataset_version, "tables": entry.tables}
