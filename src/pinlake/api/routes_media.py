"""Media files under MEDIA_DIR (``/media/{path}``) and lake objects (``/objects/{sha256}``)."""

from __future__ import annotations

import json
import mimetypes
import re
from pathlib import Path as FsPath
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response

from pinlake.api.deps import ApiError, ApiState, get_state, lake_object
from pinlake.library.connection import Library
from pinlake.util.mediapath import inside
from pinlake.util.mediatype import HEAD_BYTES, sniff

router = APIRouter(tags=["media"])

mimetypes.add_type("image/tiff", ".tif")
mimetypes.add_type("image/webp", ".webp")
mimetypes.add_type("application/dicom", ".dcm")


def guess_type(data: bytes | None, name: str = "") -> str:
    """The media type of ``data`` from its bytes (pinlake.util.mediatype), else from ``name``'s extension."""
    found = sniff(data[:HEAD_BYTES]) if data else None
    if found:
        return found
    mt, _ = mimetypes.guess_type(name) if name else (None, None)
    return mt or "application/octet-stream"


def media_roots(state: ApiState) -> list[tuple[str, FsPath]]:
    """(url prefix, directory) pairs /media serves from: MEDIA_DIR, else each dataset's media root."""
    if state.media_dir is not None:
        return [("", FsPath(state.media_dir))]

    cache: dict[str, tuple[float, tuple[str, FsPath] | None]] = state.extra.setdefault("media_roots", {})
    roots: list[tuple[str, FsPath]] = []
    for name in Library(state.library).dataset_names():
        info = state.library / name / "info.json"
        try:
            stamp = info.stat().st_mtime
            if name not in cache or cache[name][0] != stamp:  # read info.json again only when it changed
                media = json.loads(info.read_text()).get("media") or {}
                root = ((media.get("url_prefix") or "").strip("/"), FsPath(media["root"])) if media.get("root") else None
                cache[name] = (stamp, root)
        except (OSError, ValueError):
            continue
        cached = cache[name][1]
        if cached is not None:
            roots.append(cached)
    return roots


def safe_file(root: FsPath, rel: str) -> FsPath | None:
    """``root/rel`` if it is a regular file inside ``root`` (after symlinks), else None."""
    if not rel or rel.startswith("/"):
        return None
    return inside(root, rel)


def _not_found(path: str) -> ApiError:
    return ApiError(404, f"no media file {path!r}")


@router.get("/media/{path:path}", summary="A file under the media directory (Range, ETag)")
def media(request: Request, path: str = Path(..., max_length=2048)) -> Response:
    state = get_state(request)
    # the path arrives decoded once; refuse anything that still decodes further (double encoding)
    if unquote(path) != path or re.search(r"(^|/)\.\.?(/|$)", request.url.path):
        raise _not_found(path)
    for prefix, root in media_roots(state):
        rel = path
        if prefix:
            if not path.startswith(prefix + "/"):
                continue
            rel = path[len(prefix) + 1 :]
        target = safe_file(root, rel)
        if target is not None and request.query_params.get("as") == "png" and target.suffix.lower() in (".tif", ".tiff", ".bmp", ".dcm"):
            return _as_png(request, target)
        if target is not None:
            resp = FileResponse(
                target,
                media_type=guess_type(None, target.name),
                stat_result=target.stat(),
                headers={"Cache-Control": "public, max-age=3600"},
            )
            etag = resp.headers.get("etag")
            if etag and _not_modified(request, etag):
                return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "public, max-age=3600"})
            return resp
    raise _not_found(path)


def _as_png(request: Request, target: FsPath) -> Response:
    """A browser-displayable PNG of an image browsers cannot show (TIFF, BMP), for the page's thumbnails."""
    import io

    from PIL import Image as PILImage

    try:
        with PILImage.open(target) as im:
            buf = io.BytesIO()
            im.convert("RGB").save(buf, format="PNG")
    except (OSError, ValueError):
        raise ApiError(404, f"media file {target.name!r} is not an image Pillow reads") from None
    st = target.stat()
    return bytes_response(request, buf.getvalue(), "image/png", f"png-{st.st_mtime_ns:x}-{st.st_size:x}")


def _not_modified(request: Request, etag: str) -> bool:
    """The request's If-None-Match names ``etag`` (or is ``*``)."""
    inm = request.headers.get("if-none-match")
    if not inm:
        return False
    return inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def bytes_response(request: Request, data: bytes, media_type: str, etag: str) -> Response:
    """``data`` with an ETag, If-None-Match (304) and a single-range ``Range`` (206/416)."""
    tag = f'"{etag}"'
    headers: dict[str, Any] = {"ETag": tag, "Accept-Ranges": "bytes", "Cache-Control": "public, max-age=3600"}
    if _not_modified(request, tag):
        return Response(status_code=304, headers=headers)
    size = len(data)
    rng = request.headers.get("range")
    if rng:
        m = _RANGE.match(rng.strip())
        if_range = request.headers.get("if-range")
        if m and (not if_range or if_range.strip() == tag) and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start, end = max(size - int(m.group(2)), 0), size - 1
            if start >= size or start > end:
                return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return Response(data[start : end + 1], status_code=206, media_type=media_type, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


@router.get("/objects/{sha256}", summary="A lake object by its sha256 (Range, ETag)")
def lake_object_route(request: Request, sha256: str = Path(..., pattern=r"^[0-9a-fA-F]{64}$")) -> Response:
    data = lake_object(get_state(request), sha256.lower())
    return bytes_response(request, data, guess_type(data), sha256.lower())
