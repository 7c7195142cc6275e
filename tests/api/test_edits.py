"""The editor's routes: POST /items/{dataset}/{id}/edits (one version per save, by a human, optimistic
concurrency by base version), POST /datasets/{dataset}/restore, GET /auth, the item's editor context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_client import AUTH, TOKEN, make_client

from pinlake.datasets.dataset import Dataset

DS = "health_images"


def _item(c, index: int = 0) -> dict:
    item_id = c.get(f"/items/{DS}/?limit={index + 1}").json()["items"][index]["id"]
    return c.get(f"/items/{DS}/{item_id}").json()


def _first_box(item: dict) -> tuple[dict, dict]:
    """An entity of the item that has a bbox, and that bbox."""
    box = item["annotations"]["bbox"][0]
    entity = next(e for e in item["entities"]["objects"] if e["id"] == box["data"]["entity_ref"]["id"])
    return entity, box


def _new_box(item: dict, entity_id: str, coords: list[float], category: str = "lung") -> dict:
    view = {"name": "image", "id": item["views"]["image"]["id"]}
    return {
        "objects": {"add": [{"id": entity_id, "data": {"view_ref": view, "category": category}}]},
        "bbox": {"add": [{"data": {"view_ref": view, "entity_ref": {"name": "objects", "id": entity_id}, "coords": coords}}]},
    }


def test_item_has_version_sources_and_categories(client):
    item = _item(client)
    assert item["dataset_version"] == 1
    (source,) = item["sources"].values()
    assert source["data"]["name"] == "Builder" and source["data"]["kind"] == "other"
    cats = item["categories"]["objects"]
    assert {"heart", "lung", "bone", "lesion"} <= set(cats) and cats == sorted(cats)
    assert item["tables"]["bbox"] == {"group": "annotations", "base_schema": "BBox", "normalized": False}
    assert item["tables"]["objects"] == {"group": "entities", "base_schema": "Entity"}
    # rows by id (the review's diff reads the changed boxes this way)
    ids = [b["id"] for b in item["annotations"]["bbox"][:2]]
    rows = client.get(f"/annotations/{DS}/bbox/", params={"id": ids, "limit": 1000}).json()
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert client.get(f"/annotations/{DS}/bbox/", params={"id": "nope"}).json() == []


def test_auth_says_whether_writes_are_open(client, writer):
    assert client.get("/auth").json() == {"writes_enabled": False, "authenticated": False, "user": None}
    assert writer.get("/auth").json() == {"writes_enabled": True, "authenticated": False, "user": None}
    assert writer.get("/auth", headers={"Authorization": "Bearer nope"}).json()["authenticated"] is False
    assert writer.get("/auth", headers=AUTH).json() == {"writes_enabled": True, "authenticated": True, "user": "api"}


def test_save_adds_entity_and_box_as_one_human_version(demo: Path):
    c = make_client(demo, token=TOKEN, user="alice")
    item = _item(c)
    n_objects, n_boxes = len(item["entities"]["objects"]), len(item["annotations"]["bbox"])
    body = {"base_version": 1, "message": "box the left lung", "tables": _new_box(item, "newentity01", [10.5, 20, 30, 40.25])}
    r = c.post(f"/items/{DS}/{item['id']}/edits", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["dataset_version"] == 2 and out["base_version"] == 1 and out["item_id"] == item["id"]
    assert out["added"]["objects"] == ["newentity01"] and len(out["added"]["bbox"]) == 1 and len(out["ids"]) == 2

    after = c.get(f"/items/{DS}/{item['id']}").json()
    assert after["dataset_version"] == 2
    assert len(after["entities"]["objects"]) == n_objects + 1 and len(after["annotations"]["bbox"]) == n_boxes + 1
    (box,) = [b for b in after["annotations"]["bbox"] if b["id"] == out["added"]["bbox"][0]]
    assert box["data"]["coords"] == [10.5, 20, 30, 40.25] and box["data"]["item_ref"]["id"] == item["id"]
    source = after["sources"][box["data"]["source_ref"]["id"]]
    assert source["data"] == {**source["data"], "name": "alice", "kind": "human"}
    # the version: one entry, operation annotate, the user, the message, the item, source kind human
    (v2,) = [v for v in c.get(f"/datasets/{DS}/versions").json() if v["dataset_version"] == 2]
    assert v2["operation"] == "annotate" and v2["message"].startswith("box the left lung (")
    assert v2["summary"]["user"] == "alice" and v2["summary"]["source_kind"] == "human"
    assert v2["summary"]["items"] == item["id"] and v2["summary"]["base_version"] == "1"
    # version 1 is unchanged, and the diff says what changed
    assert len(c.get(f"/items/{DS}/{item['id']}?version=1").json()["annotations"]["bbox"]) == n_boxes
    d = c.get(f"/datasets/{DS}/diff?a=1&b=2").json()
    assert d["tables"]["bbox"]["added"] == 1 and d["tables"]["objects"]["added"] == 1 and d["tables"]["source"]["added"] == 1
    # a second save by the same user reuses their source row
    r = c.post(
        f"/items/{DS}/{item['id']}/edits",
        json={"base_version": 2, "tables": _new_box(item, "newentity02", [1, 2, 3, 4])},
        headers=AUTH,
    )
    assert r.status_code == 200 and r.json()["source_id"] == out["source_id"]
    assert c.get(f"/datasets/{DS}/diff?a=2&b=3").json()["tables"]["source"]["added"] == 0


def test_move_relabel_and_delete_cascade(writer):
    item = _item(writer)
    entity, box = _first_box(item)
    moved = {**box, "data": {**box["data"], "coords": [1.0, 2.0, 50.0, 60.0]}}
    relabelled = {**entity, "data": {**entity["data"], "category": "liver"}}
    r = writer.post(
        f"/items/{DS}/{item['id']}/edits",
        json={"base_version": 1, "tables": {"bbox": {"update": [moved]}, "objects": {"update": [relabelled]}}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert r.json()["updated"] == {"objects": [entity["id"]], "bbox": [box["id"]]}
    assert writer.get(f"/annotations/{DS}/bbox/{box['id']}").json()["data"]["coords"] == [1.0, 2.0, 50.0, 60.0]
    assert writer.get(f"/entities/{DS}/objects/{entity['id']}").json()["data"]["category"] == "liver"

    # delete the entity: its box and keypoints go with it in version 3, and stay in version 2
    kps = [k["id"] for k in item["annotations"]["keypoints"] if k["data"]["entity_ref"]["id"] == entity["id"]]
    assert kps
    r = writer.post(
        f"/items/{DS}/{item['id']}/edits", json={"base_version": 2, "tables": {"objects": {"delete": [entity["id"]]}}}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    assert r.json()["dataset_version"] == 3
    assert r.json()["deleted"] == {"bbox": [box["id"]], "keypoints": sorted(kps), "objects": [entity["id"]]}
    for table, group, row_id in (
        ("objects", "entities", entity["id"]),
        ("bbox", "annotations", box["id"]),
        ("keypoints", "annotations", kps[0]),
    ):
        assert writer.get(f"/{group}/{DS}/{table}/{row_id}").status_code == 404
        assert writer.get(f"/{group}/{DS}/{table}/{row_id}?version=2").status_code == 200


def test_stale_base_version_is_409_only_when_the_same_rows_changed(writer):
    item = _item(writer)
    _entity, box = _first_box(item)
    first = {**box, "data": {**box["data"], "coords": [5.0, 5.0, 10.0, 10.0]}}
    assert (
        writer.post(
            f"/items/{DS}/{item['id']}/edits", json={"base_version": 1, "tables": {"bbox": {"update": [first]}}}, headers=AUTH
        ).status_code
        == 200
    )
    # a second editor still on version 1 moves the same box: refused, nothing written
    second = {**box, "data": {**box["data"], "coords": [7.0, 7.0, 10.0, 10.0]}}
    r = writer.post(f"/items/{DS}/{item['id']}/edits", json={"base_version": 1, "tables": {"bbox": {"update": [second]}}}, headers=AUTH)
    assert r.status_code == 409, r.text
    assert "since version 1" in r.json()["error"] and box["id"] in r.json()["error"] and "nothing saved" in r.json()["error"]
    assert "Reload" in r.json()["hint"]
    # deleting the entity of that box from version 1 takes the changed box with it: refused too
    r = writer.post(
        f"/items/{DS}/{item['id']}/edits",
        json={"base_version": 1, "tables": {"objects": {"delete": [box["data"]["entity_ref"]["id"]]}}},
        headers=AUTH,
    )
    assert r.status_code == 409, r.text
    assert [v["dataset_version"] for v in writer.get(f"/datasets/{DS}/versions").json()] == [1, 2]
    assert writer.get(f"/annotations/{DS}/bbox/{box['id']}").json()["data"]["coords"] == [5.0, 5.0, 10.0, 10.0]
    # an edit of other rows from version 1 goes through (nothing it touches changed)
    r = writer.post(
        f"/items/{DS}/{item['id']}/edits", json={"base_version": 1, "tables": _new_box(item, "other00001", [1, 1, 2, 2])}, headers=AUTH
    )
    assert r.status_code == 200 and r.json()["dataset_version"] == 3
    # a base version that does not exist
    r = writer.post(f"/items/{DS}/{item['id']}/edits", json={"base_version": 9, "tables": {"bbox": {"update": [first]}}}, headers=AUTH)
    assert r.status_code == 404 and "version 9" in r.json()["error"]


def test_unknown_ids_are_404(writer):
    item = _item(writer)
    _entity, box = _first_box(item)
    other = _item(writer, 1)
    url = f"/items/{DS}/{item['id']}/edits"
    r = writer.post(f"/items/{DS}/ghost/edits", json={"base_version": 1, "tables": {"bbox": {"delete": [box["id"]]}}}, headers=AUTH)
    assert r.status_code == 404 and "ghost" in r.json()["error"]
    r = writer.post(url, json={"base_version": 1, "tables": {"bbox": {"delete": ["nope"]}}}, headers=AUTH)
    assert r.status_code == 404 and "'nope'" in r.json()["error"] and "tables.bbox" in r.json()["error"]
    r = writer.post(url, json={"base_version": 1, "tables": {"bbox": {"update": [{**box, "id": "nope2"}]}}}, headers=AUTH)
    assert r.status_code == 404 and "nope2" in r.json()["error"]
    # a row of another item is not a row of this one
    r = writer.post(url, json={"base_version": 1, "tables": {"bbox": {"delete": [other["annotations"]["bbox"][0]["id"]]}}}, headers=AUTH)
    assert r.status_code == 404
    assert (
        writer.post("/items/nodataset/x/edits", json={"base_version": 1, "tables": {"bbox": {"delete": ["a"]}}}, headers=AUTH).status_code
        == 404
    )
    assert [v["dataset_version"] for v in writer.get(f"/datasets/{DS}/versions").json()] == [1]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"tables": {"bbox": {"delete": ["x"]}}}, "body.base_version"),
        ({"base_version": 0, "tables": {"bbox": {"delete": ["x"]}}}, "body.base_version"),
        ({"base_version": 1, "tables": {}}, "body.tables"),
        ({"base_version": 1, "tables": {"bbox": {"move": []}}}, "body.tables.bbox.move"),
        ({"base_version": 1, "tables": {"bbox": {"add": [{"data": {"coords": [1, 2, 3]}}]}}}, "body.tables.bbox.add.0.coords"),
        ({"base_version": 1, "tables": {"bbox": {"add": [{"data": {"coords": [1, 2, -3, 4]}}]}}}, "body.tables.bbox.add.0"),
        ({"base_version": 1, "tables": {"objects": {"add": [{"data": {}}]}}}, "body.tables.objects.add.0.category"),
        ({"base_version": 1, "tables": {"objects": {"update": [{"data": {"category": "x"}}]}}}, "body.tables.objects.update.0.id"),
        ({"base_version": 1, "tables": {"nosuch": {"delete": ["x"]}}}, "body.tables.nosuch"),
        ({"base_version": 1, "tables": {"bbox": {}}}, "tables"),  # nothing to save
        ({"base_version": 1, "tables": {"image": {"delete": ["x"]}}}, "tables.image"),  # a view table
        (
            {"base_version": 1, "tables": {"bbox": {"add": [{"data": {"item_ref": {"name": "item", "id": "other"}}}]}}},
            "tables.bbox.add.0.item_ref",
        ),
        ({"base_version": 1, "message": "x" * 2001, "tables": {"bbox": {"delete": ["x"]}}}, "body.message"),
        ({"base_version": 1, "tables": {"bbox": {"delete": ["x"]}}, "extra": 1}, "body.extra"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(writer, body, field):
    item = _item(writer)
    r = writer.post(f"/items/{DS}/{item['id']}/edits", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"], r.json()
    assert "\n" not in r.json()["error"]
    assert [v["dataset_version"] for v in writer.get(f"/datasets/{DS}/versions").json()] == [1]


def test_edit_and_restore_need_the_token(client, writer):
    item = _item(client)
    body = {"base_version": 1, "tables": {"bbox": {"delete": [item["annotations"]["bbox"][0]["id"]]}}}
    for c, headers in ((client, AUTH), (writer, {}), (writer, {"Authorization": "Bearer nope"})):
        r = c.post(f"/items/{DS}/{item['id']}/edits", json=body, headers=headers)
        assert r.status_code == 401 and "token" in r.json()["error"]
        r = c.post(f"/datasets/{DS}/restore", json={"version": 1}, headers=headers)
        assert r.status_code == 401
    assert [v["dataset_version"] for v in writer.get(f"/datasets/{DS}/versions").json()] == [1]


def test_user_from_a_trusted_header(demo: Path):
    c = make_client(demo, token=TOKEN, user="robot", user_header="X-Remote-User")
    item = _item(c)
    assert c.get("/auth", headers={**AUTH, "X-Remote-User": "bob"}).json()["user"] == "bob"
    r = c.post(
        f"/items/{DS}/{item['id']}/edits",
        json={"base_version": 1, "tables": {"bbox": {"delete": [item["annotations"]["bbox"][0]["id"]]}}},
        headers={**AUTH, "X-Remote-User": "bob"},
    )
    assert r.status_code == 200
    assert c.get(f"/datasets/{DS}/versions").json()[-1]["summary"]["user"] == "bob"
    r = c.post(f"/datasets/{DS}/restore", json={"version": 1}, headers=AUTH)  # no header: the token's identity
    assert r.status_code == 200 and r.json()["user"] == "robot"
    # a server that trusts no header ignores it
    plain = make_client(demo, token=TOKEN)
    assert plain.get("/auth", headers={**AUTH, "X-Remote-User": "bob"}).json()["user"] == "api"


def test_restore_previous_is_a_new_recorded_version(writer):
    item = _item(writer)
    _entity, box = _first_box(item)
    r = writer.post(f"/items/{DS}/{item['id']}/edits", json={"base_version": 1, "tables": {"bbox": {"delete": [box["id"]]}}}, headers=AUTH)
    assert r.json()["dataset_version"] == 2
    # restoring from a stale page is refused
    writer.post(
        f"/items/{DS}/{item['id']}/edits", json={"base_version": 2, "tables": _new_box(item, "e000000003", [1, 1, 1, 1])}, headers=AUTH
    )
    r = writer.post(f"/datasets/{DS}/restore", json={"version": 1, "base_version": 2}, headers=AUTH)
    assert r.status_code == 409 and "version 3" in r.json()["error"]
    r = writer.post(f"/datasets/{DS}/restore", json={"version": 1, "base_version": 3, "message": "undo"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() == {"dataset": DS, "dataset_version": 4, "restored_from": 1, "user": "api"}
    v4 = writer.get(f"/datasets/{DS}/versions").json()[-1]
    assert v4["operation"] == "restore" and v4["summary"]["restored_from"] == "1" and v4["message"].startswith("undo")
    assert writer.get(f"/annotations/{DS}/bbox/{box['id']}").status_code == 200
    assert writer.get(f"/datasets/{DS}/diff?a=1&b=4").json()["num_ids"] == 0
    assert writer.post(f"/datasets/{DS}/restore", json={"version": 99}, headers=AUTH).status_code == 404
    r = writer.post(f"/datasets/{DS}/restore", json={"version": "x"}, headers=AUTH)
    assert r.status_code == 422 and "body.version" in r.json()["error"]


def test_edit_verb_from_python_keeps_lance_history(demo: Path):
    """The library verb on its own: one version, every table's lineage names the annotate run."""
    from pinlake.library.annotate import TableEdits, edit_item

    ds = Dataset(demo / "library" / DS)
    item = ds.get_dataset_items(limit=1)[0]
    box = item.bbox[0]
    moved = box.model_copy(update={"coords": [0.0, 0.0, 3.0, 4.0]})
    result = edit_item(ds, item.id, {"bbox": TableEdits(update=[moved])}, base_version=1, user="carol", message="nudge")
    assert result.dataset_version == 2 and result.updated == {"bbox": [box.id]}
    entry = ds.versions()[-1]
    assert entry.lineage["pinlake.operation"] == "annotate" and entry.lineage["pinlake.user"] == "carol"
    assert entry.message == "nudge (add 1 to source; update 1 in bbox)" and entry.lineage["pinlake.source_kind"] == "human"
    assert ds.get_data("bbox", ids=[box.id])[0].coords == [0.0, 0.0, 3.0, 4.0]
    assert ds.checkout(1).get_data("bbox", ids=[box.id])[0].coords == box.coords
    # a stale edit of the same box from Python is the same ConflictError
    from pinlake.errors import ConflictError

    with pytest.raises(ConflictError, match="since version 1"):
        edit_item(ds, item.id, {"bbox": TableEdits(delete=[box.id])}, base_version=1, user="dave")
    assert ds.reload().version == 2


