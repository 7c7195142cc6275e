"""check_dataset: the registry entry's checks on one version, against the channel's version or the one before."""

from __future__ import annotations

import pytest
import yaml

from pinlake.errors import NotFoundError
from pinlake.library.check import check_dataset
from pinlake.library.publish import publish


def registry(tmp_path, name="h", **entry):
    path = tmp_path / "recipes" / "datasets.yaml"
    path.parent.mkdir(exist_ok=True)
    (path.parent / "r.py").write_text("")
    path.write_text(yaml.safe_dump([{"name": name, "script_location": "./r.py", **entry}], sort_keys=False))
    return path


def test_report_and_baseline_is_the_channel_else_the_previous_version(tmp_path, make_ds):
    ds = make_ds()
    library = tmp_path / "library"
    checks = {"min_items": {"train": 2, "test": 3}, "max_row_change": 0.5, "warn": ["max_row_change"]}
    gated = registry(tmp_path, channel="prod", splits=["train", "test"], checks=checks)
    assert publish(library, "h@1", registry=gated).published  # prod: version 1
    train_ids = [i.id for i in ds.get_data("item", where="split = 'train'")]
    ds.delete_dataset_items(train_ids[:1])  # v2: 8 items
    ds.delete_dataset_items(train_ids[1:4])  # v3: 5 items
    report = check_dataset(library, "h", registry=gated)
    assert (report.version, report.baseline_version, report.channel) == (3, 1, "prod")
    assert report.passed and report.blocking == []
    by = {r.check: r for r in report.results}
    assert by["min_items"].status == "pass"
    assert round(by["max_row_change"].value, 3) == round(4 / 9, 3)  # vs version 1 (prod): 9 -> 5 items
    data = report.to_dict()
    assert data["passed"] is True and [r["check"] for r in data["results"]] == ["min_items", "max_row_change"]
    # without a channel the baseline is the version before
    plain = registry(tmp_path, checks={**checks, "max_row_change": 0.3, "warn": []})
    report = check_dataset(library, "h", registry=plain)
    assert report.baseline_version == 2 and not report.passed and [r.check for r in report.blocking] == ["max_row_change"]
    # a pin names the version; the channel's own version is compared with the one before it (none)
    report = check_dataset(library, "h@prod", registry=gated)
    assert (report.version, report.baseline_version) == (1, None)
    assert check_dataset(library, "h", version=2, registry=plain).version == 2


def test_no_checks_declared_passes_empty(tmp_path, make_ds):
    make_ds()
    report = check_dataset(tmp_path / "library", "h", registry=registry(tmp_path))
    assert report.passed and report.results == []


def test_unknown_dataset_entry_or_version(tmp_path, make_ds):
    make_ds()
    library = tmp_path / "library"
    with pytest.raises(NotFoundError, match="no dataset 'nope'"):
        check_dataset(library, "nope", registry=registry(tmp_path))
    with pytest.raises(NotFoundError, match="no entry 'h'"):
        check_dataset(library, "h", registry=registry(tmp_path, name="other"))
    with pytest.raises(NotFoundError, match="no version 7"):
        check_dataset(library, "h@7", registry=registry(tmp_path))
    with pytest.raises(NotFoundError, match="does not exist"):
        check_dataset(library, "h", registry=tmp_path / "missing.yaml")
