"""Lock a registered recipe at the lake's latest version (reusing a lock of the same inputs).

The recipe runner and the version log load inside the calls (``# lazy``): the no-op refresh on a
server records its run with :class:`LockStep` and must not load Lance or pyarrow.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinlake.library.connection import Library
from pinlake.library.registry import Registry
from pinlake.storage import location

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.lake import Lake
    from pinlake.recipes.lockfile import Lock, LockResult


@dataclass
class LockStep:
    dataset: str
    lock_hash: str
    lock_dir: str
    lake_version: int
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lock_file(
    library: str | os.PathLike[str],
    recipe_file: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    name: str | None = None,
    since: str | os.PathLike[str] | None = None,
) -> LockResult:
    """Lock the recipe in ``recipe_file`` (``pinlake datasets lock``) over the library's lake: its lock is
    written under ``<library>/_locks/<hash>/`` (or ``out``). ``since``: an earlier lock of the
    recipe, read and verified, that a ``rowwise=True`` recipe's lock starts from."""
    from pinlake.recipes.lockfile import lock_recipe, read_lock  # lazy: see the module doc

    lib = Library(library)
    lake = lib.get_datalake()
    previous = read_lock(since, lake) if since is not None else None
    return lock_recipe(Path(recipe_file), lake, out=out, locks_dir=lib.locks_path, name=name, previous=previous)


def lock_step(library: str | os.PathLike[str], registry: str | os.PathLike[str], name: str) -> LockStep:
    """Evaluate the registered recipe against the lake and write its lock under ``_locks/<hash>``."""
    from pinlake.recipes.lockfile import lock_recipe  # lazy: see the module doc

    reg = Registry(registry)
    entry = reg.get(name)
    lib = Library(library).ensure()
    script = reg.script(entry)
    lake = lib.get_datalake()
    same = same_inputs_lock(lib, name, script, lake)
    if same is not None:
        return same
    result = lock_recipe(script, lake, locks_dir=lib.locks_path, previous=previous_lock(lib, name))
    return LockStep(name, result.hash, str(result.path), int(result.manifest.get("lake_version", -1)), dict(result.counts))


def previous_lock(lib: Library, name: str) -> Lock | None:
    """The lock of dataset ``name``'s latest version, read and verified; None when it has none or
    it is gone or damaged (the lock is then made whole). A ``rowwise=True`` recipe's next lock
    starts from it (:mod:`pinlake.recipes.delta`)."""
    from pinlake.library.versions import latest_entry  # lazy: see the module doc
    from pinlake.recipes.errors import LockfileError
    from pinlake.recipes.lockfile import read_lock

    entry = latest_entry(lib, name)
    if entry is None or not entry.lock_hash:
        return None
    for cand in (entry.lineage.get("pinlake.lock_dir"), lib.locks_path / entry.lock_hash):
        if not cand or not (location(cand) / "lock.json").is_file():
            continue
        try:
            lock = read_lock(cand)
        except LockfileError:
            continue
        if lock.hash == entry.lock_hash:
            return lock
    return None


def same_inputs_lock(lib: Library, name: str, script: Path, lake: Lake) -> LockStep | None:
    """The latest version's lock when the recipe file is the one it was locked from and the lake's
    rows are those of the lake version it was locked at (that version, or a later one made by
    compactions and index commits only: ``pinlake maintain``; then the lock must name this lake's
    identity, as a lock made from the previous one must).

    A lock is a function of (recipe, lake rows), so re-running the recipe would write the same
    lock: the no-op refresh then reads two small files instead of evaluating the recipe over the
    lake. The lock is returned as holding at the lake's current version (its files are not touched).
    """
    import hashlib
    import json

    from pinlake.library.versions import latest_entry  # lazy: see the module doc

    entry = latest_entry(lib, name)
    if entry is None or not entry.lock_hash:
        return None
    lineage = entry.lineage
    if lineage.get("pinlake.recipe_hash") != hashlib.sha256(script.read_bytes()).hexdigest():
        return None
    locked, now = str(lineage.get("pinlake.lake_version")), lake.version
    kept = locked != str(now)  # only compactions and index commits since: the lock must be this lake's
    if kept and not (locked.isdigit() and lake.rows_unchanged_since(int(locked))):
        return None
    identity = lake.store.identity() if kept else None
    for cand in (lineage.get("pinlake.lock_dir"), lib.locks_path / entry.lock_hash):
        mpath = location(cand) / "lock.json" if cand else None
        if mpath is None or not mpath.is_file():
            continue
        try:
            manifest = json.loads(mpath.read_text())
        except ValueError:
            continue
        if kept and (identity is None or manifest.get("lake_id") != identity):  # a lake made again at that root
            continue
        if manifest.get("hash") == entry.lock_hash and str(manifest.get("lake_version")) == locked:
            return LockStep(name, entry.lock_hash, str(location(cand)), int(now), dict(manifest.get("splits", {})))
    return None