def test_refs_to_another_items_rows_are_422_naming_the_field(writer):
    """An edit of one item does not hang its rows on another item's entity or view."""
    item, other = _item(writer), _item(writer, 1)
    view = {"name": "image", "id": item["views"]["image"]["id"]}
    url = f"/items/{DS}/{item['id']}/edits"
    foreign_entity = {"name": "objects", "id": other["entities"]["objects"][0]["id"]}
    r = writer.post(
        url,
        json={
            "base_version": 1,
            "tables": {"bbox": {"add": [{"data": {"view_ref": view, "entity_ref": foreign_entity, "coords": [1, 2, 3, 4]}}]}},
        },
        headers=AUTH,
    )
    assert r.status_code == 422 and "tables.bbox.add.0.entity_ref" in r.json()["error"] and foreign_entity["id"] in r.json()["error"]
    foreign_view = {"name": "image", "id": other["views"]["image"]["id"]}
    entity, box = _first_box(item)
    r = writer.post(
        url,
        json={"base_version": 1, "tables": {"objects": {"update": [{**entity, "data": {**entity["data"], "view_ref": foreign_view}}]}}},
        headers=AUTH,
    )
    assert r.status_code == 422 and "tables.objects.update.0.view_ref" in r.json()["error"]
    assert [v["dataset_version"] for v in writer.get(f"/datasets/{DS}/versions").json()] == [1]
    # the item's own entity, and an entity the same edit adds, are fine
    r = writer.post(url, json={"base_version": 1, "tables": _new_box(item, "mine000001", [1, 1, 2, 2])}, headers=AUTH)
    assert r.status_code == 200, r.text
    moved = {**box, "data": {**box["data"], "coords": [2.0, 2.0, 4.0, 4.0]}}
    assert writer.post(url, json={"base_version": 2, "tables": {"bbox": {"update": [moved]}}}, headers=AUTH).status_code == 200


