"""The item editor in a real headless Chromium, driven with real mouse and key events: draw a box and pick a
category, move a box, delete an entity, two tabs on one item (409), the review tools, and read-only without a
token. Every save is checked through the API: one new version, source kind human, coordinates within a pixel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from api_client import AUTH, TOKEN, make_client
from test_browser import ARTIFACTS, CHROMIUM, _wait, browser  # noqa: F401 - browser is a fixture
from test_serve import free_port, start_server, stop_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (run .ci/install-chromium.sh)"),
]

DS = "health_images"


def _shot(driver, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / name)


def _screen(driver, x: float, y: float) -> tuple[int, int]:
    """The viewport point (whole CSS pixels) showing image pixel (x, y) in the editor."""
    sx, sy = driver.execute_script(
        "const r = document.querySelector('#ed-svg').getBoundingClientRect();"
        "return [r.left + ED.tx + arguments[0] * ED.s, r.top + ED.ty + arguments[1] * ED.s];",
        x,
        y,
    )
    return round(sx), round(sy)


def _image_point(driver, sx: int, sy: int) -> tuple[float, float]:
    """The image pixel under viewport point (sx, sy), by the page's own transform."""
    return tuple(
        driver.execute_script(
            "const r = document.querySelector('#ed-svg').getBoundingClientRect();"
            "return [(arguments[0] - r.left - ED.tx) / ED.s, (arguments[1] - r.top - ED.ty) / ED.s];",
            sx,
            sy,
        )
    )


def _grip(driver, box_id: str, coords: list[float]) -> tuple[int, int]:
    """A viewport point inside the box ``box_id`` where the box itself is on top (not a keypoint)."""
    x, y, w, h = coords
    for fx, fy in ((0.5, 0.5), (0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75), (0.5, 0.15), (0.15, 0.5)):
        sx, sy = _screen(driver, x + w * fx, y + h * fy)
        top = driver.execute_script("const e = document.elementFromPoint(arguments[0], arguments[1]); return e && e.dataset.id", sx, sy)
        if top == box_id:
            return sx, sy
    raise AssertionError(f"no point of box {box_id} is on top")


