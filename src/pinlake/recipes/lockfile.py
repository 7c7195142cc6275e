"""Locks: evaluate a recipe at one lake version and write ``resources.<split>.jsonl`` + ``lock.json``.

Each jsonl line is one resource version (keys sorted, compact separators), rows sorted by
(object_name, version). The lock hash is the sha256 over the jsonl files' names and bytes, so the
same recipe over the same lake version gives byte-identical files and the same hash.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pinlake.errors import NotFoundError
from pinlake.lake.lake import Lake
from pinlake.lake.models import Data
from pinlake.lake.query import key_columns
from pinlake.recipes import delta
from pinlake.recipes.client import ReadOnlyLakeClient
from pinlake.recipes.errors import LockfileError, RecipeError
from pinlake.recipes.lines import LOCK_KEYS, canonical_lines, dump_line, lines_connection, record_of, text_bytes
from pinlake.recipes.loader import LoadedRecipe, load_recipe, resolve_resource, run_recipe
from pinlake.storage import AnyPath, S3Path, is_uri, location
from pinlake.util.faults import commit_point
from pinlake.util.sqltext import sql_in
from pinlake.util.strings import StringList

MANIFEST = "lock.json"
FORMAT = 1


def resource_file(split: str) -> str:
    return f"resources.{split}.jsonl"


def content_hash(files: dict[str, bytes]) -> str:
    """sha256 over (name, length, bytes) of each file, by name."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(_hash_header(name, len(data)))
        h.update(data)
    return h.hexdigest()


def _hash_header(name: str, size: int) -> bytes:
    return name.encode() + b"\0" + str(size).encode() + b"\0"


#: bytes read at a time when hashing lock files
READ_CHUNK = 1 << 20


def hash_lock_files(folder: AnyPath, names: Iterable[str], *, each: bool = True) -> tuple[dict[str, str], str]:
    """({name: sha256}, :func:`content_hash`) of the files ``names`` in ``folder``, read in chunks;
    with ``each=False`` only the total (the check of a lock: one hash over the bytes, not two)."""
    total = hashlib.sha256()
    digests: dict[str, str] = {}
    for name in sorted(names):
        path = folder / name
        size = path.stat().st_size
        h = hashlib.sha256() if each else None
        total.update(_hash_header(name, size))
        read = 0
        with path.open("rb") as fh:
            while chunk := fh.read(READ_CHUNK):
                if h is not None:
                    h.update(chunk)
                total.update(chunk)
                read += len(chunk)
        if read != size:
            raise LockfileError(f"{path}: changed while it was read ({size} bytes, then {read})", hint="Lock the recipe again.")
        if h is not None:
            digests[name] = h.hexdigest()
    return digests, total.hexdigest()


class HashedFile:
    """A lock file being written whose sha256 is taken from the bytes as they are written, and put
    in ``digests`` under its file name when it is closed: the lock's per-file hashes without
    reading its files again (the whole-lock hash still is: it needs each file's size first)."""

    def __init__(self, path: Path, digests: dict[str, str] | None) -> None:
        self.path, self.digests = path, digests
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by __exit__
        self.hash = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        self.fh.write(data)

    def __enter__(self) -> HashedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()
        if self.digests is not None and exc[0] is None:
            self.digests[self.path.name] = self.hash.hexdigest()


def lock_digest(folder: AnyPath, names: Iterable[str]) -> str:
    """:func:`content_hash` of the files ``names`` in ``folder``: the check of a lock's files
    (:func:`hash_lock_files` without the per-file hashes)."""
    return hash_lock_files(folder, names, each=False)[1]


@dataclass
class LockResult:
    path: AnyPath
    hash: str
    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return self.manifest["splits"]


#: lock lines made (and written) at a time
LINES_CHUNK = 1024


def _split_entries(split: str, items: list[Any], lake: Any) -> tuple[list[str], list[Any]]:
    """(object names, entries) of one split given as a list, in the recipe's order. An entry is a
    Data of a listing (its row stays in the listing's Arrow table) or the resolved row dict of any
    other resource."""
    names: list[str] = []
    entries: list[Any] = []
    for i, r in enumerate(items):
        if isinstance(r, Data) and r.listing_position() is not None:
            entry: Any = r
            name = r.object_name
        else:
            entry = resolve_resource(lake, split, i, r)
            name = entry["object_name"]
        names.append(name)
        entries.append(entry)
    return names, entries


