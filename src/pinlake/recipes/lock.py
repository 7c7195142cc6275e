"""Locks: evaluate a recipe at one lake version and write ``resources.<split>.jsonl`` + ``lock.json``.

Each jsonl line is one resource version (keys sorted, compact separators), rows sorted by
(object_name, version). The lock hash is the sha256 over the jsonl files' names and bytes, so the
same recipe over the same lake version gives byte-identical files and the same hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from pinlake.errors import NotFoundError
from pinlake.lake.lake import Lake
from pinlake.recipes.client import ReadOnlyLakeClient
from pinlake.recipes.errors import LockfileError, RecipeError
from pinlake.recipes.loader import load_recipe, resolve, run_recipe
from pinlake.storage import AnyPath, S3Path, location

LOCK_KEYS = ("id", "object_name", "version", "sha256", "size", "media_type", "width", "height", "tags", "metadata", "uri")
MANIFEST = "lock.json"
FORMAT = 1


def resource_file(split: str) -> str:
    return f"resources.{split}.jsonl"


def record_of(row: dict[str, Any]) -> dict[str, Any]:
    rec = {k: row.get(k) for k in LOCK_KEYS}
    rec["tags"] = sorted(rec["tags"] or [])
    rec["metadata"] = rec["metadata"] or {}
    return rec


def dump_line(rec: dict[str, Any]) -> str:
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(files: dict[str, bytes]) -> str:
    """sha256 over (name, length, bytes) of each file, by name."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0")
        h.update(data)
    return h.hexdigest()


@dataclass
class LockResult:
    path: AnyPath
    hash: str
    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return self.manifest["splits"]


def build_lock_files(selection: dict[str, list[Any]], lake: Any, disjoint: bool) -> dict[str, bytes]:
    """{file name: bytes} of a selection, with duplicate and overlap checks."""
    owner: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for split in sorted(selection):
        recs: dict[str, dict[str, Any]] = {}
        for i, r in enumerate(selection[split]):
            rec = record_of(resolve(lake, split, i, r))
            name = rec["object_name"]
            if name in recs:
                raise RecipeError(
                    f"resource {name!r} appears twice in split {split!r}", hint="Return each resource once per split (deduplicate by object_name)."
                )
            if disjoint and name in owner:
                raise RecipeError(
                    f"resource {name!r} is in split {owner[name]!r} and in split {split!r}",
                    hint="Splits are disjoint by default; fix the selection or use @pinlake.recipe(disjoint=False).",
                )
            owner[name] = split
            recs[name] = rec
        lines = [dump_line(rec) for rec in sorted(recs.values(), key=lambda x: (x["object_name"], x["version"]))]
        files[resource_file(split)] = "".join(line + "\n" for line in lines).encode()
    return files


def lock_recipe(
    recipe_file: str | os.PathLike[str],
    lake: Lake,
    *,
    out: str | os.PathLike[str] | None = None,
    locks_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
) -> LockResult:
    """Evaluate a recipe over ``lake`` at its current version and write the lock.

    Written to ``out`` when given, else to ``<locks_dir>/<hash>/`` (``<library>/_locks``).
    """
    loaded = load_recipe(recipe_file, name)
    client = ReadOnlyLakeClient(lake)
    selection = run_recipe(loaded, client)
    files = build_lock_files(selection, client._lake, loaded.spec.disjoint)
    digest = content_hash(files)
    manifest = {
        "format": FORMAT,
        "recipe": loaded.name,
        "recipe_file": str(loaded.path),
        "recipe_sha256": loaded.source_sha256,
        "lake": str(Path(str(lake.root)).resolve()) if "://" not in str(lake.root) else str(lake.root),
        "lake_version": client.version,
        "disjoint": loaded.spec.disjoint,
        "splits": {s: files[resource_file(s)].count(b"\n") for s in sorted(selection)},
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hash": digest,
    }
    if out is not None:
        target = location(out)
    elif locks_dir is not None:
        target = location(locks_dir) / digest
    else:
        raise RecipeError("lock_recipe needs out= or locks_dir=", hint="Pass --out DIR or --library PATH.")
    write_lock_dir(target, files, manifest)
    return LockResult(target, digest, manifest)


