"""Endpoints over other layers: tags, diff, lineage, SQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_client import AUTH, TOKEN, make_client

DS = "health_images"


def _two_versions(demo: Path):
    c = make_client(demo, token=TOKEN)
    ids = [it["id"] for it in c.get(f"/items/{DS}/?limit=3").json()["items"]]
    assert c.delete(f"/items/{DS}/", params={"ids": ids}, headers=AUTH).status_code == 200
    return c, ids


def test_diff(demo: Path):
    c, ids = _two_versions(demo)
    d = c.get(f"/datasets/{DS}/diff?a=1&b=2").json()
    assert d["a"] == 1 and d["b"] == 2
    assert d["tables"]["item"]["removed"] == 3 and d["tables"]["item"]["added"] == 0
    removed = {x["id"] for x in d["ids"] if x["table"] == "item" and x["change"] == "removed"}
    assert removed == set(ids)
    assert c.get(f"/datasets/{DS}/diff?a=1").json()["b"] == 2
    assert c.get(f"/datasets/{DS}/diff?a=1&b=9").status_code == 404
    assert c.get(f"/datasets/{DS}/diff").status_code == 422


def test_read_by_tag(demo: Path):
    from pinlake.library.tag import tag_version

    c, _ = _two_versions(demo)
    tag_version(demo / "library" / DS, 1, "first")
    assert c.get(f"/items/{DS}/?tag=first").json()["total"] == 32
    assert c.get(f"/items/{DS}/").json()["total"] == 29
    assert len(c.get(f"/views/{DS}/image/?tag=first&limit=1000").json()) == 32
    versions = c.get(f"/datasets/{DS}/versions").json()
    assert versions[0]["tags"] == ["first"]
    assert c.get(f"/datasets/{DS}?tag=first").json()["version"] == 1
    assert c.get(f"/items/{DS}/?tag=nope").status_code == 404
    assert c.get(f"/items/{DS}/?tag=first&version=2").status_code == 400


def test_lineage(client):
    r = client.get(f"/lineage/{DS}?version=1")
    assert r.status_code == 200, r.text
    assert r.json()["dataset_version"] == 1 and r.json()["dataset"] == DS
    assert client.get(f"/lineage/{DS}?version=9").status_code == 404


def test_sql(client):
    r = client.post("/sql", json={"query": "SELECT 1 AS one"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [{"one": 1}]


@pytest.mark.parametrize(
    "query, status",
    [
        ("DROP TABLE x", 400),
        ("INSERT INTO t VALUES (1)", 400),
        ("select 1; delete from t", 400),
        ("COPY (select 1) TO '/tmp/x.csv'", 400),
        ("ATTACH '/tmp/x.db'", 400),
        ("select * from read_csv('/etc/passwd')", 400),
        ("WITH x AS (select 1) UPDATE t SET a = 1", 400),
        ("", 422),  # refused by the request model (an empty query field)
        ("   ;  ", 400),
        ("not sql at all", 400),
    ],
)
def test_sql_that_writes_is_400(client, query, status):
    r = client.post("/sql", json={"query": query})
    assert r.status_code == status, r.text
    assert r.json()["error"]