#: DuckDB's memory for a build's lock checks and diffs (beyond it, it spills to a temporary directory)
LOCK_MEMORY = "128MB"
#: DuckDB's memory while a lock is written (:class:`SplitNames`): less than :data:`LOCK_MEMORY`, as the
#: recipe's selection is held beside it. A lock of 1M took 485 MB at 128 MB and 442 MB at 64 MB in the
#: same time (the join and the sort spill to the staging directory); at 32 MB that lock failed (DuckDB
#: could not pin a block of the join).
NAMES_MEMORY = "64MB"
DISJOINT_HINT = "Splits are disjoint by default; fix the selection or use @pinlake.recipe(disjoint=False)."


def bounded_duckdb(spill: str | Path, memory: str = LOCK_MEMORY) -> Any:
    """A DuckDB connection within ``memory`` and two threads (its memory per thread does not grow
    with the machine's cores), spilling to ``spill``."""
    import duckdb

    config = {"memory_limit": memory, "threads": 2, "temp_directory": str(spill), "preserve_insertion_order": False}
    return duckdb.connect(config=config)  # type: ignore[arg-type]  # duckdb's stub wants dict[str, str]


@contextmanager
def spilling_duckdb(prefix: str) -> Iterator[Any]:
    """A :func:`bounded_duckdb` connection spilling to a temporary directory; both gone on exit."""
    spill = tempfile.mkdtemp(prefix=prefix)
    try:
        con = bounded_duckdb(spill)
        try:
            yield con
        finally:
            con.close()
    finally:
        shutil.rmtree(spill, ignore_errors=True)


class SplitNames:
    """The object names of a lock's splits, joined, checked and ordered in one DuckDB connection.

    A split given as a table is joined to the pinned lake's data table (streamed, see
    :meth:`Lake.key_scan`); a split given as a list brings its names. Each split's ``m`` table
    (``pos`` in the recipe's order, ``object_name``, ``_rowid``) lives in DuckDB under
    :data:`NAMES_MEMORY` and spills to ``spill`` beyond it, as do the names of the splits before
    (``seen``, for the disjoint check): the lock's memory does not grow with the selection.
    """

    def __init__(self, lake: Any, spill: Path, disjoint: bool) -> None:
        self.lake = lake
        self.disjoint = disjoint
        self.con = bounded_duckdb(spill, NAMES_MEMORY)
        self.con.execute("CREATE TABLE seen (split VARCHAR, object_name VARCHAR)")
        #: a second connection, for the lines of the rows taken (:func:`canonical_lines`) while
        #: ``con`` streams their order
        self.lines = lines_connection()

    def close(self) -> None:
        self.con.close()
        self.lines.close()

    def add_table(self, split: str, keys: pa.Table) -> int:
        """Join a split given as a table to the lake; a key that names no lake row is an error naming its row."""
        by = key_columns(keys.column_names)
        keyed = pa.table({c: keys.column(c) for c in by} | {"pos": pa.array(np.arange(keys.num_rows, dtype=np.int64))})
        self.con.register("k", keyed)
        self.con.register("l", self.lake.key_scan(by))
        on = " AND ".join(f"k.{c} = l.{c}" for c in by)
        # the split's keys are the hash table (DuckDB builds on the right side with
        # build_side_probe_side off, for this join only: the checks' joins choose theirs) and the
        # lake streams past them: built on the lake's stream, whose size DuckDB cannot see, the
        # join held every lake row (+160 MB at 1M against +145)
        self.con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE m AS SELECT k.pos, l.object_name, l._rowid FROM l RIGHT JOIN k ON {on}")  # noqa: S608 - fixed names
        finally:
            self.con.execute("RESET disabled_optimizers")
        self.con.unregister("k")
        self.con.unregister("l")
        missing, first = self.one("SELECT count(*), min(pos) FROM m WHERE object_name IS NULL")
        offences = []
        if missing:
            key = ", ".join(f"{c}={keys.column(c)[first].as_py()!r}" for c in by)
            more = f" ({missing} rows name nothing)" if missing > 1 else ""
            offences.append(
                (
                    int(first),
                    f"split {split!r}[{first}]: no data with {key} in the lake at version {self.lake.version}{more}",
                    "Recipes may only return resources of the lake: select them with client.select(...).",
                )
            )
        return self.check(split, offences)

    def add_names(self, split: str, names: list[str]) -> int:
        """A split given as a list: its resources' object names in the recipe's order."""
        self.con.register(
            "k", pa.table({"pos": pa.array(np.arange(len(names), dtype=np.int64)), "object_name": pa.array(names, pa.string())})
        )
        self.con.execute("CREATE OR REPLACE TABLE m AS SELECT pos, object_name, NULL::UBIGINT AS _rowid FROM k")
        self.con.unregister("k")
        return self.check(split)

    def one(self, sql: str) -> tuple[Any, ...]:
        """The one row of ``sql`` (an aggregate, or ``LIMIT 1`` over rows known to exist)."""
        (row,) = self.con.execute(sql).fetchall()
        return tuple(row)

    def check(self, split: str, offences: list[tuple[int, str, str]] | None = None) -> int:
        """Once per split, and (``disjoint``) in one split only: of these and ``offences`` (position,
        message, hint), the one at the smallest position (the recipe's order) is reported. Returns
        the split's size."""
        offences = list(offences or [])
        count, distinct = self.one("SELECT count(*), count(DISTINCT object_name) FROM m WHERE object_name IS NOT NULL")
        if distinct < count:
            pos, name = self.one(
                "SELECT m.pos, m.object_name FROM m JOIN (SELECT object_name, min(pos) AS first FROM m WHERE object_name IS NOT NULL "
                "GROUP BY object_name HAVING count(*) > 1) d USING (object_name) WHERE m.pos > d.first ORDER BY m.pos LIMIT 1"
            )
            offences.append(
                (
                    pos,
                    f"resource {name!r} appears twice in split {split!r}",
                    "Return each resource once per split (deduplicate by object_name).",
                )
            )
        if self.disjoint:
            hits = self.con.execute(
                "SELECT m.pos, m.object_name, s.split FROM m JOIN seen s USING (object_name) ORDER BY m.pos, s.split LIMIT 1"
            ).fetchall()
            for pos, name, prev in hits:
                offences.append((pos, f"resource {name!r} is in split {prev!r} and in split {split!r}", DISJOINT_HINT))
        if offences:
            _, message, hint = min(offences)
            raise RecipeError(message, hint=hint)
        return int(count)

    def ordered(self, column: str, size: int) -> Iterator[list[int]]:
        """``column`` (``pos`` or ``_rowid``) of the current split by object name, ``size`` at a time."""
        reader = self.con.sql(f"SELECT {column} FROM m ORDER BY object_name").to_arrow_reader(size)  # noqa: S608 - pos or _rowid
        for batch in reader:
            yield batch.column(0).to_pylist()

    def done(self, split: str) -> None:
        """Keep the split's names for the disjoint check of the splits after it."""
        if self.disjoint:
            self.con.execute("INSERT INTO seen SELECT ?, object_name FROM m", [split])
        self.con.execute("DROP TABLE m")