def _drag(driver, start: tuple[int, int], end: tuple[int, int]) -> None:
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver)
    pointer = actions.pointer_action
    pointer.move_to_location(*start)
    pointer.pointer_down()
    for k in (1, 2, 3):
        pointer.move_to_location(start[0] + (end[0] - start[0]) * k // 4, start[1] + (end[1] - start[1]) * k // 4)
    pointer.move_to_location(*end)
    pointer.release()
    actions.perform()


def _open_item(driver, base: str, item_id: str) -> None:
    driver.get(f"{base}/#/d/{DS}/item/{item_id}")
    _wait(
        driver,
        lambda d: d.execute_script("const i = document.querySelector('#ed-image'); return !!i && ED && ED.id === arguments[0]", item_id),
    )


def _save(driver, expect: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "ed-save").click()
    _wait(driver, lambda d: expect in d.find_element(By.ID, "ed-status").text)


def _box_of(c, item_id: str, box_id: str, version: int | None = None) -> list[float]:
    q = f"?version={version}" if version else ""
    return c.get(f"/annotations/{DS}/bbox/{box_id}{q}").json()["data"]["coords"]


def click_first(driver, css: str) -> bool:
    """Click the first element ``css`` finds; False (try again) while the page replaces or hides it."""
    from selenium.common.exceptions import ElementClickInterceptedException, ElementNotInteractableException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        driver.find_elements(By.CSS_SELECTOR, css)[0].click()
    except (StaleElementReferenceException, ElementNotInteractableException, ElementClickInterceptedException, IndexError):
        return False
    return True


def test_editor_draw_move_delete_conflict_review(demo: Path, browser, tmp_path: Path):  # noqa: F811 - the fixture
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    c = make_client(demo)
    port = free_port()
    proc = start_server(demo, port, token=TOKEN)
    try:
        base = f"http://127.0.0.1:{port}"
        browser.get(f"{base}/#/d/{DS}")
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .thumb"))
        assert not browser.find_elements(By.CSS_SELECTOR, ".edit-control")  # locked until the token is entered
        browser.find_element(By.ID, "token-input").send_keys("wrong")
        browser.find_element(By.ID, "token-submit").click()
        _wait(browser, lambda d: d.find_elements(By.ID, "token-error"))
        browser.find_element(By.ID, "token-input").send_keys(TOKEN)
        browser.find_element(By.ID, "token-submit").click()
        _wait(browser, lambda d: d.find_elements(By.ID, "auth-user"))

        # 1. open an item from the grid
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .thumb"))
        # the grid is drawn again once the token is in: a click on a thumb the redraw then replaces
        # opens nothing (on a busy machine the redraw can land after the click), so click again
        # while the grid is still what the page shows
        _wait(
            browser,
            lambda d: (
                (d.find_elements(By.CSS_SELECTOR, "#ed-svg rect.box") and d.find_elements(By.ID, "tool-draw"))
                or (click_first(d, "#grid .thumb") and False)
            ),
        )
        item_id = browser.execute_script("return ED.id")
        before = c.get(f"/items/{DS}/{item_id}").json()
        n_entities, n_boxes = len(before["entities"]["objects"]), len(before["annotations"]["bbox"])
        assert len(browser.find_elements(By.CSS_SELECTOR, "#entities li")) == n_entities
        assert "Builder · other" in browser.find_element(By.ID, "entities").text  # the annotation source
        # zoom in (wheel-free: the button) so that screen and image pixels differ
        browser.find_element(By.ID, "zoom-in").click()
        scale = browser.execute_script("return ED.s")
        assert scale > 1

        # 2. draw a box and type a category
        browser.find_element(By.ID, "tool-draw").click()
        p0, p1 = _screen(browser, 30, 40), _screen(browser, 110, 95)
        _drag(browser, p0, p1)
        _wait(browser, lambda d: d.find_elements(By.ID, "category-input"))
        category = browser.find_element(By.ID, "category-input")
        assert browser.switch_to.active_element == category
        category.send_keys(Keys.CONTROL, "a")
        category.send_keys("kidney", Keys.ENTER)
        browser.find_element(By.ID, "ed-message").send_keys("box the kidney")
        (x0, y0), (x1, y1) = _image_point(browser, *p0), _image_point(browser, *p1)
        _shot(browser, tmp_path, "editor-draw.png")
        _save(browser, "saved as version 2")
        after = c.get(f"/items/{DS}/{item_id}").json()
        assert after["dataset_version"] == 2
        assert len(after["entities"]["objects"]) == n_entities + 1 and len(after["annotations"]["bbox"]) == n_boxes + 1
        (new_entity,) = [e for e in after["entities"]["objects"] if e["data"]["category"] == "kidney"]
        (new_box,) = [b for b in after["annotations"]["bbox"] if b["data"]["entity_ref"]["id"] == new_entity["id"]]
        assert new_box["data"]["coords"] == pytest.approx([x0, y0, x1 - x0, y1 - y0], abs=1.0)
        assert after["sources"][new_box["data"]["source_ref"]["id"]]["data"]["kind"] == "human"
        v2 = c.get(f"/datasets/{DS}/versions").json()[-1]
        assert v2["operation"] == "annotate" and v2["summary"]["source_kind"] == "human" and v2["summary"]["user"] == "api"
        assert v2["message"].startswith("box the kidney") and v2["summary"]["items"] == item_id

        # 3. move an existing box (drag its body), then save
        old = before["annotations"]["bbox"][0]
        ox, oy, ow, oh = old["data"]["coords"]
        start = _grip(browser, old["id"], old["data"]["coords"])
        end = (start[0] + 24, start[1] + 16)
        browser.find_element(By.ID, "tool-select").click()
        _drag(browser, start, end)
        (ax, ay), (bx, by) = _image_point(browser, *start), _image_point(browser, *end)
        _save(browser, "saved as version 3")
        moved = _box_of(c, item_id, old["id"])
        assert moved == pytest.approx([ox + bx - ax, oy + by - ay, ow, oh], abs=1.0)
        assert _box_of(c, item_id, old["id"], version=2) == [ox, oy, ow, oh]

        # 4. delete an entity with the keyboard: it and its annotations are gone in version 4, kept in version 3
        victim = old["data"]["entity_ref"]["id"]
        kps = [k["id"] for k in before["annotations"]["keypoints"] if k["data"]["entity_ref"]["id"] == victim]
        browser.find_element(By.CSS_SELECTOR, f'#entities li[data-id="{victim}"] .category').click()
        _wait(browser, lambda d: d.execute_script("return ED.selected") == victim)
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.DELETE)
        _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, f'#entities li[data-id="{victim}"]'))
        _save(browser, "saved as version 4")
        assert c.get(f"/entities/{DS}/objects/{victim}").status_code == 404
        assert c.get(f"/annotations/{DS}/bbox/{old['id']}").status_code == 404
        assert all(c.get(f"/annotations/{DS}/keypoints/{k}").status_code == 404 for k in kps) and kps
        assert c.get(f"/entities/{DS}/objects/{victim}?version=3").status_code == 200
        assert c.get(f"/annotations/{DS}/bbox/{old['id']}?version=3").status_code == 200
        assert len(c.get(f"/items/{DS}/{item_id}").json()["entities"]["objects"]) == n_entities

        # 5. two tabs edit the same box: the second save gets the 409 message and offers to reload
        first = browser.current_window_handle
        browser.switch_to.new_window("tab")
        second = browser.current_window_handle
        _open_item(browser, base, item_id)
        for handle, dx in ((first, 10), (second, -10)):
            browser.switch_to.window(handle)
            if handle == first:
                _open_item(browser, base, item_id)
            s = _grip(browser, new_box["id"], new_box["data"]["coords"])
            _drag(browser, s, (s[0] + dx, s[1] + dx))
            _wait(browser, lambda d: d.find_element(By.ID, "ed-save").is_enabled())
        browser.switch_to.window(first)
        _save(browser, "saved as version 5")
        browser.switch_to.window(second)
        browser.find_element(By.ID, "ed-save").click()
        _wait(browser, lambda d: d.find_elements(By.ID, "ed-reload"))
        status = browser.find_element(By.ID, "ed-status").text
        assert "Not saved" in status and "changed by version 5" in status and "nothing saved" in status
        _shot(browser, tmp_path, "editor-conflict.png")
        assert [v["dataset_version"] for v in c.get(f"/datasets/{DS}/versions").json()][-1] == 5
        browser.find_element(By.ID, "ed-reload").click()
        _wait(browser, lambda d: d.execute_script("return ED.base") == 5 and "version 5" in d.find_element(By.ID, "ed-status").text)
        browser.close()
        browser.switch_to.window(first)

        # 6. review: the timeline names the author; diff with previous draws the moved box; restore the previous version
        browser.get(f"{base}/#/d/{DS}")
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#timeline li[data-version="5"] .diff-prev'))
        # the timeline is drawn again once the page knows the token: read and click what is there then
        entry = '#timeline li[data-version="2"]'
        _wait(browser, lambda d: all(w in d.find_element(By.CSS_SELECTOR, entry).text for w in ("human", "api", "box the kidney")))
        _wait(browser, lambda d: click_first(d, '#timeline li[data-version="5"] .diff-prev'))
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#visual-diff .diff-item"))
        assert browser.find_elements(By.CSS_SELECTOR, f'#visual-diff rect.diff-added[data-id="{new_box["id"]}"]')
        assert browser.find_elements(By.CSS_SELECTOR, f'#visual-diff rect.diff-removed[data-id="{new_box["id"]}"]')
        browser.execute_script("document.querySelector('#visual-diff').scrollIntoView()")
        _shot(browser, tmp_path, "editor-review.png")
        _wait(browser, lambda d: click_first(d, '#timeline li[data-version="5"] .restore-prev'))
        _wait(browser, lambda d: d.switch_to.alert)
        browser.switch_to.alert.accept()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#timeline li[data-version="6"]'))
        v6 = c.get(f"/datasets/{DS}/versions").json()[-1]
        assert v6["operation"] == "restore" and v6["summary"]["restored_from"] == "4" and v6["summary"]["user"] == "api"
        assert c.get(f"/datasets/{DS}/diff?a=4&b=6").json()["num_ids"] == 0
    finally:
        stop_server(proc)


