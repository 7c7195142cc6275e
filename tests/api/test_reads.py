"""Reads: datasets, rows in Pixano's shape, items, pagination, pins, errors."""

from __future__ import annotations

DS = "health_images"


def test_datasets_list(client):
    r = client.get("/datasets/")
    assert r.status_code == 200
    (d,) = r.json()
    assert d["name"] == DS and d["num_items"] == 32 and d["latest_version"] == 1
    assert d["preview_url"] == f"/datasets/{DS}/preview.png"
    assert d["size_bytes"] > 0


def test_datasets_list_reads_summaries_and_follows_writes(demo):
    """The listing reads each dataset's summary.json (written with every version): the same fields as
    opening the dataset, the latest version after a write, and an opened dataset when a dataset has
    no summary (written before summaries existed)."""
    from api_client import TOKEN, make_client

    c = make_client(demo, token=TOKEN)
    listed = c.get("/datasets/").json()[0]
    opened = {k: v for k, v in c.get(f"/datasets/{DS}").json().items() if k in listed}
    assert listed == {**opened, "preview_url": listed["preview_url"]} and listed["size_bytes"] > 0
    item = c.get(f"/items/{DS}/?limit=1").json()["items"][0]
    assert c.delete(f"/items/{DS}/?ids={item['id']}", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    after = c.get("/datasets/").json()[0]
    assert (after["latest_version"], after["num_items"], after["rows"]["item"]) == (2, 31, 31)
    (demo / "library" / DS / "summary.json").unlink()
    assert c.get("/datasets/").json()[0] == {**after, "preview_url": c.get("/datasets/").json()[0]["preview_url"]}


def test_dataset_detail(client):
    d = client.get(f"/datasets/{DS}").json()
    assert d["info"]["id"] == DS
    assert set(d["tables"]) == {"item", "image", "objects", "bbox", "keypoints", "source"}
    assert d["tables"]["bbox"]["group"] == "annotations" and d["tables"]["bbox"]["base_schema"] == "BBox"
    assert d["schema"]["schemas"]["objects"]["base_schema"] == "Entity"
    assert d["splits"] == {"train": 24, "test": 8}
    assert d["stats"]["num_items"] == 32
    assert [v["dataset_version"] for v in d["versions"]] == [1]
    assert d["versions"][0]["lineage"]["pinlake.operation"].startswith("build")


def test_views_rows_have_seed_shape(client):
    r = client.get(f"/views/{DS}/image/?limit=2&skip=0")
    assert r.status_code == 200
    rows = r.json()
    assert len(rows) == 2
    row = rows[0]
    assert set(row) >= {"id", "created_at", "updated_at", "table_info", "data"}
    assert row["table_info"] == {"name": "image", "group": "views", "base_schema": "Image"}
    data = row["data"]
    assert data["item_ref"]["name"] == "item" and data["item_ref"]["id"]
    assert data["parent_ref"] == {"name": "", "id": ""}
    assert data["url"].startswith("/health_images/") and data["width"] > 0 and data["format"]
    assert "id" not in data and "created_at" not in data
    assert row["media_url"] == "/media" + data["url"]
    img = client.get(row["media_url"])
    assert img.status_code == 200 and img.headers["content-type"].startswith("image/")


def test_other_groups(client):
    ent = client.get(f"/entities/{DS}/objects/?limit=3").json()
    assert len(ent) == 3 and ent[0]["table_info"]["group"] == "entities" and "category" in ent[0]["data"]
    ann = client.get(f"/annotations/{DS}/bbox/?limit=1").json()[0]
    assert ann["table_info"]["base_schema"] == "BBox" and len(ann["data"]["coords"]) == 4
    src = client.get(f"/sources/{DS}/source/").json()
    assert src and src[0]["table_info"]["group"] == "source"
    assert client.get(f"/embeddings/{DS}/image/").status_code == 404


def test_one_row_and_item_filter(client):
    row = client.get(f"/annotations/{DS}/keypoints/?limit=1").json()[0]
    same = client.get(f"/annotations/{DS}/keypoints/{row['id']}").json()
    assert same == row
    item_id = row["data"]["item_ref"]["id"]
    rows = client.get(f"/annotations/{DS}/bbox/", params={"item_id": item_id}).json()
    assert rows and all(r["data"]["item_ref"]["id"] == item_id for r in rows)


def test_group_mismatch_and_unknowns_are_404_json(client):
    for url in (
        f"/annotations/{DS}/image/",
        f"/views/{DS}/bbox/",
        f"/views/{DS}/nope/",
        "/views/nope/image/",
        "/views/_lake/image/",
        f"/views/{DS}/image/nope-id",
        f"/items/{DS}/nope-id",
        "/items/nope/",
        "/datasets/nope",
        "/datasets/..%2f..%2fetc",
        f"/datasets/{DS}?version=99",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"] == "application/json" and r.json()["error"], url


def test_pagination(client):
    a = client.get(f"/views/{DS}/image/?limit=5&skip=0").json()
    b = client.get(f"/views/{DS}/image/?limit=5&skip=5").json()
    assert len(a) == len(b) == 5 and not {r["id"] for r in a} & {r["id"] for r in b}
    assert len(client.get(f"/views/{DS}/image/?limit=1000&skip=30").json()) == 2
    for bad in ("limit=1001", "limit=0", "skip=-1", "limit=abc"):
        r = client.get(f"/views/{DS}/image/?{bad}")
        assert r.status_code == 422, bad
        assert r.json()["detail"][0]["loc"] == ["query", bad.split("=")[0]]
        assert "limit" in r.json()["error"] or "skip" in r.json()["error"]


def test_items(client):
    page = client.get(f"/items/{DS}/?limit=10&split=test").json()
    assert page["total"] == 8 and len(page["items"]) == 8 and page["dataset_version"] == 1
    it = page["items"][0]
    assert it["split"] == "test" and it["item"]["image_type"]
    assert it["views"]["image"]["table_info"]["name"] == "image"
    assert it["entities"]["objects"] and it["annotations"]["bbox"] and it["annotations"]["keypoints"]
    one = client.get(f"/items/{DS}/{it['id']}").json()
    assert one["id"] == it["id"] and one["annotations"]["bbox"] == it["annotations"]["bbox"]
    assert client.get(f"/items/{DS}/?split=x' OR '1'='1").json()["total"] == 0


def test_preview(client):
    r = client.get(f"/datasets/{DS}/preview.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"


def test_openapi_docs_and_page(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/views/{dataset}/{table}/" in spec["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/../app.py").status_code == 404


def test_a_table_read_is_reused_until_the_dataset_or_its_tags_change(demo, monkeypatch):
    """GET of table rows keeps its answer per URL while nothing it depends on changed: the second
    request never opens the dataset; a new version written by another writer (here the Python API),
    and a new tag, are seen by the very next request."""
    from api_client import TOKEN, make_client

    import pinlake.api.routes_tables as routes
    from pinlake.datasets.dataset import Dataset
    from pinlake.library.tag import tag_version

    c = make_client(demo, token=TOKEN)
    url = "/entities/health_images/objects/?limit=1000"
    first = c.get(url)
    assert first.status_code == 200 and first.json()
    real = routes.pinned
    monkeypatch.setattr(routes, "pinned", lambda *a: (_ for _ in ()).throw(AssertionError("opened again")))
    again = c.get(url)
    assert again.status_code == 200 and again.content == first.content  # answered without opening the dataset
    assert c.get(url + "&skip=1").status_code == 500  # another URL is not answered from the first one's entry
    monkeypatch.setattr(routes, "pinned", real)

    ds = Dataset(demo / "library" / "health_images")
    row = ds.get_data("objects", limit=1)[0]
    ds.update_data("objects", [dict(row.model_dump(), category="changed-elsewhere")])
    rows = {r["id"]: r["data"]["category"] for r in c.get(url).json()}
    assert rows[row.id] == "changed-elsewhere"
    tag_version(ds.path, ds.version, "before-next")
    tagged = c.get(url + "&tag=before-next")
    assert tagged.status_code == 200 and {r["id"]: r["data"]["category"] for r in tagged.json()}[row.id] == "changed-elsewhere"
    ds.update_data("objects", [dict(row.model_dump(), category="newest")])
    assert {r["id"]: r["data"]["category"] for r in c.get(url).json()}[row.id] == "newest"
    assert {r["id"]: r["data"]["category"] for r in c.get(url + "&tag=before-next").json()}[row.id] == "changed-elsewhere"
    from pinlake.library.connection import Library
    from pinlake.library.info import read_key

    assert read_key(Library(demo / "library"), "health_images") is not None
    for name in ("../library", "..", "_catalog", "no_such_dataset"):  # never looked up outside the library's datasets
        assert read_key(Library(demo / "library"), name) is None, name


def test_kept_table_reads_stay_within_their_byte_budget(demo, monkeypatch):
    """The answers kept are bounded in bytes (and count): the least recently used go first, an answer
    over an eighth of the budget is not kept, and the count of bytes matches what is kept."""
    from api_client import make_client

    import pinlake.api.deps as deps

    c = make_client(demo)
    page = max(len(c.get(f"/entities/health_images/objects/?limit=4&skip={skip}").content) for skip in range(20))
    c = make_client(demo)  # a fresh server: nothing kept yet
    monkeypatch.setattr(deps, "READ_CACHE_BYTES", page * 10)  # room for about ten pages of 4 rows
    state = c.app.state.pinlake
    for skip in range(20):
        assert c.get(f"/entities/health_images/objects/?limit=4&skip={skip}").status_code == 200
    kept = list(state.reads.values())
    assert 8 <= len(kept) < 20 and state.reads_bytes == sum(len(body) for _, body in kept) <= deps.READ_CACHE_BYTES
    assert "/entities/health_images/objects/?limit=4&skip=19" in state.reads  # the newest stays
    assert "/entities/health_images/objects/?limit=4&skip=0" not in state.reads  # the oldest went first
    assert c.get("/entities/health_images/objects/?limit=1000").status_code == 200  # over an eighth: not kept
    assert "/entities/health_images/objects/?limit=1000" not in state.reads


def test_a_kept_read_is_answered_while_every_pool_thread_is_busy(demo):
    """A kept answer comes from the event loop: with every thread of the pool taken (slow reads of
    other URLs), the kept one still answers at once, while a read not kept waits for a thread and
    answers once one is free."""
    import threading

    import anyio
    import anyio.to_thread
    from api_client import make_client

    kept, other = "/views/health_images/image/?limit=5", "/views/health_images/image/?limit=6"
    borrower = object()

    async def take_every_thread() -> int:
        limiter = anyio.to_thread.current_default_thread_limiter()
        total, limiter.total_tokens = limiter.total_tokens, 1
        await limiter.acquire_on_behalf_of(borrower)
        return int(total)

    def give_back(total: int) -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.release_on_behalf_of(borrower)
        limiter.total_tokens = total

    def get_in_thread(c, url):
        out: dict = {}
        t = threading.Thread(target=lambda: out.update(r=c.get(url)), daemon=True)
        t.start()
        return t, out

    with make_client(demo) as c:
        first = c.get(kept)
        assert first.status_code == 200 and len(first.json()) == 5
        total = c.portal.call(take_every_thread)
        try:
            t, hit = get_in_thread(c, kept)
            t.join(20)
            assert not t.is_alive() and hit["r"].content == first.content
            t, miss = get_in_thread(c, other)
            t.join(1.0)
            assert t.is_alive(), "a read that is not kept needs a thread of the pool"
        finally:
            c.portal.call(give_back, total)
        t.join(30)
        assert not t.is_alive() and miss["r"].status_code == 200 and len(miss["r"].json()) == 6