def _chunk_lines(entries: list[Any], con: Any) -> str:
    """The canonical lines of these entries, in order, each ending in a newline: listing rows are
    taken from their Arrow table (the lock's columns, one take per listing) and made column-wise
    (:func:`canonical_lines`, in DuckDB connection ``con``); resolved rows one at a time."""
    lines: list[str] = [""] * len(entries)
    by_rows: dict[int, tuple[Any, list[int], list[int]]] = {}
    for pos, e in enumerate(entries):
        if isinstance(e, Data) and (where := e.listing_position()) is not None:
            rows, i = where
            by_rows.setdefault(id(rows), (rows, [], []))
            _, at, idx = by_rows[id(rows)]
            at.append(pos)
            idx.append(i)
        else:
            lines[pos] = dump_line(record_of(e)) + "\n"
    for rows, at, idx in by_rows.values():
        for pos, line in zip(at, canonical_lines(rows.table_at(idx, list(LOCK_KEYS)), con).to_pylist()):
            lines[pos] = line
    return "".join(lines)


def _row_lines(lake: Any, row_ids: list[int], con: Any) -> memoryview:
    """The canonical lines of the lake rows with these row ids, in that order, as the bytes to
    write (column-wise: :func:`canonical_lines`, in DuckDB connection ``con``)."""
    return text_bytes(canonical_lines(lake.rows_by_rowid(row_ids, list(LOCK_KEYS)), con))


#: lake rows taken by row id at a time for a split given as a table
TAKE_CHUNK = 8192


