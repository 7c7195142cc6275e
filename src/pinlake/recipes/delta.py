"""The lock of a row-wise recipe made from its previous lock and the lake rows changed since.

Contract: :func:`pinlake.recipes.lockfile.delta_lock_files` writes into ``folder`` the split files a whole lock of the recipe over
the lake at its current version would write, byte for byte (so the lock has the same hash), and
returns what it did; or it writes nothing and returns None when it cannot be sure of that cheaply,
and the caller locks whole. It returns None when the recipe is not ``rowwise=True``, when the
recipe file or the lake (its root and identity) differ from the previous lock's, when the previous lock's lake
version is unreadable (cleaned up) or newer than the lake's, when a commit in between does not
read (:func:`pinlake.storage.lance_delta.compactions_since`; a compaction is read around,
:func:`touched_names`), when more
than :data:`MAX_CHANGED_FRACTION` of its rows changed (beyond :data:`MIN_CHANGED`), or when the
recipe returned a resource it was not shown.

Why it is the same lock. A lock line is a function of one latest lake row, and a row-wise recipe
puts each resource in its splits by that row alone (the client holds it to ``select`` and
``list_data`` without ``limit``, ``offset`` or ``all_versions``). Between the two lake versions,
the *touched* object names are those with a latest row removed or added (Lance rewrites a row it
updates, so a new version, a tag or a metadata change all count). Every other resource has the same
latest row, so the same splits and lines: its lines are kept. The recipe runs over the touched
names' latest rows only, and its selection's lines are made as a whole lock makes them
(:func:`pinlake.recipes.lockfile.write_lock_files`, which also checks them). Each split file is
then the kept lines and the new ones ordered by object name, as a whole lock orders them (DuckDB's
byte order). The splits are the previous lock's and those the recipe returned; a previous split
left with no line and not returned is dropped, and an empty split the recipe returned is refused
unless ``allow_empty``, as in a whole lock.

Cost: the lake's changed rows from fragment metadata (:mod:`pinlake.storage.lance_delta`), the
recipe over those rows, and one pass of DuckDB over the previous lock's lines (read, filtered,
sorted, written), within :data:`pinlake.recipes.lockfile.LOCK_MEMORY`. Memory follows the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from pinlake.lake.lake import Lake
from pinlake.lake.lance_tables import DATA
from pinlake.recipes.client import ReadOnlyLakeClient
from pinlake.recipes.loader import LoadedRecipe, check_shape
from pinlake.storage.lance_delta import NotIncremental, TableDelta, compactions_since, table_delta

if TYPE_CHECKING:  # pragma: no cover  (lockfile imports this module)
    from pinlake.recipes.lockfile import Lock

#: above this fraction of the lake's data rows changed, the lock is made whole
MAX_CHANGED_FRACTION = 0.1
#: … unless at most this many rows changed
MIN_CHANGED = 1000
#: lines DuckDB hands over at a time while a split file is written
WRITE_BATCH = 65_536


@dataclass
class DeltaLock:
    """What :func:`pinlake.recipes.lockfile.delta_lock_files` wrote: lines per split, the number of
    object names it locked again, the parent lock's hash, and the lines it took out of the parent
    and put in (``changes``, :data:`pinlake.recipes.lockfile.CHANGES_SCHEMA`)."""

    counts: dict[str, int]
    touched: int
    parent: str
    changes: pa.Table


def touched_names(lake: Lake, since: int) -> list[str] | None:
    """The object names whose latest row differs between lake version ``since`` and the lake's
    version (module doc), sorted; None when that cannot be read cheaply.

    A compaction in between (``pinlake maintain``) keeps the rows but gives them new addresses:
    the change is then read on each side of it (:func:`pinlake.storage.lance_delta.compactions_since`)
    and the names joined. A name changed and changed back on two sides is among them: the recipe
    runs over its latest row again and writes the line a whole lock writes."""
    store = lake.store
    after = store.open_or_none(DATA)
    if after is None or not since:
        return None
    limit = max(MIN_CHANGED, int(MAX_CHANGED_FRACTION * after.count_rows()))
    try:
        return _names([_delta(store, since, after, limit)])
    except NotIncremental:
        compactions = compactions_since(after, since, store.compactions(DATA))
        if not compactions:  # none in between (too many rows changed), or one that does not read
            return None
    except (OSError, ValueError, RuntimeError):  # that version was cleaned up
        return None
    # [since, first compaction - 1], [that compaction, next one - 1], ..., [last compaction, now]
    bounds = [since, *[b for v in compactions for b in (v - 1, v)], after.version]
    deltas = []
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        try:
            deltas.append(_delta(store, start, after if end == after.version else store.open(DATA, version=end), limit))
        except (NotIncremental, OSError, ValueError, RuntimeError):
            return None
        limit -= deltas[-1].removed.num_rows + deltas[-1].added.num_rows
    return _names(deltas)


def _delta(store: Any, since: int, after: Any, limit: int) -> TableDelta:
    """The lake's data rows removed and added from version ``since`` to the table ``after``."""
    before = store.open(DATA, version=since)
    return table_delta(before, after, ["object_name", "is_latest"], max(limit, 0))


def _names(deltas: list[TableDelta]) -> list[str]:
    """The object names of the latest rows removed or added, sorted."""
    names: set[str] = set()
    for delta in deltas:
        for rows in (delta.removed, delta.added):
            names.update(rows.filter(pc.field("is_latest")).column("object_name").to_pylist())
    return sorted(names)


def made_from(manifest: dict[str, Any], lake_root: str, identity: str | None) -> bool:
    """Whether a lock (its manifest) was made from the lake whose root a lock records as
    ``lake_root`` (:func:`pinlake.recipes.lockfile.lake_location`) and whose identity is
    ``identity`` (``lake.store.identity()``, :data:`pinlake.lake.lance_tables.IDENTITY_FILE`): the
    same root (``lake``) and the same ``lake_id``, so a lake wiped and made again at that root is
    another lake. A lock or a lake without an identity is from no known lake: the caller does the
    whole work."""
    return identity is not None and manifest.get("lake_id") == identity and manifest.get("lake") == lake_root


def eligible(loaded: LoadedRecipe, lake: Lake, previous: Lock | None, lake_root: str, identity: str | None) -> bool:
    """Whether ``previous`` may serve as the base of this recipe's lock (module doc); ``identity``:
    the lake's (``lake.store.identity()``)."""
    if previous is None or not loaded.spec.rowwise:
        return False
    m = previous.manifest
    return (
        m.get("recipe_sha256") == loaded.source_sha256
        and m.get("recipe") == loaded.name
        and made_from(m, lake_root, identity)
        and bool(m.get("disjoint", True)) == loaded.spec.disjoint
        and 0 < int(m.get("lake_version", -1)) <= lake.version
    )


def changed_selection(loaded: LoadedRecipe, lake: Lake, touched: list[str]) -> dict[str, list[Any] | pa.Table] | None:
    """The recipe's selection among the touched resources' latest rows (its client shows no other;
    with none touched it still runs, for the splits it returns), its empty splits allowed (the
    merged lock is checked); None when the recipe raises: the whole
    lock runs it again and reports the error as a whole lock does."""
    shown = ReadOnlyLakeClient(lake, recipe=f"{loaded.name!r} ({loaded.path})", only_names=touched)
    try:
        result = loaded.spec.fn(shown)
    except Exception:  # noqa: BLE001 - see the docstring
        return None
    return check_shape(loaded, result, allow_empty=True)


__all__ = ["DeltaLock", "changed_selection", "eligible", "made_from", "touched_names", "MAX_CHANGED_FRACTION", "MIN_CHANGED"]