def test_editor_hidden_without_a_token(demo: Path, browser, tmp_path: Path):  # noqa: F811 - the fixture
    from selenium.webdriver.common.by import By

    item_id = make_client(demo).get(f"/items/{DS}/?limit=1").json()["items"][0]["id"]
    port = free_port()
    proc = start_server(demo, port)  # no PINLAKE_API_TOKEN: read only
    try:
        base = f"http://127.0.0.1:{port}"
        browser.get(f"{base}/#/d/{DS}")
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline li"))
        _open_item(browser, base, item_id)
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ed-svg rect.box") and d.find_elements(By.CSS_SELECTOR, "#entities li"))
        assert browser.execute_script("return ED.readOnly") is True
        for selector in (
            ".edit-control",
            "#token-input",
            "#tool-draw",
            "#ed-save",
            "#category-input",
            ".delete-entity",
            ".handle",
            ".restore-prev",
        ):
            assert not [e for e in browser.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()], selector
        # dragging a box pans instead of moving it; no version is made
        before = browser.execute_script("return [ED.tx, ED.ty, JSON.stringify(ED.work)]")
        box = browser.find_element(By.CSS_SELECTOR, "#ed-svg rect.box")
        r = box.rect
        start = (round(r["x"] + r["width"] / 2), round(r["y"] + r["height"] / 2))
        _drag(browser, start, (start[0] + 30, start[1] + 20))
        after = browser.execute_script("return [ED.tx, ED.ty, JSON.stringify(ED.work)]")
        assert after[2] == before[2] and after[:2] != before[:2]
        _shot(browser, tmp_path, "editor-readonly.png")
        assert [v["dataset_version"] for v in make_client(demo).get(f"/datasets/{DS}/versions").json()] == [1]
    finally:
        stop_server(proc)