def write_lock_files(
    selection: dict[str, list[Any] | pa.Table], lake: Any, disjoint: bool, folder: Path, digests: dict[str, str] | None = None
) -> dict[str, int]:
    """Write ``resources.<split>.jsonl`` of a selection into ``folder``; returns {split: lines}.
    ``selection`` is emptied as its splits are written (each split's table is let go once joined).
    ``digests``: each file's sha256 is put there as it is written (:class:`HashedFile`).

    Rows are sorted by (object_name, version): object names are unique in a split (checked), so
    by object name. The names are checked and ordered in DuckDB (:class:`SplitNames`). A split
    given as a list is written :data:`LINES_CHUNK` lines at a time (a listing's rows stay in its
    Arrow table until their chunk); a split given as a table is joined to the lake once and its
    rows taken by row id :data:`TAKE_CHUNK` at a time: no Python object per resource until its
    line is made.
    """
    counts: dict[str, int] = {}
    spill = Path(tempfile.mkdtemp(prefix=".spill-", dir=folder))
    names = SplitNames(lake, spill, disjoint)
    try:
        for split in sorted(selection):
            items = selection.pop(split)
            with HashedFile(folder / resource_file(split), digests) as fh:
                if isinstance(items, pa.Table):
                    counts[split] = names.add_table(split, items)
                    del items  # its rows are found in the lake now (60 MB for a million ids and names)
                    for row_ids in names.ordered("_rowid", TAKE_CHUNK):
                        fh.write(_row_lines(lake, row_ids, names.lines))
                else:
                    object_names, entries = _split_entries(split, items, lake)
                    counts[split] = names.add_names(split, object_names)
                    del object_names
                    for order in names.ordered("pos", LINES_CHUNK):
                        fh.write(_chunk_lines([entries[j] for j in order], names.lines).encode())
            names.done(split)
    finally:
        names.close()
        shutil.rmtree(spill, ignore_errors=True)
    return counts


#: lines DuckDB hands over at a time while a merged split file is written
LINES_BATCH = 65_536


def delta_lock_files(
    loaded: LoadedRecipe, lake: Lake, previous: Lock, folder: Path, digests: dict[str, str] | None = None
) -> delta.DeltaLock | None:
    """Write the split files of the recipe's lock into ``folder`` from ``previous`` and the lake's
    changes since it, or nothing and None when that is not sure to equal the whole lock
    (:mod:`pinlake.recipes.delta`: the contract and why it holds). ``digests``: as for
    :func:`write_lock_files`.

    Each split is one streamed merge: the previous file's lines come in order with their object
    names (DuckDB's JSON reader, in batches of :data:`LINES_BATCH`), the touched ones are dropped
    (and recorded), and the fresh lines (few: the recipe's selection among the touched) are slotted
    in where their names fall; a batch and its fresh lines are sorted together, by bytes, as the
    whole lock's ``ORDER BY object_name`` sorts. Memory: a batch and the fresh lines."""
    touched = delta.touched_names(lake, previous.lake_version)
    if touched is None:
        return None
    selection = delta.changed_selection(loaded, lake, touched)
    if selection is None:
        return None
    returned = set(selection)
    touched_set = pa.array(touched, pa.string())
    work = Path(tempfile.mkdtemp(prefix=".delta-", dir=folder))
    try:
        fresh = {split: named_lines(work / resource_file(split)) for split in write_lock_files(selection, lake, loaded.spec.disjoint, work)}
        if any(not pc.all(pc.is_in(t.column("object_name"), value_set=touched_set)).as_py() for t in fresh.values() if t.num_rows):
            return None  # the recipe returned a resource it was not shown: not row-wise
        counts: dict[str, int] = {}
        changes: list[pa.Table] = []
        for split in sorted(set(previous.splits) | set(fresh)):
            new = fresh.get(split, NAMED_SCHEMA.empty_table())
            with HashedFile(folder / resource_file(split), digests) as fh:
                out = MergedSplit(fh, split, changes)
                names = new.column("object_name").to_pylist()
                j = 0
                kept = named_batches(previous.file(split)) if split in previous.splits else iter(())
                for batch in kept:
                    gone = pc.is_in(batch.column("object_name"), value_set=touched_set)
                    if pc.any(gone).as_py():
                        changes.append(change_rows(batch.filter(gone), split, "old", None))
                        batch = batch.filter(pc.invert(gone))
                    if not batch.num_rows:
                        continue
                    k = bisect.bisect_right(names, batch.column("object_name")[-1].as_py(), lo=j)
                    out.put(pa.concat_tables([batch, new.slice(j, k - j)]))
                    j = k
                out.put(new.slice(j))
            n = out.lines
            if not n and split not in returned:
                return None  # a whole run might still return it empty: lock whole
            if not n and not loaded.spec.allow_empty:
                raise RecipeError(
                    f"recipe {loaded.name!r} ({loaded.path}): split {split!r} is empty",
                    hint="Select resources for it, drop it, or use @pinlake.recipe(allow_empty=True).",
                )
            counts[split] = n
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not counts and not loaded.spec.allow_empty:
        raise RecipeError(
            f"recipe {loaded.name!r} ({loaded.path}) returned no splits",
            hint="Return e.g. {'train': [...]}, or use @pinlake.recipe(allow_empty=True).",
        )
    table = pa.concat_tables(changes) if changes else CHANGES_SCHEMA.empty_table()
    return delta.DeltaLock(counts, len(touched), previous.hash, table)


