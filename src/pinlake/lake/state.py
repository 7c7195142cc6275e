"""The ingest state cache: which local files were already hashed, so unchanged ones are not re-read.

Like DVC's state database, a file is known when its absolute path, inode, size and modification
time (ns) are those recorded when it was last hashed: its sha256 is then taken from the cache and
the file is not read. A file whose bytes changed while size and mtime were restored is therefore
not noticed (touch it, or pass ``use_state=False``, to force a re-read). The cache is a SQLite file
next to the lake (``<lake>/.state.db``) or, for a remote lake, under ``$PINLAKE_STATE_DIR``
(default ``~/.cache/pinlake``). It is only a cache: deleting it costs one full re-hash.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

CHUNK = 500  # paths per IN-list query (SQLite's variable limit is 32766; keep statements small)
#: a lookup first reads the key range of its paths (one index range scan: the paths of a folder
#: walk's batch lie together) and stops after this many rows a path asked; past that, IN lists
RANGE_ROWS_PER_PATH = 4


def state_path(lake_root: str, remote: bool) -> Path:
    if not remote:
        return Path(lake_root) / ".state.db"
    base = Path(os.environ.get("PINLAKE_STATE_DIR") or Path.home() / ".cache" / "pinlake")
    return base / "state.db"


class StateCache:
    """``lookup(keys)`` → {path: sha256} for files whose (inode, size, mtime_ns) still match; ``record``.

    One connection serves the calls of one ingest (from the thread that made it); ``close`` ends
    it. Any SQLite error makes a lookup find nothing and a record write nothing (a cache)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=60)
            con.execute(
                "CREATE TABLE IF NOT EXISTS state (path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER, sha256 TEXT)"
            )
            self._con = con
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def lookup(self, keys: dict[str, tuple[int, int, int]]) -> dict[str, str]:
        """{path: sha256} of those ``keys`` (path → (inode, size, mtime_ns)) recorded with the same stat."""
        if not keys or not self.path.is_file():
            return {}
        out: dict[str, str] = {}
        try:
            con = self._connect()
            limit = RANGE_ROWS_PER_PATH * len(keys) + 1
            q = "SELECT path, inode, size, mtime_ns, sha256 FROM state WHERE path BETWEEN ? AND ? LIMIT ?"
            rows = con.execute(q, (min(keys), max(keys), limit)).fetchall()
            if len(rows) == limit:  # the paths are spread among others: ask for them by name
                paths = list(keys)
                rows = []
                for s in range(0, len(paths), CHUNK):
                    part = paths[s : s + CHUNK]
                    q = f"SELECT path, inode, size, mtime_ns, sha256 FROM state WHERE path IN ({','.join('?' * len(part))})"
                    rows += con.execute(q, part).fetchall()
        except sqlite3.Error:
            return {}
        for path, inode, size, mtime_ns, sha in rows:
            if keys.get(path) == (inode, size, mtime_ns):
                out[path] = sha
        return out

    def record(self, rows: Iterable[tuple[str, int, int, int, str]]) -> None:
        """Remember (path, inode, size, mtime_ns, sha256) of files just hashed."""
        rows = list(rows)
        if not rows:
            return
        try:
            con = self._connect()
            with con:
                con.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            pass  # a cache: failing to write it only costs a re-hash next time
