"""Dataset versions: find a dataset, list its versions, resolve a number, tag or lock hash.

Every function reads the dataset's version log; nothing here rewrites history.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pinlake.catalog.store import Catalog
from pinlake.datasets.tables import table_uri
from pinlake.datasets.versions import DatasetVersion, VersionLog
from pinlake.errors import NotFoundError
from pinlake.layout import is_library
from pinlake.library.connection import Library
from pinlake.storage import AnyPath, lance_dataset, location
from pinlake.util.sqltext import sql_str

TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


# --- locating -----------------------------------------------------------------------
def dataset_path(name_or_path: str | AnyPath, library: str | os.PathLike[str] | AnyPath | None = None) -> AnyPath:
    """The directory of a dataset given its name in ``library`` (or a path to it)."""
    p = location(name_or_path)
    if (p / "_versions.lance" / "_versions").is_dir():
        return p
    lib = Library(library)
    if str(name_or_path) not in lib.dataset_names():
        raise lib.not_found(str(name_or_path))
    return lib.path / str(name_or_path)


def library_of(path: AnyPath) -> AnyPath | None:
    """The library holding the dataset at ``path`` (None if it lives outside a library)."""
    return path.parent if is_library(path.parent) else None


# --- channels ---------------------------------------------------------------------------
#: the pin word for the newest built version (never a tag or channel name)
LATEST = "latest"


@dataclass
class ChannelState:
    """A dataset's channels, from its rows of ``catalog.publications`` (oldest first).

    ``channel``: the channel a refresh gates it on now (None: ungated, every version is served);
    ``published``: each channel's version; ``decisions``: each audited version's last verdict
    (``published`` or ``quarantined``, with the blocking checks); ``gated_at``: when the current
    channel started gating (versions built since without a verdict are candidates).
    """

    channel: str | None = None
    gated_at: datetime | None = None
    published: dict[str, int] = field(default_factory=dict)
    decisions: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: every channel the dataset has been gated or published on: only ``published`` resolves them
    channels: set[str] = field(default_factory=set)
    #: the highest event number so far (the next event takes ``seq + 1``)
    seq: int = 0

    def status(self, entry: DatasetVersion) -> str:
        """``published``, ``quarantined``, ``candidate`` or "" (built while no channel gated it)."""
        decision = self.decisions.get(entry.dataset_version)
        if decision is not None:
            return str(decision["event"])
        if self.channel is not None and self.gated_at is not None and entry.created_at >= self.gated_at:
            return "candidate"
        return ""


def channel_state(path: AnyPath) -> ChannelState:
    """The channels of the dataset at ``path`` (empty outside a library)."""
    lib = library_of(path)
    if lib is None:
        return ChannelState()
    rows = Catalog(lib).read("publications", filter=f"dataset = {sql_str(path.name)}").to_pylist()
    return fold_publications(rows)


def channel_states(library_path: AnyPath) -> dict[str, ChannelState]:
    """:func:`channel_state` of every dataset of a library, from one read of the catalog."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for r in Catalog(library_path).read("publications").to_pylist():
        by_dataset.setdefault(r["dataset"], []).append(r)
    return {name: fold_publications(rows) for name, rows in by_dataset.items()}


def fold_publications(rows: list[dict[str, Any]]) -> ChannelState:
    """One dataset's ``catalog.publications`` rows, replayed in order, as its channel state."""
    state = ChannelState()
    for r in sorted(rows, key=lambda r: r["seq"]):  # numbered under the catalog lock: machines' clocks do not order them
        event, channel = r["event"], r["channel"]
        state.seq = max(state.seq, int(r["seq"]))
        if channel:
            state.channels.add(channel)
        if event == "gated":
            if state.channel != channel:
                state.gated_at = r["decided_at"]
            state.channel = channel
        elif event == "ungated":
            state.channel, state.gated_at = None, None
        else:
            version = int(r["dataset_version"])
            failed = json.loads(r["failed"] or "[]")
            state.decisions[version] = {**r, "failed": failed}
            if event == "published":
                state.published[channel] = version
    return state


# --- resolving --------------------------------------------------------------------------
def tags_of(path: AnyPath, entries: list[DatasetVersion] | None = None, channels: ChannelState | None = None) -> dict[str, int]:
    """``{tag: dataset_version}``: channels (their published version), then tags from the catalog,
    else from the Lance tags on the tables.

    ``entries``, ``channels``: the version log and :func:`channel_state` when the caller has already read them.
    """
    lib = library_of(path)
    out: dict[str, int] = {}
    state = ChannelState()
    if lib is not None:
        data = Catalog(lib).read("tags", filter=f"dataset = {sql_str(path.name)}", columns=["name", "dataset_version"])
        out.update(zip(data.column("name").to_pylist(), data.column("dataset_version").to_pylist()))
        state = channels if channels is not None else channel_state(path)
        out.update(state.published)
    if entries is None:
        entries = VersionLog(path).entries()
    lance_tags: dict[str, dict[str, int]] = {}
    db = path / "db"
    table_dirs: list[AnyPath] = sorted(db.iterdir()) if db.is_dir() else []
    for table_dir in table_dirs:
        if table_dir.name.endswith(".lance"):
            for name, t in lance_dataset(str(table_dir)).tags.list().items():
                if not name.startswith("pinlake-keep-"):
                    lance_tags.setdefault(name, {})[table_dir.name[:-6]] = t["version"]
    for name, tables in lance_tags.items():
        if name in out:
            continue
        for e in reversed(entries):
            if all(e.tables.get(t) == v for t, v in tables.items()):
                out[name] = e.dataset_version
                break
    for channel in state.channels - set(state.published):  # a channel resolves to its published version, or not at all
        out.pop(channel, None)
    return out