def test_ctrl_s_twice_saves_once(demo: Path, browser):  # noqa: F811 - the fixture
    """A second Ctrl+S while the first save is on its way sends nothing: one version, no error shown."""
    from selenium.webdriver.common.by import By

    c = make_client(demo)
    item = c.get(f"/items/{DS}/?limit=1").json()["items"][0]["id"]
    box = c.get(f"/items/{DS}/{item}").json()["annotations"]["bbox"][0]
    port = free_port()
    proc = start_server(demo, port, token=TOKEN)
    try:
        base = f"http://127.0.0.1:{port}"
        browser.get(f"{base}/#/")
        browser.execute_script("localStorage.setItem('pinlake.token', arguments[0])", TOKEN)
        browser.get(f"{base}/?unlocked#/d/{DS}/item/{item}")
        _wait(browser, lambda d: d.find_elements(By.ID, "ed-save") and d.find_elements(By.CSS_SELECTOR, "#ed-svg rect.box"))
        start = _grip(browser, box["id"], box["data"]["coords"])
        _drag(browser, start, (start[0] + 12, start[1] + 8))
        _wait(browser, lambda d: d.find_element(By.ID, "ed-save").is_enabled())
        # two Ctrl+S in one task (real key presses land too far apart to hit the window on a fast machine)
        browser.execute_script(
            "for (let i = 0; i < 2; i++) document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 's', ctrlKey: true, bubbles: true}));"
        )
        _wait(browser, lambda d: "saved as version 2" in d.find_element(By.ID, "ed-status").text)
        browser.execute_script("return new Promise((done) => setTimeout(done, 1500))")  # a second request would have answered
        assert "Not saved" not in browser.find_element(By.ID, "ed-status").text
        assert [v["dataset_version"] for v in c.get(f"/datasets/{DS}/versions").json()] == [1, 2]
    finally:
        stop_server(proc)


