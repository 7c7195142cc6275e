"""The browser page in a real headless Chromium (selenium): datasets, grid, version picker, screenshot."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from api_client import AUTH, TOKEN, make_client
from test_serve import free_port, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (run .ci/install-chromium.sh)"),
]


@pytest.fixture()
def browser(tmp_path: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        opts.add_argument(arg)
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, predicate, timeout=30):
    """Wait for ``predicate``; an element it reads that the page replaced meanwhile (a re-render) is
    read again on the next try, not an error."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    # asked every 50 ms (Selenium's default is every 500 ms: most waits end within a few frames)
    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=ignored).until(lambda d: predicate(d))


def test_page_datasets_grid_and_versions(demo: Path, browser, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # version 2: 4 items fewer
    c = make_client(demo, token=TOKEN)
    ids = [it["id"] for it in c.get("/items/health_images/?limit=4").json()["items"]]
    assert c.delete("/items/health_images/", params={"ids": ids}, headers=AUTH).json()["dataset_version"] == 2

    port = free_port()
    proc = start_server(demo, port)
    try:
        base = f"http://127.0.0.1:{port}"
        browser.get(base + "/")
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".dataset-card"))
        card = browser.find_element(By.CSS_SELECTOR, '.dataset-card[data-name="health_images"]')
        assert "28 items" in card.text and "v2" in card.text
        card.click()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .thumb"))
        Select(browser.find_element(By.ID, "page-size")).select_by_value("48")
        _wait(browser, lambda d: "size=48" in d.current_url and d.execute_script("return document.body.dataset.ready") != "")
        _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .thumb")) == 28)
        # boxes and keypoints are drawn over the images
        assert browser.find_elements(By.CSS_SELECTOR, "#grid .thumb svg rect.box")
        assert browser.find_elements(By.CSS_SELECTOR, "#grid .thumb svg circle.kp")
        _wait(
            browser,
            lambda d: d.execute_script("return [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"),
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline li")) == 2
        # older version
        Select(browser.find_element(By.ID, "version-select")).select_by_value("1")
        _wait(browser, lambda d: "version=1" in d.current_url)
        _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .thumb")) == 32)
        assert "32 items · version 1" in browser.find_element(By.ID, "grid-status").text
        # split filter
        Select(browser.find_element(By.ID, "split-select")).select_by_value("test")
        _wait(browser, lambda d: "split=test" in d.current_url)
        _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .thumb")) == 8)
        # diff between v1 and v2
        browser.find_element(By.ID, "diff-run").click()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#diff-result table"))
        assert "item" in browser.find_element(By.ID, "diff-result").text
        shot = tmp_path / "api-page.png"
        assert browser.save_screenshot(str(shot))
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(shot, ARTIFACTS / "api-page.png")
        assert shot.stat().st_size > 10_000
    finally:
        stop_server(proc)


def test_a_page_that_loads_late_does_not_replace_the_one_shown(demo: Path, browser):
    """The grid's items come back slowly (a slow network, here a delayed fetch in the page) and the
    reader opens an item meanwhile: the item stays on screen and the page says it is ready for the
    item's address, not the grid's."""
    from selenium.webdriver.common.by import By

    c = make_client(demo)
    item_id = c.get("/items/health_images/?limit=1").json()["items"][0]["id"]
    port = free_port()
    proc = start_server(demo, port)
    try:
        browser.get(f"http://127.0.0.1:{port}/#/d/health_images")
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .thumb"))
        item_hash = f"#/d/health_images/item/{item_id}"
        browser.execute_script(
            """
            const slow = window.fetch;
            window.fetch = (url, ...rest) => String(url).startsWith("/items/health_images/?")
              ? new Promise((ok) => setTimeout(ok, 1500)).then(() => slow(url, ...rest)) : slow(url, ...rest);
            rerender();                  // the grid asks for its items again: they come back in 1.5 s
            location.hash = arguments[0];  // the reader opens an item meanwhile
            """,
            item_hash,
        )
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ed-svg"))
        _wait(browser, lambda d: d.execute_script("return document.body.dataset.ready") == item_hash)
        browser.execute_script("return new Promise((done) => setTimeout(done, 2500))")  # the grid's items are back
        assert browser.find_elements(By.CSS_SELECTOR, "#ed-svg"), "the late grid replaced the item"
        assert not browser.find_elements(By.CSS_SELECTOR, "#grid")
        assert browser.execute_script("return document.body.dataset.ready") == item_hash
    finally:
        stop_server(proc)