class MergedSplit:
    """A split file of a delta lock being written: pieces of lines (kept and fresh, with their
    names) each sorted by name and appended; the fresh lines' numbers recorded in ``changes``."""

    def __init__(self, fh: Any, split: str, changes: list[pa.Table]) -> None:
        self.fh, self.split, self.changes, self.lines = fh, split, changes, 0

    def put(self, piece: pa.Table) -> None:
        if not piece.num_rows:
            return
        at = pc.indices_nonzero(piece.column("fresh"))
        if len(at):  # fresh lines slotted in: the piece is sorted again (kept lines alone are in order)
            piece = piece.take(pc.sort_indices(piece, [("object_name", "ascending")]))
        self.fh.write(text_bytes(pc.binary_join_element_wise(piece.column("line").combine_chunks(), "\n", "")))
        at = pc.indices_nonzero(piece.column("fresh")) if len(at) else at
        if len(at):
            self.changes.append(change_rows(piece.take(at), self.split, "new", pc.add(at, self.lines + 1)))
        self.lines += piece.num_rows


#: a lock file's lines with their object names, and whether each is a fresh line of a delta lock
NAMED_SCHEMA = pa.schema([("line", pa.string()), ("object_name", pa.string()), ("fresh", pa.bool_())])


def named_batches(path: AnyPath, fresh: bool = False) -> Iterator[pa.Table]:
    """A lock file's lines (:func:`file_lines`) with their object names (:func:`line_object_names`),
    in order, a block of the file at a time."""
    con: Any = None
    try:
        for lines in file_lines(path):
            names = line_object_names(lines)
            if names is None:  # an escape in a name, or a line not as canonical as it should be
                con = con or lines_connection()
                con.register("lines", pa.table({"line": lines}))
                names = con.sql("SELECT json_extract_string(line, '$.object_name') FROM lines").to_arrow_table().column(0).combine_chunks()
                con.unregister("lines")
            flags = pa.array(np.full(len(lines), fresh, dtype=bool))
            yield pa.table([lines, names, flags], schema=NAMED_SCHEMA)
    finally:
        if con is not None:
            con.close()


#: the top-level object name's key in a canonical line
NAME_KEY = '"object_name":"'


def line_object_names(lines: pa.Array) -> pa.Array | None:
    """The ``object_name`` of each canonical lock line, by Arrow string kernels; None when some line
    needs a JSON reader. The top-level key is the last ``"object_name":"`` of a line: the keys are
    sorted, so only ``metadata`` (which may hold such a key) comes before it, and what follows it
    (sha256, size, tags, uri, version, width) holds no unescaped quote outside its strings. The name
    runs to the next quote when it holds no backslash (an escape: then None)."""
    parts = pc.split_pattern(lines, NAME_KEY, max_splits=1, reverse=True)
    if not pc.all(pc.equal(pc.list_value_length(parts), 2)).as_py():
        return None
    names = pc.list_element(pc.split_pattern(pc.list_element(parts, 1), '"', max_splits=1), 0)
    if pc.any(pc.match_substring(names, "\\")).as_py():
        return None
    return names


def named_lines(path: AnyPath) -> pa.Table:
    """Every line of a (small) lock file with its object name, marked fresh (:func:`named_batches`)."""
    parts = list(named_batches(path, fresh=True))
    return pa.concat_tables(parts) if parts else NAMED_SCHEMA.empty_table()


#: the lines an incremental lock took from its parent (``old``) and put in (``new``, with their line
#: number in the new split file), written beside it as :data:`CHANGES`
CHANGES_SCHEMA = pa.schema(
    [("object_name", pa.string()), ("side", pa.string()), ("split", pa.string()), ("lineno", pa.int64()), ("line", pa.string())]
)
#: the file of an incremental lock's changes (derived: not part of its hash, see :func:`recorded_diff`)
CHANGES = "changes.parquet"


def change_rows(batch: pa.Table, split: str, side: str, lineno: pa.Array | None) -> pa.Table:
    """Rows of :data:`CHANGES_SCHEMA` for these lines."""
    n = batch.num_rows
    line = batch.column("line")
    return pa.table(
        [
            batch.column("object_name"),
            pa.array([side] * n),
            pa.array([split] * n),
            lineno if lineno is not None else pa.nulls(n, pa.int64()),
            line,
        ],
        schema=CHANGES_SCHEMA,
    )