def resolve(path: AnyPath, version: int | str | None = None, *, tag: str | None = None, lock: str | None = None) -> DatasetVersion:
    """The dataset version named by a number, a tag or a lock hash (default: the latest)."""
    log = VersionLog(path)
    entries = log.entries()
    if not entries:
        raise NotFoundError(f"dataset {path.name!r} has no committed version", hint="Build it first.")
    by_number = {e.dataset_version: e for e in entries}

    def get(number: int) -> DatasetVersion:
        return by_number[number] if number in by_number else log.get(number)  # log.get raises NotFoundError

    if version == LATEST or tag == LATEST:
        return entries[-1]
    if isinstance(version, str):
        if version.isdigit():
            version = int(version)
        elif version.startswith("lock:"):
            lock, version = version[5:], None
        else:
            tag, version = version, None
    if version is not None:
        return get(int(version))
    tags: dict[str, int] | None = None
    if tag is not None:
        tags = tags_of(path, entries)
        if tag in tags:
            return get(tags[tag])
        if re.fullmatch(r"[0-9a-f]{6,64}", tag) and lock is None:
            lock = tag
        else:
            raise NotFoundError(
                f"dataset {path.name!r} has no tag {tag!r}",
                hint=f"Tags: {', '.join(sorted(tags)) or 'none'}; versions 1..{entries[-1].dataset_version}.",
            )
    if lock is not None:
        for e in reversed(entries):
            if e.lock_hash and e.lock_hash.startswith(lock):
                return e
        locks = sorted({e.lock_hash[:12] for e in entries if e.lock_hash})
        tags = tags if tags is not None else tags_of(path, entries)
        raise NotFoundError(
            f"dataset {path.name!r} has no version built from lock {lock!r}",
            hint=f"Locks built: {', '.join(locks) or 'none'}; tags: {', '.join(sorted(tags)) or 'none'}.",
        )
    return entries[-1]


def resolve_read(path: AnyPath, spec: int | str | None = None) -> DatasetVersion:
    """The version a reader gets for ``name@spec``: as :func:`resolve`, except that a bare name
    (``spec`` None) of a dataset gated on a channel is the channel's published version, never an
    unchecked one (``name@latest`` is the newest built version)."""
    if spec is None:
        state = channel_state(path)
        if state.channel is not None:
            if state.channel not in state.published:
                raise NotFoundError(
                    f"dataset {path.name!r} has no version published on its channel {state.channel!r} yet",
                    hint=f"Read the newest built version with {path.name}@latest; `pinlake versions {path.name}` shows why.",
                )
            return resolve(path, state.published[state.channel])
    return resolve(path, spec)


def missing_tables(entry: DatasetVersion, path: AnyPath) -> list[str]:
    """Tables of ``entry`` whose Lance version no longer exists (removed by cleanup)."""
    out = []
    for table, v in entry.tables.items():
        try:
            lance_dataset(table_uri(path, table), version=v)
        except (ValueError, OSError):
            out.append(f"{table}@{v}")
    return out


def list_versions(path: AnyPath) -> list[dict[str, Any]]:
    """Every dataset version with its tags, who made it (``user``: its ``pinlake.user``) and whether it
    still reads (not cleaned up)."""
    entries = VersionLog(path).entries()
    tags = tags_of(path, entries)
    by_version: dict[int, list[str]] = {}
    for name, v in tags.items():
        by_version.setdefault(v, []).append(name)
    existing = {}
    for table_dir in (path / "db").iterdir():
        if table_dir.name.endswith(".lance"):
            existing[table_dir.name[:-6]] = {int(v["version"]) for v in lance_dataset(str(table_dir)).versions()}
    channels = channel_state(path)
    out = []
    for e in entries:
        d = e.to_dict()
        d["lock_hash"], d["run_id"] = e.lock_hash, e.run_id
        d["user"] = e.lineage.get("pinlake.user", "")
        d["tags"] = sorted(by_version.get(e.dataset_version, []))
        d["available"] = all(v in existing.get(t, set()) for t, v in e.tables.items())
        d["status"] = channels.status(e)
        d["failed_checks"] = channels.decisions.get(e.dataset_version, {}).get("failed", [])
        out.append(d)
    return out


def latest_entry(lib: Library, name: str) -> Any:
    """The dataset's latest version entry, or None when it has none yet (absent, or its first build
    is still running in another process)."""
    log = VersionLog(lib.dataset_path(name))
    return log.latest() if log.exists() else None
