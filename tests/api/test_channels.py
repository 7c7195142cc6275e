"""Write–audit–publish over HTTP: each version's channel status in the API (status, failed_checks,
the dataset's channel and published versions), reads by channel (``?tag=prod``), the checks of a
version (``GET /datasets/{d}/checks``) and the status badges of the browser page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from api_client import AUTH, TOKEN, make_client
from test_browser import ARTIFACTS, CHROMIUM, browser  # noqa: F401 - the headless Chromium fixture
from test_serve import free_port, start_server, stop_server

from pinlake.library.refresh import refresh_dataset

DS = "health_by_tag"
REPO = Path(__file__).resolve().parents[2]

#: train gets every health/ image, test every trial/ image: the same bytes in both splits (leakage)
LEAKY_RECIPE = """import pinlake


@pinlake.recipe()
def health_by_tag(client):
    result = {"train": [], "test": []}
    for data in client.list_data(q="object_name LIKE 'health/%'"):
        result["train"].append(data)
    for data in client.list_data(q="object_name LIKE 'trial/%'"):
        result["test"].append(data)
    return result
"""

GATE = """  channel: prod
  checks:
    min_items: {train: 2, test: 1}
    no_empty_split: true
    no_split_leakage: true
    boxes_inside_images: true
    max_category_drift: 0.0001
    warn: [max_category_drift]