def lake_location(lake: Lake) -> str:
    """The lake's root as a lock's manifest records it (``lake``): a resolved path, or its URI."""
    return str(Path(str(lake.root)).resolve()) if not is_uri(lake.root) else str(lake.root)


def lock_recipe(
    recipe_file: str | os.PathLike[str],
    lake: Lake,
    *,
    out: str | os.PathLike[str] | S3Path | None = None,
    locks_dir: str | os.PathLike[str] | S3Path | None = None,
    name: str | None = None,
    previous: Lock | None = None,
) -> LockResult:
    """Evaluate a recipe over ``lake`` at its current version and write the lock.

    Written to ``out`` when given, else to ``<locks_dir>/<hash>/`` (``<library>/_locks``). The
    jsonl files are written into a temporary directory first (next to the target when it is
    local), hashed from there, then moved in with ``lock.json``.

    ``previous``: an earlier lock of the same recipe file. A ``rowwise=True`` recipe then runs over
    the resources that changed in the lake since that lock only, and the rest of its lines are
    kept (:mod:`pinlake.recipes.delta`: the same files, so the same hash); the manifest names it
    as ``parent``. Any other case locks whole.
    """
    loaded = load_recipe(recipe_file, name)
    client = ReadOnlyLakeClient(lake, recipe=f"{loaded.name!r} ({loaded.path})", rowwise=loaded.spec.rowwise)
    lake_root = lake_location(lake)
    identity = lake.store.record_identity()  # read once: the delta check's and the manifest's
    staging = _staging_dir(out, locks_dir)
    try:
        eligible = previous is not None and delta.eligible(loaded, lake, previous, lake_root, identity)
        written: dict[str, str] = {}  # file name -> sha256 of the bytes written
        made = delta_lock_files(loaded, client.pinned_lake, previous, staging, written) if previous is not None and eligible else None
        if made is not None:
            counts = made.counts
        else:
            selection = run_recipe(loaded, client)
            counts = write_lock_files(selection, client.pinned_lake, loaded.spec.disjoint, staging, written)
        names = [resource_file(s) for s in counts]
        file_hashes, digest = {n: written[n] for n in names}, lock_digest(staging, names)
        manifest = {
            "format": FORMAT,
            "recipe": loaded.name,
            "recipe_file": str(loaded.path),
            "recipe_sha256": loaded.source_sha256,
            "lake": lake_root,
            "lake_id": identity,
            "lake_version": client.version,
            "disjoint": loaded.spec.disjoint,
            "splits": dict(sorted(counts.items())),
            "files": dict(sorted(file_hashes.items())),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "hash": digest,
        }
        extra: list[str] = []
        if made is not None and made.parent != digest:
            manifest["parent"] = {"hash": made.parent, "touched": made.touched}
            pq.write_table(made.changes.replace_schema_metadata({"parent": made.parent, "hash": digest}), staging / CHANGES)
            extra = [CHANGES]
        if out is not None:
            target = location(out)
        elif locks_dir is not None:
            target = location(locks_dir) / digest
        else:
            raise RecipeError("lock_recipe needs out= or locks_dir=", hint="Pass --out DIR or --library PATH.")
        install_lock_dir(target, staging, names, manifest, extra)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return LockResult(target, digest, manifest)


def _staging_dir(out: Any, locks_dir: Any) -> Path:
    """A new temporary directory on the target's file system when the target is local."""
    parent = None
    for where in (out, locks_dir):
        if where is not None:
            loc = location(where)
            if isinstance(loc, Path):
                loc.mkdir(parents=True, exist_ok=True)
                parent = loc
            break
    return Path(tempfile.mkdtemp(prefix=".lock-", dir=parent))


def install_lock_dir(target: AnyPath, staging: Path, names: list[str], manifest: dict[str, Any], extra: list[str] | None = None) -> None:
    """Move the jsonl files ``names`` and the derived files ``extra`` (:data:`CHANGES`) from
    ``staging`` into ``target`` with ``lock.json``, last (stale jsonl removed).

    On S3 each file is one atomic PUT, ``lock.json`` last: a reader checks every file against it.
    """
    names = [*names, *(extra or [])]
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    if isinstance(target, S3Path):
        for old in target.glob("resources.*.jsonl"):
            if old.name not in names:
                old.unlink(missing_ok=True)
        for n in names:
            (target / n).write_bytes((staging / n).read_bytes())
            commit_point("lock file")
        (target / MANIFEST).write_text(text)
        commit_point("lock manifest")
        return
    target.mkdir(parents=True, exist_ok=True)
    (staging / MANIFEST).write_text(text)
    for stale in target.glob("resources.*.jsonl"):
        if stale.name not in names:
            stale.unlink()
    for n in names:
        os.replace(staging / n, target / n)
        commit_point("lock file")
    os.replace(staging / MANIFEST, target / MANIFEST)
    commit_point("lock manifest")