def _unlocked(driver, base: str, item_id: str | None = None) -> None:
    """The page with the API token entered: the dataset's grid, or the item ``item_id``."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/#/")
    driver.execute_script("localStorage.setItem('pinlake.token', arguments[0])", TOKEN)
    if item_id is None:
        driver.get(f"{base}/?unlocked#/d/{DS}")
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .thumb") and d.find_elements(By.ID, "auth-user"))
    else:
        driver.get(f"{base}/?unlocked#/d/{DS}/item/{item_id}")
        _wait(driver, lambda d: d.find_elements(By.ID, "tool-draw") and d.find_elements(By.ID, "ed-image"))


def _on_top(driver, css: str) -> tuple[int, int]:
    """The viewport centre of the element ``css``, checked to be the element a click there reaches."""
    point = driver.execute_script(
        "const e = document.querySelector(arguments[0]); if (!e) return null;"
        "const r = e.getBoundingClientRect(); const x = Math.round(r.left + r.width / 2), y = Math.round(r.top + r.height / 2);"
        "return document.elementFromPoint(x, y) === e ? [x, y] : null;",
        css,
    )
    assert point, f"{css} is absent or under another shape"
    return point[0], point[1]


def _keys(driver, *keys: str, held: tuple[str, ...] = ()) -> None:
    """Real key presses on the focused element (the page body), with the modifier keys ``held`` down."""
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for key in held:
        chain.key_down(key)
    chain.send_keys(*keys)
    for key in reversed(held):
        chain.key_up(key)
    chain.perform()


def _alert(driver):
    from selenium.webdriver.support import expected_conditions

    return _wait(driver, expected_conditions.alert_is_present(), timeout=10)


def _normalise_boxes(demo: Path) -> str:
    """Version 2 deletes the first item's entities (and so its boxes); version 3 stores every other box
    normalised (coordinates divided by the image's size). Returns the item without boxes."""
    from pinlake.datasets.dataset import Dataset
    from pinlake.library.annotate import TableEdits, edit_item

    ds = Dataset(demo / "library" / DS)
    items = ds.get_dataset_items()
    bare = items[0]
    edit_item(ds, bare.id, {"objects": TableEdits(delete=[e.id for e in bare.objects])}, base_version=1, user="prep")
    size = {it.id: (it.image.width, it.image.height) for it in items}
    boxes = [b for it in items[1:] for b in it.bbox]
    ds.update_data(
        "bbox",
        [
            b.model_copy(update={"is_normalized": True, "coords": [v / size[b.item_ref.id][k % 2] for k, v in enumerate(b.coords)]})
            for b in boxes
        ],
    )
    return bare.id


def test_new_box_on_an_item_without_boxes_follows_a_normalised_dataset(demo: Path, browser):  # noqa: F811 - the fixture
    """The dataset's boxes are normalised and the item has none: the drawn box is saved normalised too."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    bare = _normalise_boxes(demo)
    c = make_client(demo)
    item = c.get(f"/items/{DS}/{bare}").json()
    assert item["annotations"]["bbox"] == [] and item["tables"]["bbox"]["normalized"] is True
    width, height = item["views"]["image"]["data"]["width"], item["views"]["image"]["data"]["height"]
    port = free_port()
    proc = start_server(demo, port, token=TOKEN)
    try:
        _unlocked(browser, f"http://127.0.0.1:{port}", bare)
        browser.find_element(By.ID, "tool-draw").click()
        p0, p1 = _screen(browser, 30, 40), _screen(browser, 110, 95)
        _drag(browser, p0, p1)
        _wait(browser, lambda d: d.find_elements(By.ID, "category-input"))
        browser.find_element(By.ID, "category-input").send_keys(Keys.CONTROL, "a")
        browser.find_element(By.ID, "category-input").send_keys("lesion", Keys.ENTER)
        (x0, y0), (x1, y1) = _image_point(browser, *p0), _image_point(browser, *p1)
        _save(browser, f"saved as version {item['dataset_version'] + 1}")
        (box,) = c.get(f"/items/{DS}/{bare}").json()["annotations"]["bbox"]
        assert box["data"]["is_normalized"] is True and box["data"]["format"] == "xywh"
        x, y, w, h = box["data"]["coords"]
        assert all(0 <= v <= 1 for v in (x, y, w, h))
        assert [x * width, y * height, w * width, h * height] == pytest.approx([x0, y0, x1 - x0, y1 - y0], abs=1.0)
    finally:
        stop_server(proc)


def test_resize_drag_keypoint_undo_redo(demo: Path, browser):  # noqa: F811 - the fixture
    """Resize a box by its corner handle, drag a keypoint, Ctrl+Z back one step at a time, Ctrl+Shift+Z
    forward again; the save holds exactly the state the keys left."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    c = make_client(demo)
    item_id = c.get(f"/items/{DS}/?limit=1").json()["items"][0]["id"]
    item = c.get(f"/items/{DS}/{item_id}").json()
    box = next(
        b
        for b in item["annotations"]["bbox"]
        if any(k["data"]["entity_ref"] == b["data"]["entity_ref"] for k in item["annotations"]["keypoints"])
    )
    kp = next(k for k in item["annotations"]["keypoints"] if k["data"]["entity_ref"] == box["data"]["entity_ref"])
    x, y, w, h = box["data"]["coords"]
    port = free_port()
    proc = start_server(demo, port, token=TOKEN)
    try:
        _unlocked(browser, f"http://127.0.0.1:{port}", item_id)
        work = "return rowById(arguments[0], arguments[1]).data.coords"

        # select the box (a click on it), then drag its bottom-right handle: the box grows as dragged
        _drag(browser, *(2 * [_grip(browser, box["id"], box["data"]["coords"])]))
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'#ed-svg .handle.h-se[data-id="{box["id"]}"]'))
        start = _on_top(browser, f'#ed-svg .handle.h-se[data-id="{box["id"]}"]')
        end = (start[0] + 30, start[1] + 18)
        _drag(browser, start, end)
        ex, ey = _image_point(browser, *end)
        resized = browser.execute_script(work, "bbox", box["id"])
        assert resized == pytest.approx([x, y, ex - x, ey - y], abs=1.0) and resized[2] > w and resized[3] > h

        # drag the entity's first keypoint: its coordinates follow the pointer, the other points stay
        start = _on_top(browser, f'#ed-svg circle.kp[data-id="{kp["id"]}"][data-i="0"]')
        end = (start[0] - 20, start[1] + 25)
        _drag(browser, start, end)
        kx, ky = _image_point(browser, *end)
        moved = browser.execute_script(work, "keypoints", kp["id"])
        assert moved[:2] == pytest.approx([kx, ky], abs=1.0) and moved[2:] == kp["data"]["coords"][2:]
        assert moved[:2] != pytest.approx(kp["data"]["coords"][:2], abs=1.0)

        # Ctrl+Z: the keypoint goes back, the resize stays; again: the box goes back; Ctrl+Shift+Z: resized again
        _keys(browser, "z", held=(Keys.CONTROL,))
        _wait(browser, lambda d: d.execute_script(work, "keypoints", kp["id"]) == kp["data"]["coords"])
        assert browser.execute_script(work, "bbox", box["id"]) == resized
        _keys(browser, "z", held=(Keys.CONTROL,))
        _wait(browser, lambda d: d.execute_script(work, "bbox", box["id"]) == box["data"]["coords"])
        assert "unsaved" not in browser.find_element(By.ID, "ed-status").text
        assert browser.find_element(By.ID, "ed-save").text == "Saved"
        _keys(browser, "z", held=(Keys.CONTROL, Keys.SHIFT))
        _wait(browser, lambda d: d.execute_script(work, "bbox", box["id"]) == resized)
        _save(browser, "saved as version 2")
        after = c.get(f"/items/{DS}/{item_id}").json()
        (saved,) = [b for b in after["annotations"]["bbox"] if b["id"] == box["id"]]
        assert saved["data"]["coords"] == pytest.approx(resized)
        (saved_kp,) = [k for k in after["annotations"]["keypoints"] if k["id"] == kp["id"]]
        assert saved_kp["data"]["coords"] == kp["data"]["coords"]
    finally:
        stop_server(proc)