"""


def gated(project) -> tuple[Path, Path]:
    """A dataset gated on ``prod``: version 1 (a leaky recipe) quarantined; returns (root, registry)."""
    library, registry, _ = project(recipe=LEAKY_RECIPE)
    registry.write_text(registry.read_text() + GATE)
    assert refresh_dataset(library, registry, DS)["status"] == "quarantined"
    return library.parent, registry


def fix_and_refresh(root: Path, registry: Path) -> None:
    """The recipe fixed: version 2 passes and is published on ``prod``."""
    shutil.copy(REPO / "recipes" / "health_by_tag.py", registry.parent / "health_by_tag.py")
    assert refresh_dataset(root / "library", registry, DS)["status"] == "published"


def statuses(versions: list[dict]) -> dict[int, tuple[str, list[str]]]:
    return {v["dataset_version"]: (v["status"], v["failed_checks"]) for v in versions}


def test_versions_carry_their_channel_status(project):
    root, registry = gated(project)
    c = make_client(root)
    info = c.get(f"/datasets/{DS}").json()
    assert info["channel"] == "prod" and info["published"] == {}
    assert statuses(info["versions"]) == {1: ("quarantined", ["no_split_leakage"])}
    assert statuses(c.get(f"/datasets/{DS}/versions").json()) == {1: ("quarantined", ["no_split_leakage"])}
    nothing = c.get(f"/datasets/{DS}?tag=prod")
    assert nothing.status_code == 404 and "prod" in nothing.json()["error"]  # nothing published on prod yet

    fix_and_refresh(root, registry)
    info = c.get(f"/datasets/{DS}").json()
    assert info["channel"] == "prod" and info["published"] == {"prod": 2}
    want = {1: ("quarantined", ["no_split_leakage"]), 2: ("published", [])}
    assert statuses(info["versions"]) == want
    assert statuses(c.get(f"/datasets/{DS}/versions").json()) == want
    listed = {d["name"]: d for d in c.get("/datasets/").json()}
    assert listed[DS]["channel"] == "prod" and listed[DS]["published"] == {"prod": 2}

    # a version built after the gate and not audited yet is a candidate
    w = make_client(root, token=TOKEN)
    ids = [it["id"] for it in w.get(f"/items/{DS}/?limit=1").json()["items"]]
    assert w.delete(f"/items/{DS}/", params={"ids": ids}, headers=AUTH).json()["dataset_version"] == 3
    assert statuses(c.get(f"/datasets/{DS}/versions").json())[3] == ("candidate", [])


def test_tag_prod_reads_the_channels_version(project):
    from pinlake.library.publish import publish

    root, registry = gated(project)
    fix_and_refresh(root, registry)
    c = make_client(root)
    assert c.get(f"/datasets/{DS}").json()["version"] == 2
    assert c.get(f"/datasets/{DS}?tag=prod").json()["version"] == 2
    assert c.get(f"/items/{DS}/?tag=prod&limit=1").json()["dataset_version"] == 2
    assert "prod" in c.get(f"/datasets/{DS}/versions").json()[1]["tags"]

    # the channel moves back to version 1 (a forced publish): ?tag=prod follows the catalog
    publish(root / "library", f"{DS}@1", registry=registry, force=True, reason="leak accepted for the pilot")
    info = c.get(f"/datasets/{DS}?tag=prod").json()
    assert info["version"] == 1 and info["published"] == {"prod": 1}
    assert c.get(f"/items/{DS}/?tag=prod&limit=1").json()["dataset_version"] == 1
    assert statuses(info["versions"]) == {1: ("published", ["no_split_leakage"]), 2: ("published", [])}


def test_one_channel_read_per_request(project, monkeypatch):
    from pinlake.api import deps

    root, registry = gated(project)
    fix_and_refresh(root, registry)
    calls = []
    real = deps.channel_state
    monkeypatch.setattr(deps, "channel_state", lambda path: calls.append(path) or real(path))
    c = make_client(root)
    for url in (f"/datasets/{DS}", f"/datasets/{DS}/versions"):
        calls.clear()
        assert len(c.get(url).json()) > 0
        assert len(calls) == 1, url


def test_ungated_dataset_has_no_status(client):
    info = client.get("/datasets/health_images").json()
    assert info["channel"] is None and info["published"] == {}
    assert {(v["status"], tuple(v["failed_checks"])) for v in info["versions"]} == {("", ())}
    assert client.get("/datasets/health_images/checks").json() == []  # never audited


def test_checks_route(project):
    from pinlake.library.publish import publish

    root, registry = gated(project)
    c = make_client(root)
    rows = c.get(f"/datasets/{DS}/checks?version=1").json()
    by_name = {r["name"]: r for r in rows}
    assert {"min_items", "no_split_leakage", "boxes_inside_images"} <= set(by_name)
    leak = by_name["no_split_leakage"]
    assert leak["status"] == "fail" and leak["blocking"] is True and leak["value"] == 3 and leak["threshold"] == 0
    assert leak["dataset"] == DS and leak["dataset_version"] == 1 and leak["channel"] == "prod"
    assert by_name["min_items"]["value"] == {"train": 12, "test": 3}  # decoded from the catalog's JSON
    assert all(r["checked_at"] == rows[0]["checked_at"] for r in rows)
    assert c.get(f"/datasets/{DS}/checks").json() == rows  # default: the latest version

    fix_and_refresh(root, registry)
    latest = c.get(f"/datasets/{DS}/checks").json()
    assert {r["dataset_version"] for r in latest} == {2} and not any(r["blocking"] for r in latest)
    assert c.get(f"/datasets/{DS}/checks?tag=prod").json() == latest

    # checked again (a forced publish runs the checks): only the last run's rows
    publish(root / "library", f"{DS}@1", registry=registry, force=True, reason="pilot")
    again = c.get(f"/datasets/{DS}/checks?version=1").json()
    assert len(again) == len(rows) and again[0]["checked_at"] > rows[0]["checked_at"]

    assert c.get("/datasets/nope/checks").status_code == 404
    assert c.get(f"/datasets/{DS}/checks?version=9").status_code == 404
    assert c.get(f"/datasets/{DS}/checks?version=1&tag=prod").status_code == 400
    assert c.get(f"/datasets/{'x' * 129}/checks").status_code == 422
    assert c.get("/datasets/..%2F..%2Fetc/checks").status_code == 404
    assert c.post(f"/datasets/{DS}/checks").status_code == 405  # read-only


@pytest.mark.e2e
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (run .ci/install-chromium.sh)")
def test_page_shows_channel_badges(project, browser, tmp_path):  # noqa: F811 - the fixture imported above
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root, registry = gated(project)
    fix_and_refresh(root, registry)
    w = make_client(root, token=TOKEN)
    ids = [it["id"] for it in w.get(f"/items/{DS}/?limit=1").json()["items"]]
    assert w.delete(f"/items/{DS}/", params={"ids": ids}, headers=AUTH).json()["dataset_version"] == 3  # a candidate

    port = free_port()
    proc = start_server(root, port)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(browser, 30, poll_frequency=0.05).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f'.dataset-card[data-name="{DS}"]')
        )
        card = browser.find_element(By.CSS_SELECTOR, f'.dataset-card[data-name="{DS}"]')
        assert "prod v2" in card.text
        card.click()
        WebDriverWait(browser, 30, poll_frequency=0.05).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline li")) == 3)

        def badge(version: int):
            return browser.find_element(By.CSS_SELECTOR, f'#timeline li[data-version="{version}"] .badge')

        v1, v2, v3 = badge(1), badge(2), badge(3)
        assert v1.text == "quarantined · no_split_leakage" and "no_split_leakage" in v1.get_attribute("title")
        assert "quarantined" in v1.get_attribute("class")
        assert v2.text == "published · prod" and "live" in v2.get_attribute("class")
        assert v3.text == "candidate" and "candidate" in v3.get_attribute("class")
        # the channel is shown by its badge, not repeated as a tag
        assert "prod" not in [t.text for t in browser.find_elements(By.CSS_SELECTOR, '#timeline li[data-version="2"] .tag')]
        colors = {v: b.value_of_css_property("background-color") for v, b in ((1, v1), (2, v2), (3, v3))}
        assert colors == {1: "rgba(254, 226, 226, 1)", 2: "rgba(22, 163, 74, 1)", 3: "rgba(254, 243, 199, 1)"}
        browser.execute_script("document.getElementById('timeline').scrollIntoView()")
        shot = tmp_path / "api-channels.png"
        assert browser.save_screenshot(str(shot))
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(shot, ARTIFACTS / "api-channels.png")
    finally:
        stop_server(proc)
