"""Every built-in check on small real datasets (Lance tables, DuckDB), once passing and once failing."""

from __future__ import annotations

import pytest
from check_data import a_row, raw_write

from pinlake.datasets.checks import CheckResult, run_checks


def one(ds, config, baseline=None, splits=None) -> CheckResult:
    (result,) = run_checks(ds, config, baseline, splits=splits)
    return result


# --- min_items, no_empty_split ----------------------------------------------------------------
def test_min_items_whole_dataset_and_per_split(make_ds):
    ds = make_ds()  # 6 train, 3 test
    assert one(ds, {"min_items": 9}).status == "pass"
    r = one(ds, {"min_items": 10})
    assert (r.status, r.value, r.threshold, r.blocking) == ("fail", 9, 10, True)
    assert one(ds, {"min_items": {"train": 6, "test": 3}}).status == "pass"
    r = one(ds, {"min_items": {"train": 6, "test": 4, "val": 1}})
    assert r.status == "fail" and r.value == {"train": 6, "test": 3, "val": 0}
    assert "test: 3 < 4" in r.message and "val: 0 < 1" in r.message


def test_no_empty_split_from_the_entry_splits_or_the_baseline(make_ds):
    ds = make_ds()
    assert one(ds, {"no_empty_split": True}, splits=["train", "test"]).status == "pass"
    r = one(ds, {"no_empty_split": True}, splits=["train", "test", "val"])
    assert (r.status, r.value) == ("fail", 1) and "val" in r.message
    # no declared splits: a split the baseline had and the candidate lost
    test_ids = [i.id for i in ds.get_data("item", where="split = 'test'")]
    ds.delete_dataset_items(test_ids)
    baseline = ds.checkout(1)
    r = one(ds, {"no_empty_split": True}, baseline=baseline)
    assert r.status == "fail" and "test" in r.message and "baseline version 1" in r.message
    assert one(ds, {"no_empty_split": True}).status == "pass"  # nothing declared, no baseline: items exist


# --- content hashes -------------------------------------------------------------------------------
def test_no_split_leakage(make_ds):
    assert one(make_ds("clean"), {"no_split_leakage": True}).status == "pass"
    r = one(make_ds("leaky", leak=True), {"no_split_leakage": True})
    assert (r.status, r.value, r.blocking) == ("fail", 1, True)
    assert "test, train" in r.message


def test_no_split_leakage_uses_the_sha256_column_and_skips_without_hashes(make_ds):
    ds = make_ds("plain", embed=False)  # a folder build without --embed: no content hash at all
    r = one(ds, {"no_split_leakage": True})
    assert r.status == "skip" and "content hash" in r.message and not r.blocking
    # the sha256 column, when the build filled it: one train and one test image get the same hash
    item_split = {i.id: i.split for i in ds.get_data("item")}
    images = ds.get_data("image")
    test_img = next(v for v in images if item_split[v.item_ref.id] == "test")
    train_img = next(v for v in images if item_split[v.item_ref.id] == "train")
    ds.update_data("image", [train_img.model_copy(update={"sha256": "ab" * 32}), test_img.model_copy(update={"sha256": "ab" * 32})])
    r = one(ds, {"no_split_leakage": True})
    assert r.status == "fail" and r.value == 1 and "7 image(s) without a content hash not compared" in r.message


def test_no_duplicate_items(make_ds):
    assert one(make_ds("clean"), {"no_duplicate_items": True}).status == "pass"
    r = one(make_ds("dup", duplicate=True), {"no_duplicate_items": True})
    assert (r.status, r.value) == ("fail", 1) and "2 items of train" in r.message
    # the same image in two splits is leakage, not a duplicate within a split
    assert one(make_ds("leaky", leak=True), {"no_duplicate_items": True}).status == "pass"


# --- geometry -------------------------------------------------------------------------------------
def test_boxes_inside_images_pass_on_the_demo(make_ds):
    r = one(make_ds(), {"boxes_inside_images": True})
    assert r.status == "pass" and r.value == 0 and "inside their images" in r.message


def test_boxes_outside_empty_normalized_nan_and_keypoints_fail(make_ds):
    ds = make_ds()
    image = ds.to_arrow("image", columns=["id", "width", "height"], limit=1).to_pylist()[0]
    w, h = image["width"], image["height"]
    view = {"name": "image", "id": image["id"]}
    bad_boxes = [
        a_row(ds, "bbox", view_ref=view, coords=[w - 10.0, 5.0, 20.0, 10.0]),  # sticks out on the right
        a_row(ds, "bbox", view_ref=view, coords=[5.0, 5.0, 0.0, 10.0]),  # zero width
        a_row(ds, "bbox", view_ref=view, coords=[10.0, 10.0, 5.0, 5.0], format="xyxy"),  # x2 <= x1
        a_row(ds, "bbox", view_ref=view, coords=[0.5, 0.5, 0.6, 0.1], is_normalized=True),  # 0.5 + 0.6 > 1
        a_row(ds, "bbox", view_ref=view, coords=[float("nan"), 1.0, 2.0, 2.0]),  # NaN
        a_row(ds, "bbox", view_ref=view, coords=[0.1, 0.1, 0.2, 0.2], is_normalized=True),  # fine
        a_row(ds, "bbox", view_ref=view, coords=[w - 20.0, h - 20.0, w - 1.0, h - 1.0], format="xyxy"),  # fine
    ]
    ds2 = raw_write(ds, "bbox", bad_boxes)
    r = one(ds2, {"boxes_inside_images": True})
    assert (r.status, r.value) == ("fail", 5), r.message
    assert "1 box(es) NaN" in r.message and "2 box(es) width or height <= 0" in r.message and "2 box(es) outside the image" in r.message
    ds3 = raw_write(ds2, "keypoints", [a_row(ds2, "keypoints", view_ref=view, coords=[1.0, 1.0, w + 5.0, 2.0])])
    r = one(ds3, {"boxes_inside_images": True})
    assert r.value == 6 and "1 keypoint set(s) outside the image" in r.message
    assert one(ds, {"boxes_inside_images": True}).status == "pass"  # the version before is untouched


