"""Writes: token required, bodies validated (422 names the field), each write a new dataset version."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_client import AUTH, TOKEN, make_client

DS = "health_images"


def test_writes_refused_without_configured_token(client):
    for method, url in (("POST", f"/entities/{DS}/objects/"), ("PUT", f"/views/{DS}/image/"), ("POST", f"/items/{DS}/")):
        r = client.request(method, url, json=[{}], headers=AUTH)
        assert r.status_code == 401 and "token" in r.json()["error"]
    assert client.delete(f"/items/{DS}/?ids=x", headers=AUTH).status_code == 401


def test_writes_refused_with_wrong_or_missing_token(writer):
    assert writer.post(f"/entities/{DS}/objects/", json=[{}]).status_code == 401
    r = writer.post(f"/entities/{DS}/objects/", json=[{}], headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_token_from_environment(demo: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PINLAKE_API_TOKEN", TOKEN)
    c = make_client(demo)
    item = c.get(f"/items/{DS}/?limit=1").json()["items"][0]
    r = c.delete(f"/items/{DS}/?ids={item['id']}", headers=AUTH)
    assert r.status_code == 200 and r.json()["dataset_version"] == 2


def test_row_crud_makes_versions(writer):
    item = writer.get(f"/items/{DS}/?limit=1").json()["items"][0]
    view_id = item["views"]["image"]["id"]
    new = {"data": {"item_ref": {"name": "item", "id": item["id"]}, "view_ref": {"name": "image", "id": view_id}, "category": "heart"}}
    r = writer.post(f"/entities/{DS}/objects/", json=[new], headers=AUTH)
    assert r.status_code == 201, r.text
    (new_id,) = r.json()["ids"]
    assert r.json()["dataset_version"] == 2
    row = writer.get(f"/entities/{DS}/objects/{new_id}").json()
    assert row["data"]["category"] == "heart"
    # PUT in the shape GET returns
    row["data"]["category"] = "lung"
    r = writer.put(f"/entities/{DS}/objects/", json=[row], headers=AUTH)
    assert r.status_code == 200 and r.json()["dataset_version"] == 3
    assert writer.get(f"/entities/{DS}/objects/{new_id}").json()["data"]["category"] == "lung"
    assert writer.get(f"/entities/{DS}/objects/{new_id}?version=2").json()["data"]["category"] == "heart"
    r = writer.delete(f"/entities/{DS}/objects/?ids={new_id}", headers=AUTH)
    assert r.status_code == 200 and r.json() == {"ids": [new_id], "dataset_version": 4}
    assert writer.get(f"/entities/{DS}/objects/{new_id}").status_code == 404
    assert writer.get(f"/entities/{DS}/objects/{new_id}?version=3").status_code == 200
    versions = writer.get(f"/datasets/{DS}/versions").json()
    assert [v["dataset_version"] for v in versions] == [1, 2, 3, 4]
    assert writer.delete(f"/entities/{DS}/objects/?ids=nope", headers=AUTH).status_code == 404


def test_bad_bodies_are_422_naming_the_field(writer):
    bbox = writer.get(f"/annotations/{DS}/bbox/?limit=1").json()[0]
    bad = dict(bbox, data={**bbox["data"], "coords": [1, 2, 3]})
    r = writer.put(f"/annotations/{DS}/bbox/", json=[bad], headers=AUTH)
    assert r.status_code == 422 and "coords" in r.json()["error"]
    assert r.json()["detail"][0]["loc"] == ["body", 0, "coords"]
    r = writer.post(f"/annotations/{DS}/bbox/", json=[{"data": {"coords": "x"}}], headers=AUTH)
    assert r.status_code == 422 and "coords" in r.json()["error"]
    r = writer.post(f"/entities/{DS}/objects/", json=[{"data": {"category": "x", "colour": "red"}}], headers=AUTH)
    assert r.status_code == 422 and "colour" in r.json()["error"]
    r = writer.put(f"/entities/{DS}/objects/", json=[{"data": {"category": "x"}}], headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", 0, "id"]
    r = writer.post(f"/entities/{DS}/objects/", content=b"{not json", headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]
    assert writer.post(f"/entities/{DS}/objects/", json=[], headers=AUTH).status_code == 422
    assert writer.post(f"/entities/{DS}/objects/", json=[1], headers=AUTH).status_code == 422
    # a reference to a missing item is refused by the engine
    r = writer.post(
        f"/entities/{DS}/objects/", json=[{"data": {"item_ref": {"name": "item", "id": "ghost"}, "category": "x"}}], headers=AUTH
    )
    assert r.status_code == 422 and "ghost" in r.json()["error"]  # a ValidationError: the item_ref is invalid
    assert writer.post(f"/sources/{DS}/source/", json=[{}], headers=AUTH).status_code == 405
    assert [v["dataset_version"] for v in writer.get(f"/datasets/{DS}/versions").json()] == [1]


def test_body_size_limit(demo: Path):
    c = make_client(demo, token=TOKEN, max_body_bytes=1000)
    r = c.post(f"/entities/{DS}/objects/", content=b"[" + b" " * 2000 + b"]", headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413


def test_item_crud_and_old_version_still_readable(writer):
    page = writer.get(f"/items/{DS}/?limit=5&split=train").json()
    ids = [it["id"] for it in page["items"][:4]]
    r = writer.delete(f"/items/{DS}/", params={"ids": ids}, headers=AUTH)
    assert r.status_code == 200 and sorted(r.json()["ids"]) == sorted(ids) and r.json()["dataset_version"] == 2
    assert writer.get(f"/items/{DS}/").json()["total"] == 28
    assert writer.get(f"/items/{DS}/?version=1").json()["total"] == 32
    assert writer.get(f"/items/{DS}/{ids[0]}").status_code == 404
    assert writer.get(f"/items/{DS}/{ids[0]}?version=1").status_code == 200
    # add an item back (flat DatasetItem shape) with its view
    new = {
        "split": "train",
        "image_type": "xray",
        "image": {"url": "/health_images/train/xray-train-002.jpg", "width": 256, "height": 256, "format": "JPEG"},
        "objects": [],
        "bbox": [],
        "keypoints": [],
    }
    r = writer.post(f"/items/{DS}/", json=[new], headers=AUTH)
    assert r.status_code == 201, r.text
    (item_id,) = r.json()["ids"]
    got = writer.get(f"/items/{DS}/{item_id}").json()
    assert got["item"]["image_type"] == "xray" and got["views"]["image"]["data"]["width"] == 256
    # replace it in the shape GET returns
    got["item"]["image_type"] = "mri"
    r = writer.put(f"/items/{DS}/", json=[got], headers=AUTH)
    assert r.status_code == 200, r.text
    assert writer.get(f"/items/{DS}/{item_id}").json()["item"]["image_type"] == "mri"
    bad = dict(new, image={"width": "wide"})
    r = writer.post(f"/items/{DS}/", json=[bad], headers=AUTH)
    assert r.status_code == 422 and "image.width" in r.json()["error"]
    r = writer.post(f"/items/{DS}/", json=[{"split": "train"}], headers=AUTH)
    assert r.status_code == 422 and "image_type" in r.text
