"""A diff read from the changed rows (the fragments' delta) equals the diff of the whole versions,
in either direction, across random writes, a maintain's compaction and an index-only version."""

from __future__ import annotations

import random

import pyarrow as pa
from test_stats_delta import random_write

from pinlake.datasets.tables import open_table
from pinlake.datasets.versions import VersionLog
from pinlake.library import diff
from pinlake.library.diff import compared_rows, diff_versions
from pinlake.library.maintain import maintain_dataset


def whole_diff(path, a, b, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(diff, "DELTA_MIN_ROWS", 0)
        m.setattr(diff, "DELTA_FRACTION", 0.0)  # any change: the whole versions are compared
        return diff_versions(path, a, b)


def test_the_diff_of_the_changed_rows_is_the_whole_diff(health_ds, monkeypatch):
    ds, rng = health_ds, random.Random(0)
    for _ in range(10):
        random_write(ds, rng)
    maintain_dataset(ds.path, fragments=1)  # a compaction: the fragments no longer tell
    random_write(ds, rng)
    versions = [e.dataset_version for e in VersionLog(ds.path).entries()]
    assert len(versions) >= 9
    # each write, a few spans of several writes both ways, and the first against the last (across the compaction)
    steps = list(zip(versions, versions[1:], strict=False))
    spans = [p for a, b in (sorted(rng.sample(versions, 2)) for _ in range(3)) for p in ((a, b), (b, a))]
    pairs = steps + spans + [(1, versions[-1]), (versions[-1], 1)]
    for a, b in pairs:
        got, expected = diff_versions(ds.path, a, b), whole_diff(ds.path, a, b, monkeypatch)
        assert got["tables"] == expected["tables"] and got["ids"].equals(expected["ids"]), (a, b)


def test_a_one_row_change_reads_that_row_and_an_index_only_version_reads_none(health_ds):
    ds = health_ds
    item = ds.get_data("item", limit=1)[0]
    ds.update_data("item", [dict(item.model_dump(), image_type="edited")])
    log = VersionLog(ds.path)
    v1, v2 = log.get(1).tables["item"], log.get(2).tables["item"]
    cols = ["id", "image_type"]
    ra, rb = compared_rows(open_table(ds.path, "item", v1), open_table(ds.path, "item", v2), cols)
    assert isinstance(ra, pa.Table) and ra.to_pylist() == [{"id": item.id, "image_type": item.image_type}]
    assert rb.to_pylist() == [{"id": item.id, "image_type": "edited"}]
    assert diff_versions(ds.path, 1, 2)["tables"]["item"] == {"added": 0, "removed": 0, "changed": 1}

    _, indexed, entry = maintain_dataset(ds.path, fragments=1000)  # indexes only: no compaction asked
    assert "item" in indexed and entry is not None
    ra, rb = compared_rows(open_table(ds.path, "item", v2), open_table(ds.path, "item", entry.tables["item"]), cols)
    assert ra.num_rows == rb.num_rows == 0
    assert all(c == {"added": 0, "removed": 0, "changed": 0} for c in diff_versions(ds.path, 2, entry.dataset_version)["tables"].values())