def write_lock_dir(target: AnyPath, files: dict[str, bytes], manifest: dict[str, Any]) -> None:
    """Write ``files`` ({name: bytes}) and ``lock.json`` into ``target`` (see :func:`install_lock_dir`)."""
    staging = _staging_dir(target if isinstance(target, Path) else None, None)
    try:
        for n, b in files.items():
            (staging / n).write_bytes(b)
        install_lock_dir(target, staging, list(files), manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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

    def object_names(self) -> StringList:
        """The distinct object names of the lock, sorted (each line read for its name only; gathered
        and sorted as Arrow strings, whose byte order is the code point order of ``sorted``), kept as
        Arrow strings: a list of str to read, without a Python object per name."""
        import pyarrow.compute as pc

        uniq = pc.unique(line_column(self, "object_name"))
        return StringList(uniq.take(pc.sort_indices(uniq)))

    def ids(self) -> list[tuple[str, str]]:
        """(resource id, object name) of every record, read without parsing whole lines."""
        return [(id_of(line), object_name_of(line)) for _, _, line in self.lines()]

    def lineage(self) -> dict[str, Any]:
        return {
            "lock_hash": self.hash,
            "lake_version": self.lake_version,
            "recipe_hash": self.recipe_hash,
            "recipe": self.recipe,
            "lock_dir": str(self.path),
        }


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


def read_lock(path: str | os.PathLike[str] | S3Path, lake: Lake | None = None, *, verify: bool = True) -> Lock:
    """Open a lock directory (or one of its jsonl files / its lock.json) and check its hash."""
    p = location(path)
    lock_dir = p.parent if p.is_file() else p
    mpath = lock_dir / MANIFEST
    if not mpath.is_file():
        raise LockfileError(
            f"{lock_dir}: no {MANIFEST} (not a lock directory)", hint="Make one with `pinlake datasets lock --file RECIPE.py`."
        )
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
    if verify and lock_digest(lock_dir, files_meta) != manifest["hash"]:  # then find which file differs
        each, digest = hash_lock_files(lock_dir, files_meta)
        for name, sha in files_meta.items():
            if each[name] != sha:
                raise LockfileError(
                    _first_bad_line(lock_dir / name, lake), hint="Lockfiles must not be edited: lock the recipe again instead."
                )
        if digest != manifest["hash"]:
            raise LockfileError(f"{mpath}: hash does not match the lockfiles", hint="Lock the recipe again.")
    return Lock(lock_dir, manifest, splits)


#: the schema of :func:`line_batches`
LINES_SCHEMA = pa.schema([("pos", pa.int64()), ("split", pa.string()), ("lineno", pa.int64()), ("line", pa.string())])
#: bytes of a lock file Arrow's reader parses at a time
LINES_BLOCK = 1 << 20


def split_lines(lock: Lock, split: str) -> Iterator[pa.Array]:
    """The lines of one split file of ``lock`` (:func:`file_lines`)."""
    return file_lines(lock.file(split))


def file_lines(path: AnyPath) -> Iterator[pa.Array]:
    """The lines of a lock file as Arrow string arrays (no newline), split by Arrow's CSV reader (one
    column, no quoting: a canonical line has no raw control character). The reader's block must hold
    a whole line: a line longer than :data:`LINES_BLOCK` makes the file be read again with blocks
    four times larger, from the line it stopped at."""
    import pyarrow.csv as pcsv

    parse = pcsv.ParseOptions(delimiter="\x1f", quote_char=False, escape_char=False)
    convert = pcsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False, quoted_strings_can_be_null=False)
    block, done = LINES_BLOCK, 0
    while True:
        read = pcsv.ReadOptions(column_names=["line"], block_size=block, use_threads=False)
        try:
            with path.open("rb") as fh:
                try:
                    reader = pcsv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert)
                except pa.ArrowInvalid as exc:
                    if "Empty CSV file" in str(exc):  # a split with no line
                        return
                    raise
                skip = done
                for batch in reader:
                    lines = batch.column(0)
                    if skip >= len(lines):
                        skip -= len(lines)
                        continue
                    lines, skip = lines.slice(skip), 0
                    yield lines
                    done += len(lines)
            return
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or block >= 1 << 30:
                raise
            block *= 4