def test_deleting_an_entity_takes_its_child_entities_annotations_too(writer):
    item = _item(writer)
    view = {"name": "image", "id": item["views"]["image"]["id"]}
    parent = item["entities"]["objects"][0]["id"]
    url = f"/items/{DS}/{item['id']}/edits"
    child = {"id": "child00001", "data": {"view_ref": view, "category": "lesion", "parent_ref": {"name": "objects", "id": parent}}}
    grandchild = {**child, "id": "grandchild1", "data": {**child["data"], "parent_ref": {"name": "objects", "id": "child00001"}}}
    boxes = [
        {"id": f"box-of-{e}", "data": {"view_ref": view, "entity_ref": {"name": "objects", "id": e}, "coords": [1, 1, 2, 2]}}
        for e in ("child00001", "grandchild1")
    ]
    r = writer.post(
        url, json={"base_version": 1, "tables": {"objects": {"add": [child, grandchild]}, "bbox": {"add": boxes}}}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    r = writer.post(url, json={"base_version": 2, "tables": {"objects": {"delete": [parent]}}}, headers=AUTH)
    assert r.status_code == 200, r.text
    deleted = r.json()["deleted"]
    assert {parent, "child00001", "grandchild1"} == set(deleted["objects"])
    assert {"box-of-child00001", "box-of-grandchild1"} <= set(deleted["bbox"])
    for table, group, row_id in (("bbox", "annotations", "box-of-child00001"), ("bbox", "annotations", "box-of-grandchild1")):
        assert writer.get(f"/{group}/{DS}/{table}/{row_id}").status_code == 404
        assert writer.get(f"/{group}/{DS}/{table}/{row_id}?version=2").status_code == 200


def test_a_save_that_updates_what_it_deletes_is_422(writer):
    """Updating a box while deleting its entity (or the box itself), or adding a box on an entity the same
    save deletes, is a contradiction named by field (422), not an unknown row (404); nothing is written."""
    item = _item(writer)
    entity, box = _first_box(item)
    url = f"/items/{DS}/{item['id']}/edits"
    moved = {**box, "data": {**box["data"], "coords": [1, 2, 3, 4]}}
    r = writer.post(
        url, json={"base_version": 1, "tables": {"objects": {"delete": [entity["id"]]}, "bbox": {"update": [moved]}}}, headers=AUTH
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(f"tables.bbox.update.0.id: bbox {box['id']!r} belongs to an entity the same save deletes")
    assert r.json()["hint"]
    r = writer.post(url, json={"base_version": 1, "tables": {"bbox": {"update": [moved], "delete": [box["id"]]}}}, headers=AUTH)
    assert r.status_code == 422 and "tables.bbox.update.0.id" in r.json()["error"] and "also under tables.bbox.delete" in r.json()["error"]
    view = {"name": "image", "id": item["views"]["image"]["id"]}
    new = {"data": {"view_ref": view, "entity_ref": {"name": "objects", "id": entity["id"]}, "coords": [1, 1, 2, 2]}}
    r = writer.post(url, json={"base_version": 1, "tables": {"objects": {"delete": [entity["id"]]}, "bbox": {"add": [new]}}}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"].startswith("tables.bbox.add.0.entity_ref: objects")
    assert "the same save deletes" in r.json()["error"]
    assert [v["dataset_version"] for v in writer.get(f"/datasets/{DS}/versions").json()] == [1]


def test_item_says_whether_the_datasets_boxes_are_normalised(demo: Path):
    """tables.bbox.normalized: what most boxes of the version say, whatever the item's own boxes
    (an item without boxes too); null once the table has no rows."""
    from pinlake.library.annotate import boxes_normalized

    ds = Dataset(demo / "library" / DS)
    items = ds.get_dataset_items()
    size = {it.id: (it.image.width, it.image.height) for it in items}
    boxes = [b for it in items[1:] for b in it.bbox]  # all but the first item's
    ds.update_data(
        "bbox",
        [
            b.model_copy(update={"is_normalized": True, "coords": [v / size[b.item_ref.id][k % 2] for k, v in enumerate(b.coords)]})
            for b in boxes
        ],
    )
    c = make_client(demo)
    first = c.get(f"/items/{DS}/{items[0].id}").json()
    assert first["tables"]["bbox"]["normalized"] is True and not any(b["data"]["is_normalized"] for b in first["annotations"]["bbox"])
    assert c.get(f"/items/{DS}/{items[0].id}?version=1").json()["tables"]["bbox"]["normalized"] is False
    assert "normalized" not in first["tables"]["keypoints"]
    ds.delete_data("bbox", [b.id for it in items for b in it.bbox])
    assert boxes_normalized(ds, "bbox") is None
    assert c.get(f"/items/{DS}/{items[0].id}").json()["tables"]["bbox"]["normalized"] is None


def test_versions_cli_shows_who_made_each_version_and_its_message(demo: Path, monkeypatch: pytest.MonkeyPatch):
    """`pinlake versions`: a `by` column (the version's pinlake.user) and the message (cut in the table,
    whole in --json, which also has `user`)."""
    from typer.testing import CliRunner

    from pinlake.cli import app, register_commands
    from pinlake.library.annotate import TableEdits, edit_item

    ds = Dataset(demo / "library" / DS)
    item = ds.get_dataset_items(limit=1)[0]
    moved = item.bbox[0].model_copy(update={"coords": [1.0, 2.0, 3.0, 4.0]})
    note = "nudge the heart box [up] " + "x" * 80
    edit_item(ds, item.id, {"bbox": TableEdits(update=[moved])}, base_version=1, user="dora", message=note)
    register_commands()
    from pinlake.cli import versions as versions_cli
    from pinlake.cli.app import CliConsole

    # a console of its own: the shared one keeps the width it was made with (COLUMNS when first imported)
    monkeypatch.setattr(versions_cli, "console", CliConsole(width=400))
    args = ["versions", DS, "--library", str(demo / "library")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    header = next(line for line in res.output.splitlines() if "version" in line and "operation" in line)
    columns = [c.strip() for c in header.strip("┃ ").split("┃")]
    assert columns[2:5] == ["operation", "by", "message"], columns
    (line,) = [line for line in res.output.splitlines() if "annotate" in line]
    assert "dora" in line and "nudge the heart box [up] xxx" in line and "…" in line and "(update 1 in bbox)" not in line
    rows = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert rows[-1]["user"] == "dora" and rows[-1]["message"].startswith(note) and rows[0]["message"] == ds.versions()[0].message
