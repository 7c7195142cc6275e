"""/media and /objects: content types, ETag, Range, and paths that try to leave MEDIA_DIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from api_client import make_client

IMG = "/media/health_images/train/mri-train-000.jpg"


def test_media_type_etag_and_range(client, demo_root: Path):
    full = client.get(IMG)
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    data = (demo_root / "assets/health_images/train/mri-train-000.jpg").read_bytes()
    assert full.content == data
    etag = full.headers["etag"]
    assert etag and full.headers.get("accept-ranges") == "bytes"
    part = client.get(IMG, headers={"Range": "bytes=2-11"})
    assert part.status_code == 206 and part.content == data[2:12]
    assert part.headers["content-range"] == f"bytes 2-11/{len(data)}"
    again = client.get(IMG, headers={"If-None-Match": etag})
    assert again.status_code == 304
    png = client.get("/media/health_images/train/microscope-train-001.png")
    assert png.headers["content-type"] == "image/png"
    tif = client.get("/media/health_images/train/dermatology-train-003.tif")
    assert tif.headers["content-type"] == "image/tiff"
    png_of_tif = client.get("/media/health_images/train/dermatology-train-003.tif?as=png")
    assert png_of_tif.headers["content-type"] == "image/png" and png_of_tif.content[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "path",
    [
        "/media/../library/health_images/info.json",
        "/media/health_images/../../library/health_images/info.json",
        "/media/%2e%2e/library/health_images/info.json",
        "/media/health_images/%2e%2e/%2e%2e/library/health_images/info.json",
        "/media/%252e%252e/library/health_images/info.json",
        "/media/..%2flibrary%2fhealth_images%2finfo.json",
        "/media//etc/passwd",
        "/media/%2fetc%2fpasswd",
        "/media/health_images\\..\\..\\library\\health_images\\info.json",
        "/media/health_images/train",
        "/media/health_images/nope.jpg",
        "/media/",
        "/media/health_images/%00.jpg",
    ],
)
def test_media_refuses_paths_outside(client, path):
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert r.json()["error"]


def test_raw_dotdot_over_real_socket_is_refused(client):
    # httpx normalises '..' away; send the raw request target through the ASGI app directly
    import anyio

    app = client.app
    sent: list[dict] = []

    async def run() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/media/health_images/../../library/health_images/info.json",
            "raw_path": b"/media/health_images/../../library/health_images/info.json",
            "query_string": b"",
            "headers": [],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("t", 80),
            "client": ("c", 1),
            "root_path": "",
            "app": app,
        }

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)

    anyio.run(run)
    assert sent[0]["status"] == 404


def test_symlink_out_of_media_dir(demo: Path):
    secret = demo / "secret.txt"
    secret.write_text("secret")
    os.symlink(secret, demo / "assets/health_images/leak.txt")
    os.symlink(demo / "library", demo / "assets/lib")
    c = make_client(demo)
    assert c.get("/media/health_images/leak.txt").status_code == 404
    assert c.get("/media/lib/health_images/info.json").status_code == 404
    inside = demo / "assets/health_images/alias.jpg"
    os.symlink(demo / "assets/health_images/train/mri-train-000.jpg", inside)
    assert c.get("/media/health_images/alias.jpg").status_code == 200


def test_media_without_media_dir_uses_dataset_roots(demo_root: Path):
    from fastapi.testclient import TestClient

    from pinlake.api.app import create_app

    c = TestClient(create_app(demo_root / "library"))
    assert c.get(IMG).status_code == 200
    assert c.get("/media/other/train/mri-train-000.jpg").status_code == 404


def test_objects_bad_sha(client):
    assert client.get("/objects/not-a-sha").status_code == 422
    r = client.get("/objects/" + "0" * 64)
    assert r.status_code == 404 and r.json()["error"]


def test_objects_from_lake(demo: Path):
    from pinlake.library import Library

    lake = Library(demo / "library").get_datalake()
    src = demo / "assets/health_images/train/microscope-train-001.png"
    lake.upload_data([src])
    data = src.read_bytes()
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    c = make_client(demo)
    r = c.get(f"/objects/{sha}")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "image/png" and r.headers["etag"] == f'"{sha}"'
    assert c.get(f"/objects/{sha}", headers={"Range": "bytes=0-3"}).content == data[:4]
    assert c.get(f"/objects/{sha}", headers={"If-None-Match": f'"{sha}"'}).status_code == 304
    assert c.get(f"/objects/{sha}", headers={"Range": f"bytes={len(data)}-"}).status_code == 416


# --- view urls that leave the media directory (GET /views/{ds}/{table}/{id}/media, Dataset.read_media) ----------
ESCAPES = ["/../secret.txt", "/health_images/../../secret.txt", "/../../../../etc/passwd", "/health_images/train/link.jpg"]


def _plant_urls(root: Path, urls: list[str]) -> list[str]:
    """Point the first views of health_images at ``urls`` behind pinlake's back (straight into Lance, then a
    log entry), as a dataset written by hand or by an older pinlake could; returns the view ids."""
    import lance

    from pinlake.datasets.versions import VersionLog
    from pinlake.util.sqltext import sql_str

    path = root / "library" / "health_images"
    log = VersionLog(path)
    state = log.latest()
    table = lance.dataset(str(path / "db" / "image.lance"), version=state.tables["image"])
    ids = table.to_table(columns=["id"], limit=len(urls)).column("id").to_pylist()
    for view_id, url in zip(ids, urls):
        table.update({"url": sql_str(url)}, where=f"id = {sql_str(view_id)}")
    with log.locked():
        log.append("plant", {**state.tables, "image": table.version}, state.rows, {})
    return ids


def test_view_media_refuses_urls_that_leave_the_media_dir(demo: Path):
    (demo / "secret.txt").write_text("SECRET")
    (demo / "assets/health_images/train/link.jpg").symlink_to(demo / "secret.txt")
    ids = _plant_urls(demo, ESCAPES)
    client = make_client(demo)  # no token: a read
    for view_id, url in zip(ids, ESCAPES):
        r = client.get(f"/views/health_images/image/{view_id}/media")
        assert r.status_code == 404, (url, r.status_code)
        assert b"SECRET" not in r.content and b"root:" not in r.content
    from pinlake.datasets import Dataset
    from pinlake.errors import NotFoundError

    ds = Dataset(demo / "library/health_images", media_dir=demo / "assets")
    for view in ds.get_data("image", ids=ids):
        with pytest.raises(NotFoundError):
            ds.read_media(view)
    # the dataset's own media root (no media_dir given) refuses them too
    own = Dataset(demo / "library/health_images")
    for view in own.get_data("image", ids=ids):
        with pytest.raises(NotFoundError):
            own.read_media(view)


@pytest.mark.parametrize("url", ["/../secret.txt", "/ds/../../secret.txt", "a/./b.jpg", "a\\..\\b.jpg", "x\n.jpg"])
def test_urls_that_leave_the_media_dir_are_refused_at_write_time(demo: Path, url: str):
    from pinlake.datasets import Dataset
    from pinlake.errors import ValidationError

    ds = Dataset(demo / "library/health_images")
    before = ds.version
    view = ds.get_data("image", limit=1)[0]
    with pytest.raises(ValidationError, match="url"):
        ds.update_data("image", [{**view.model_dump(), "url": url}])
    with pytest.raises(ValueError, match="url"):
        view.url = url  # assignment is validated
    built = type(view).model_construct(**{**view.__dict__, "url": url})  # a model that skipped validation
    with pytest.raises(ValidationError, match="row 0: field 'url'"):
        ds.update_data("image", [built])
    assert Dataset(demo / "library/health_images").version == before
    writer = make_client(demo, token="t")
    row = {k: v for k, v in view.model_dump(mode="json").items() if k not in ("content",)}
    r = writer.put("/views/health_images/image/", json=[{**row, "url": url}], headers={"Authorization": "Bearer t"})
    assert r.status_code == 422, r.text
    assert Dataset(demo / "library/health_images").version == before
