"""Media urls and the files they name: nothing read or served may leave its media root.

Contract:
- ``check_url(url)`` is the write-time rule for a view url. It accepts ``""``, any url with a scheme
  (``lake://<sha256>``, ``s3://…``, ``http://…``) and a relative path (an optional leading ``/``)
  whose segments are neither ``..`` nor ``.``, with no backslash, NUL or newline. Anything else
  raises ``ValueError`` with a message that says why.
- ``inside(root, rel)`` is the read-time rule: the real path of ``root/rel`` after every symlink,
  if it is a regular file inside the real path of ``root``, else None. A url that passed
  ``check_url`` can still be refused here (a symlink inside the root that points out of it).
- ``files_inside(root, rels)`` gives ``inside(root, rel) is not None`` for many names at once: one
  ``lstat`` per name and per folder, and the full resolution only for a name with a link on its way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

_BAD_CHARS = ("\\", "\x00", "\n", "\r")


def url_problem(url: str) -> str | None:
    """Why ``url`` may not name a view's media, or None when it may."""
    if not url or "://" in url:
        return None
    bad = next((c for c in _BAD_CHARS if c in url), None)
    if bad is not None:
        return f"contains {bad!r}"
    if any(part in ("..", ".") for part in url.lstrip("/").split("/")):
        return "has a '..' or '.' segment (it would leave the media directory)"
    return None


def url_error(url: str) -> str:
    """The message for a url that ``url_problem`` refuses."""
    return f"media url {url!r} {url_problem(url)}; use a path relative to the media directory"


def check_url(url: str) -> str:
    """``url`` itself when it is a valid view url, else ``ValueError`` naming the problem."""
    if url_problem(url) is not None:
        raise ValueError(url_error(url))
    return url


def first_bad_url(urls: pa.Array | pa.ChunkedArray) -> int | None:
    """Index of the first url of an Arrow string column that ``check_url`` refuses, or None (columnar)."""
    import pyarrow.compute as pc

    relative = pc.invert(pc.match_substring(urls, "://"))
    bad = pc.or_(
        pc.match_substring_regex(urls, r"(^|/)\.\.?(/|$)"),
        pc.match_substring_regex(urls, r"[\\\x00\n\r]"),
    )
    hits = pc.indices_nonzero(pc.fill_null(pc.and_(relative, bad), False))
    return hits[0].as_py() if len(hits) else None


def inside(root: str | Path, rel: str) -> Path | None:
    """The regular file ``root/rel`` resolved through symlinks, if it stays inside ``root``; else None."""
    rel = rel.lstrip("/")
    if not rel or url_problem(rel) is not None:
        return None
    try:
        base = Path(root).resolve(strict=True)
        target = (base / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def files_inside(root: str | Path, rels: Iterable[str]) -> list[bool]:
    """Per name, whether :func:`inside` finds it: a regular file inside ``root`` after every symlink.

    ``root`` is resolved once; a name whose folders are plain folders (checked once per folder,
    without following links) and which is itself a plain regular file is inside, since it has no
    ``..`` or ``.`` segment (``url_problem``); a name with a link on its way gets :func:`inside`.
    """
    try:
        base = str(Path(root).resolve(strict=True))
    except (OSError, RuntimeError):
        return [False for _ in rels]
    plain: dict[str, bool] = {"": True}

    def plain_folder(folder: str) -> bool:
        known = plain.get(folder)
        if known is None:
            parent = folder.rpartition("/")[0]
            try:
                known = plain_folder(parent) and stat.S_ISDIR(os.lstat(os.path.join(base, folder)).st_mode)
            except OSError:
                known = False
            plain[folder] = known
        return known

    out = []
    for rel in rels:
        name = rel.lstrip("/")
        if not name or url_problem(name) is not None:
            out.append(False)
            continue
        if plain_folder(name.rpartition("/")[0]):
            try:
                mode = os.lstat(os.path.join(base, name)).st_mode
            except OSError:
                out.append(False)
                continue
            if not stat.S_ISLNK(mode):
                out.append(stat.S_ISREG(mode))
                continue
        out.append(inside(base, name) is not None)
    return out


__all__ = ["url_problem", "check_url", "url_error", "first_bad_url", "inside", "files_inside"]