# --- categories -----------------------------------------------------------------------------------
def test_categories_listed(make_ds):
    ds = make_ds()
    values = sorted({o.category for o in ds.get_data("objects")})
    assert one(ds, {"categories": values}).status == "pass"
    r = one(ds, {"categories": values[1:]})
    assert r.status == "fail" and repr(values[0]) in r.message and r.value == sum(o.category == values[0] for o in ds.get_data("objects"))


def test_categories_default_to_the_baselines_values(make_ds):
    ds = make_ds()
    assert one(ds, {"categories": True}).status == "skip"  # no baseline to take them from
    obj = ds.get_data("objects", limit=1)[0]
    ds.update_data("objects", [obj.model_copy(update={"category": "banana"})])
    r = one(ds, {"categories": True}, baseline=ds.checkout(1))
    assert (r.status, r.value) == ("fail", 1) and "'banana' (1)" in r.message
    assert one(ds.checkout(1), {"categories": True}, baseline=ds.checkout(1)).status == "pass"


# --- drift against a baseline ----------------------------------------------------------------------
def test_max_row_change(make_ds):
    ds = make_ds()
    assert one(ds, {"max_row_change": 0.5}).status == "skip"
    assert one(ds, {"max_row_change": 0.0}, baseline=ds).status == "pass"
    train_ids = [i.id for i in ds.get_data("item", where="split = 'train'")]
    ds.delete_dataset_items(train_ids[:4])  # 9 -> 5 items: -44 %
    r = one(ds, {"max_row_change": 0.5}, baseline=ds.checkout(1))
    assert r.status == "pass" and 0.4 < r.value < 0.8
    r = one(ds, {"max_row_change": 0.3}, baseline=ds.checkout(1))
    assert r.status == "fail" and "item 44.4%" in r.message and "vs version 1" in r.message


def test_max_category_drift_and_warn(make_ds):
    ds = make_ds()
    assert one(ds, {"max_category_drift": 0.2}, baseline=ds).value == 0.0
    objects = ds.get_data("objects")
    ds.update_data("objects", [o.model_copy(update={"category": "heart"}) for o in objects])
    r = one(ds, {"max_category_drift": 0.2}, baseline=ds.checkout(1))
    assert r.status == "fail" and r.value > 0.5 and r.blocking
    r = one(ds, {"max_category_drift": 0.2, "warn": ["max_category_drift"]}, baseline=ds.checkout(1))
    assert (r.status, r.blocking) == ("warn", False)
    assert one(ds, {"max_category_drift": 1.0}, baseline=ds.checkout(1)).status == "pass"


# --- SQL ------------------------------------------------------------------------------------------
def test_sql_checks(make_ds):
    ds = make_ds()
    n = ds.num_rows("bbox")
    sql = [
        {"name": "no_tiny_boxes", "query": "SELECT count(*) FROM bbox WHERE coords[3] * coords[4] < 4", "expect": 0},
        {"name": "bbox_rows", "query": "SELECT count(*) FROM bbox", "expect": n + 1},
        {"name": "mean_width", "query": "SELECT avg(width) > 0 FROM image", "expect": True},
        {"name": "two_rows", "query": "SELECT 1 UNION ALL SELECT 2", "expect": 1},
        {"name": "boom", "query": "SELECT error('boom')", "expect": 0},
        {"name": "no_files", "query": "SELECT count(*) FROM read_csv('/etc/passwd')", "expect": 0},
        {"name": "vs_baseline", "query": "SELECT (SELECT count(*) FROM item) - (SELECT count(*) FROM baseline.item)", "expect": 0},
    ]
    results = {r.check: r for r in run_checks(ds, {"sql": sql}, ds)}
    assert results["no_tiny_boxes"].status == "pass"
    assert results["bbox_rows"].status == "fail" and results["bbox_rows"].value == n
    assert results["mean_width"].status == "pass"
    assert results["two_rows"].status == "error" and "single value" in results["two_rows"].message
    assert results["boom"].status == "error" and "boom" in results["boom"].message and results["boom"].blocking
    assert results["no_files"].status == "error" and "disabled" in results["no_files"].message
    assert results["vs_baseline"].status == "pass"


# --- a check that raises -------------------------------------------------------------------------
def test_a_raising_check_is_an_error_and_the_others_still_run(make_ds):
    ds = make_ds()
    obj = ds.get_data("objects", limit=1)[0]
    ds.update_data("objects", [obj.model_copy(update={"category": "banana"})])
    baseline = ds.checkout(1)
    baseline.version_file("features_values.json").write_text("{not json")  # a corrupt file of the baseline
    results = run_checks(ds, {"categories": True, "min_items": 1}, baseline)
    by = {r.check: r for r in results}
    assert by["categories"].status == "error" and by["categories"].message.startswith("JSONDecodeError")
    assert by["categories"].blocking
    assert by["min_items"].status == "pass"


def test_no_config_runs_nothing(make_ds):
    assert run_checks(make_ds(), {}) == []
    assert run_checks(make_ds("other"), None) == []


@pytest.mark.parametrize("key", ["no_split_leakage", "no_duplicate_items", "boxes_inside_images"])
def test_boolean_checks_off_do_not_run(make_ds, key):
    assert run_checks(make_ds(), {key: False}) == []