def test_item_keys_and_leaving_unsaved_edits_asks(demo: Path, browser):  # noqa: F811 - the fixture
    """→ / n and ← / p open the grid's next and previous items; with unsaved edits, prev / next, browser back
    and the grid link ask first (once), and staying keeps the edits and the item's address."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    port = free_port()
    proc = start_server(demo, port, token=TOKEN)
    try:
        _unlocked(browser, f"http://127.0.0.1:{port}")
        ids = browser.execute_script(f"return gridIds('{DS}')")
        assert len(ids) > 2
        _wait(browser, lambda d: click_first(d, "#grid .thumb"))

        def shown(i: int):
            js = "return !!ED && ED.id === arguments[0] && !!document.querySelector('#ed-image')"
            return lambda d: d.execute_script(js, ids[i])

        _wait(browser, shown(0))
        for key, at in ((Keys.ARROW_RIGHT, 1), ("n", 2), ("p", 1), (Keys.ARROW_LEFT, 0)):
            _keys(browser, key)
            _wait(browser, shown(at))
            assert ids[at] in browser.current_url
        _keys(browser, Keys.ARROW_LEFT)  # the first item has no previous one
        assert browser.execute_script("return ED.id") == ids[0]

        def move_a_box() -> None:
            _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ed-svg rect.box"))
            box = browser.execute_script("return ED.work.bbox[0]")
            start = _grip(browser, box["id"], box["data"]["coords"])
            _drag(browser, start, (start[0] + 12, start[1] + 8))
            _wait(browser, lambda d: d.execute_script("return changes().n") == 1)

        # next with an unsaved edit: asked; staying keeps it; leaving asks once, not again on the hash change
        move_a_box()
        _keys(browser, "n")
        _alert(browser).dismiss()
        assert browser.execute_script("return [ED.id, changes().n]") == [ids[0], 1]
        _keys(browser, "n")
        _alert(browser).accept()
        _wait(browser, shown(1))
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 - raises when no dialog is open

        # browser back with an unsaved edit: asked; staying keeps the edit and the item's address
        move_a_box()
        browser.execute_script("history.back()")
        assert "Discard the unsaved changes" in _alert(browser).text
        browser.switch_to.alert.dismiss()
        _wait(browser, lambda d: ids[1] in d.current_url)
        assert browser.execute_script("return [ED.id, changes().n, !!document.querySelector('#ed-svg')]") == [ids[1], 1, True]
        # the grid link: asked; leaving shows the grid
        browser.find_element(By.ID, "ed-back").click()
        _alert(browser).accept()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .thumb") and not d.find_elements(By.ID, "ed-svg"))
    finally:
        stop_server(proc)


def test_leaving_while_a_save_is_on_its_way(demo: Path, browser):  # noqa: F811 - the fixture
    """The reader saves and moves on before the reply (a slow network, here the page's save request
    held until the test lets it go): the page does not ask to discard the edits, the view they went
    to stays on screen when the reply comes, and a line under the header says how the save ended,
    naming and linking the item saved. Once saved (version 2) after opening another item, once
    refused after going back to the grid (another editor moved the same box meanwhile: 409)."""
    from selenium.webdriver.common.by import By

    c = make_client(demo, token=TOKEN)
    item, other = [i["id"] for i in c.get(f"/items/{DS}/?limit=2").json()["items"]]
    port = free_port()
    proc = start_server(demo, port, token=TOKEN)
    hold_saves = """
        const send = window.fetch;
        const held = new Promise((go) => { window.letSaveGo = go; });
        window.fetch = (url, opts, ...rest) => opts && opts.method === "POST" && String(url).endsWith("/edits")
          ? held.then(() => send(url, opts, ...rest)) : send(url, opts, ...rest);
        document.getElementById("ed-save").click();
        location.hash = arguments[0];  // on to another view at once
    """
    try:
        base = f"http://127.0.0.1:{port}"
        for to, conflict in ((f"#/d/{DS}/item/{other}", False), (f"#/d/{DS}", True)):
            _unlocked(browser, base, item)
            box = browser.execute_script("return ED.work[ED.bboxTable][0]")
            start = _grip(browser, box["id"], box["data"]["coords"])
            _drag(browser, start, (start[0] + 12, start[1] + 8))
            _wait(browser, lambda d: d.find_element(By.ID, "ed-save").is_enabled())
            browser.execute_script(hold_saves, to)  # an alert asking to discard would fail the next call
            _wait(browser, lambda d, to=to: d.execute_script("return document.body.dataset.ready") == to)
            if conflict:  # another editor moves the same box while this save is held
                moved = {**box, "data": {**box["data"], "coords": [5.0, 5.0, 10.0, 10.0]}}
                r = c.post(f"/items/{DS}/{item}/edits", json={"base_version": 2, "tables": {"bbox": {"update": [moved]}}}, headers=AUTH)
                assert r.status_code == 200, r.text
            assert not browser.find_element(By.ID, "notice").is_displayed()
            browser.execute_script("window.letSaveGo()")
            _wait(browser, lambda d: d.find_element(By.ID, "notice").is_displayed())
            line = browser.find_element(By.CSS_SELECTOR, "#notice p")
            link = line.find_element(By.TAG_NAME, "a").get_attribute("href")
            assert link.endswith(f"#/d/{DS}/item/{item}"), link
            if conflict:
                assert line.text.startswith(f"{DS} / {item}: not saved:") and "nothing saved" in line.text, line.text
                assert line.get_attribute("class") == "error" and line.get_attribute("role") == "alert"
                assert browser.find_elements(By.CSS_SELECTOR, "#grid .thumb"), "the save drew over the grid"
            else:
                assert line.text.startswith(f"{DS} / {item}: saved as version 2"), line.text
                assert browser.execute_script("return ED.id") == other, "the save drew over the item opened since"
            assert browser.execute_script("return document.body.dataset.ready") == to
            line.find_element(By.CSS_SELECTOR, "button.close").click()
            assert not browser.find_element(By.ID, "notice").is_displayed()
        assert [v["dataset_version"] for v in c.get(f"/datasets/{DS}/versions").json()] == [1, 2, 3]
    finally:
        stop_server(proc)