def write_lock_dir(target: AnyPath, files: dict[str, bytes], manifest: dict[str, Any]) -> None:
    """Write files into a temp dir next to ``target``, then swap them in (stale jsonl removed).

    On S3 each file is one atomic PUT, ``lock.json`` last: a reader checks every file against it.
    """
    if isinstance(target, S3Path):
        for old in target.glob("resources.*.jsonl"):
            if old.name not in files:
                old.unlink(missing_ok=True)
        for n, b in files.items():
            (target / n).write_bytes(b)
        (target / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".lock-", dir=target))
    try:
        for n, b in files.items():
            (tmp / n).write_bytes(b)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for old in target.glob("resources.*.jsonl"):
            if old.name not in files:
                old.unlink()
        for n in [*files, MANIFEST]:
            os.replace(tmp / n, target / n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Lock:
    """A lock directory read back and verified (see :func:`read_lock`)."""

    path: AnyPath
    manifest: dict[str, Any]
    splits: list[str] = field(default_factory=list)

    @property
    def hash(self) -> str:
        return self.manifest["hash"]

    @property
    def lake_version(self) -> int:
        return int(self.manifest.get("lake_version", 0))

    @property
    def recipe(self) -> str:
        return self.manifest.get("recipe", "")

    @property
    def recipe_hash(self) -> str:
        return self.manifest.get("recipe_sha256", "")

    def file(self, split: str) -> AnyPath:
        return self.path / resource_file(split)

    def records(self, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, record) of one split, streamed."""
        with self.file(split).open("r", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                yield lineno, json.loads(line)

    def all_records(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        for split in self.splits:
            for lineno, rec in self.records(split):
                yield split, lineno, rec

    def lines(self) -> Iterator[tuple[str, int, str]]:
        """(split, line number, canonical line without the newline) of every record, not parsed."""
        for split in self.splits:
            with self.file(split).open("r", encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, start=1):
                    yield split, lineno, line.rstrip("\n")

    def index(self) -> dict[str, tuple[str, str]]:
        """object_name → (split, canonical line): what an incremental build diffs."""
        return {object_name_of(line): (split, line) for split, _, line in self.lines()}

    def located(self) -> dict[str, tuple[str, int, str]]:
        """object_name → (split, line number, canonical line)."""
        return {object_name_of(line): (split, lineno, line) for split, lineno, line in self.lines()}

    def ids(self) -> list[tuple[str, str]]:
        """(resource id, object name) of every record, read without parsing whole lines."""
        return [(id_of(line), object_name_of(line)) for _, _, line in self.lines()]

    def lineage(self) -> dict[str, Any]:
        return {"lock_hash": self.hash, "lake_version": self.lake_version, "recipe_hash": self.recipe_hash, "recipe": self.recipe, "lock_dir": str(self.path)}


_DECODER = json.JSONDecoder()


def _string_after(line: str, key: str, from_right: bool) -> str:
    i = line.rfind(key) if from_right else line.find(key)
    if i < 0:
        return json.loads(line)[key.strip(',":')]  # not canonical: parse it all
    value, _ = _DECODER.raw_decode(line, i + len(key) - 1)
    return value


def object_name_of(line: str) -> str:
    """The object name of a canonical lock line without parsing the whole line.

    Keys are sorted, so the top-level ``object_name`` follows ``metadata`` (any nested key of that
    name is inside it) and only sha256, size, tags, uri, version and width come after it.
    """
    return _string_after(line, ',"object_name":"', from_right=True)


def id_of(line: str) -> str:
    """The resource id of a canonical lock line (``id`` follows ``height``, the first key)."""
    return _string_after(line, ',"id":"', from_right=False)


def _first_bad_line(path: AnyPath, lake: Lake | None) -> str:
    """Why a jsonl file no longer matches its lock: the first offending line, when it can be told."""
    prev = None
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                return f"{where}: invalid JSON ({exc.msg})"
            if not isinstance(rec, dict) or sorted(rec) != sorted(LOCK_KEYS):
                return f"{where}: not a lock record (keys must be {', '.join(LOCK_KEYS)})"
            if dump_line(rec) + "\n" != line:
                return f"{where}: line is not in canonical form (edited by hand?)"
            key = (rec["object_name"], rec["version"])
            if prev is not None and key < prev:
                return f"{where}: rows are out of order"
            prev = key
            if lake is not None:
                try:
                    row = lake.find_data(id=rec["id"]).to_dict()
                except NotFoundError:
                    continue
                if dump_line(record_of(row)) != dump_line(rec):
                    return f"{where}: {rec['object_name']!r} differs from the lake's resource version {rec['version']}"
    return f"{path}: content changed since it was locked"


def read_lock(path: str | os.PathLike[str], lake: Lake | None = None, *, verify: bool = True) -> Lock:
    """Open a lock directory (or one of its jsonl files / its lock.json) and check its hash."""
    p = location(path)
    lock_dir = p.parent if p.is_file() else p
    mpath = lock_dir / MANIFEST
    if not mpath.is_file():
        raise LockfileError(f"{lock_dir}: no {MANIFEST} (not a lock directory)", hint="Make one with `pinlake datasets lock --file RECIPE.py`.")
    try:
        manifest = json.loads(mpath.read_text())
        files_meta: dict[str, str] = manifest["files"]
        splits = list(manifest["splits"])
        manifest["hash"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise LockfileError(f"{mpath}: not a valid lock manifest ({exc})", hint="Lock the recipe again.") from None
    for name in files_meta:
        fp = lock_dir / name
        if not fp.is_file():
            raise LockfileError(f"{fp}: missing from the lock", hint="Lock the recipe again.")
    if verify:
        files = {name: (lock_dir / name).read_bytes() for name in files_meta}
        for name, data in files.items():
            if hashlib.sha256(data).hexdigest() != files_meta[name]:
                raise LockfileError(_first_bad_line(lock_dir / name, lake), hint="Lockfiles must not be edited: lock the recipe again instead.")
        if content_hash(files) != manifest["hash"]:
            raise LockfileError(f"{mpath}: hash does not match the lockfiles", hint="Lock the recipe again.")
    return Lock(lock_dir, manifest, splits)


def check_in_lake(lock: Lock, lake: Lake, chunk: int = 1000) -> None:
    """Every locked resource version must still be in the lake (by id): one columnar check."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pairs = lock.ids()
    if not pairs:
        return
    wanted = pa.array([i for i, _ in pairs], pa.string())
    ds = lake._store.open_or_none("data")
    if ds is None:
        present = pa.array([], pa.string())
    elif len(pairs) <= chunk:
        from pinlake.sqltext import sql_in

        present = ds.to_table(columns=["id"], filter=sql_in("id", sorted(set(wanted.to_pylist()))))["id"].combine_chunks()
    else:  # large lock: one scan of the id column
        present = ds.to_table(columns=["id"])["id"].combine_chunks()
    gone = pc.invert(pc.is_in(wanted, value_set=present))
    missing = [f"{n} (id {i})" for (i, n), g in zip(pairs, gone.to_pylist()) if g]
    if missing:
        shown = ", ".join(missing[:20]) + (f" … and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise LockfileError(
            f"lock {lock.path} names {len(missing)} resource(s) no longer in the lake at {lake.root}: {shown}",
            hint="Lock the recipe again against the current lake, or point at the lake it was locked from.",
        )


__all__ = ["LOCK_KEYS", "Lock", "LockResult", "lock_recipe", "read_lock", "check_in_lake", "content_hash", "resource_file", "dump_line", "object_name_of", "id_of"]