def line_batches(lock: Lock) -> pa.RecordBatchReader:
    """Every line of the lock as (position in the lock, split, line number, line), streamed in
    Arrow batches (:func:`split_lines`): no Python object per line."""

    def batches() -> Iterator[pa.RecordBatch]:
        pos = 0
        for split in lock.splits:
            lineno = 1
            for lines in split_lines(lock, split):
                n = len(lines)
                yield pa.record_batch(
                    [
                        pa.array(np.arange(pos, pos + n, dtype=np.int64)),
                        pa.array([split] * n, pa.string()) if n else pa.array([], pa.string()),
                        pa.array(np.arange(lineno, lineno + n, dtype=np.int64)),
                        lines,
                    ],
                    schema=LINES_SCHEMA,
                )
                pos, lineno = pos + n, lineno + n

    return pa.RecordBatchReader.from_batches(LINES_SCHEMA, batches())


def line_column(lock: Lock, key: str) -> pa.Array:
    """One top-level string field of every lock line (``object_name``, ``id``) as an Arrow array, in
    the lock's order (:func:`check_in_lake` names a line by its position in it): the lines streamed
    (:func:`line_batches`), the field read by DuckDB's JSON reader and streamed out in batches, so
    only the field's values are held. The order is kept by :func:`lines_connection`'s
    ``preserve_insertion_order`` (a projection of a scan keeps its input's order: nothing is sorted)."""
    con = lines_connection()
    try:
        con.register("lines", line_batches(lock))
        reader = con.sql(f"SELECT json_extract_string(line, '$.{key}') AS v FROM lines").to_arrow_reader(LINE_COLUMN_BATCH)
        chunks = [batch.column(0) for batch in reader]
    finally:
        con.close()
    return pa.chunked_array(chunks, pa.string()).combine_chunks()


#: rows of :func:`line_column`'s result DuckDB hands over at a time
LINE_COLUMN_BATCH = 65_536


#: locks of at most this many lines check their ids with an ``IN`` filter, not a scan of the lake
SMALL_LOCK = 1000


def check_in_lake(lock: Lock, lake: Lake) -> None:
    """Every locked resource version must still be in the lake (by id): one columnar check.

    The locked ids are gathered as Arrow strings (the lines are streamed) and looked for
    (:func:`missing_in_lake`). The lines are read again to name the missing resources only when
    some are missing.
    """
    wanted = line_column(lock, "id")
    at = missing_in_lake(wanted, lake)
    if at:
        not_in_lake(lock, lake, [f"{object_name_of(line)} (id {id_of(line)})" for k, (_, _, line) in enumerate(lock.lines()) if k in at])


def missing_in_lake(wanted: pa.Array, lake: Lake) -> set[int]:
    """The positions of the ids of ``wanted`` that no lake row has: up to :data:`SMALL_LOCK` of them
    are looked up by an ``id IN`` filter, more are anti-joined in DuckDB (within
    :data:`LOCK_MEMORY`, spilling beyond) to a streamed scan of the lake's ids."""
    if not len(wanted):
        return set()
    if len(wanted) <= SMALL_LOCK:  # a few ids: read those rows only
        ds = lake.store.open_or_none("data")
        asked = sorted(set(wanted.to_pylist()))
        present = set() if ds is None else set(ds.to_table(columns=["id"], filter=sql_in("id", asked)).column("id").to_pylist())
        return {k for k, i in enumerate(wanted.to_pylist()) if i not in present}
    with spilling_duckdb("pinlake-check-") as con:
        con.register("w", pa.table({"id": wanted, "pos": pa.array(np.arange(len(wanted), dtype=np.int64))}))
        con.register("l", lake.key_scan(["id"]))
        return {pos for (pos,) in con.execute("SELECT w.pos FROM w ANTI JOIN l ON w.id = l.id").fetchall()}


def not_in_lake(lock: Lock, lake: Lake, missing: list[str]) -> None:
    """Raise the LockfileError naming the locked resources (``name (id …)``) the lake lacks."""
    shown = ", ".join(missing[:20]) + (f" … and {len(missing) - 20} more" if len(missing) > 20 else "")
    raise LockfileError(
        f"lock {lock.path} names {len(missing)} resource(s) no longer in the lake at {lake.root}: {shown}",
        hint="Lock the recipe again against the current lake, or point at the lake it was locked from.",
    )


__all__ = [
    "LOCK_KEYS",
    "Lock",
    "LockResult",
    "lock_recipe",
    "read_lock",
    "check_in_lake",
    "missing_in_lake",
    "lake_location",
    "content_hash",
    "hash_lock_files",
    "write_lock_files",
    "resource_file",
    "dump_line",
    "object_name_of",
    "id_of",
]
