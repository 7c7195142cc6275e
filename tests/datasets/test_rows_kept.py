"""`rows_kept`: which Lance commits leave a table's rows as they were (compactions and index commits
do; appends, deletes, updates, schema changes and restores do not), and when it is unsure."""

from __future__ import annotations

import lance
import pyarrow as pa

from pinlake.storage.lance_delta import rows_kept


def table(tmp_path, fragments: int = 4) -> str:
    uri = str(tmp_path / "t.lance")
    for i in range(fragments):
        data = pa.table({"id": [f"r{i}{j}" for j in range(10)], "width": [i] * 10})
        lance.write_dataset(data, uri, mode="append" if i else "create")
    return uri


def test_compactions_and_index_commits_keep_the_rows(tmp_path):
    uri = table(tmp_path)
    lance.dataset(uri).delete("id = 'r00'")  # the compaction materialises it
    start = lance.dataset(uri).version
    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=1000)
    lance.dataset(uri).create_scalar_index("id", "BTREE")
    lance.dataset(uri).create_scalar_index("width", "BITMAP")
    lance.write_dataset(pa.table({"id": ["n0"], "width": [9]}), uri, mode="append")
    appended = lance.dataset(uri).version
    lance.dataset(uri).optimize.optimize_indices()
    ds = lance.dataset(uri)
    assert ds.version - start >= 4
    assert rows_kept(lance.dataset(uri, version=appended - 1), start)  # compaction, two indexes
    assert not rows_kept(ds, start)  # the append between
    assert rows_kept(ds, appended)  # the index update after it
    assert rows_kept(ds, ds.version)
    assert not rows_kept(ds, ds.version + 1) and not rows_kept(ds, 0)
    assert not rows_kept(lance.dataset(uri, version=appended - 1), start, max_commits=1)  # too many to read


def test_writes_that_change_rows_are_not_kept(tmp_path):
    uri = table(tmp_path)
    for write in (
        lambda: lance.dataset(uri).delete("id = 'r11'"),
        lambda: lance.dataset(uri).update({"width": "width + 1"}, where="id = 'r22'"),
        lambda: lance.dataset(uri).merge_insert("id").when_matched_update_all().execute(pa.table({"id": ["r33"], "width": [5]})),
        lambda: lance.dataset(uri).add_columns({"double": "width * 2"}),
        lambda: lance.dataset(uri).drop_columns(["double"]),
        lambda: lance.dataset(uri, version=2).restore(),
        lambda: lance.write_dataset(pa.table({"id": ["o"], "width": [0]}), uri, mode="overwrite"),
    ):
        before = lance.dataset(uri).version
        write()
        assert not rows_kept(lance.dataset(uri), before), write


def test_a_version_cleaned_up_in_between_is_unsure(tmp_path):
    from datetime import timedelta

    uri = table(tmp_path)
    start = lance.dataset(uri).version
    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=1000)
    lance.dataset(uri).create_scalar_index("id", "BTREE")
    assert rows_kept(lance.dataset(uri), start)
    lance.dataset(uri).cleanup_old_versions(older_than=timedelta(0))
    assert not rows_kept(lance.dataset(uri), start)


def test_a_compaction_pylance_cannot_read_is_unsure(tmp_path):
    """pylance 14 cannot build the record of a compaction that remaps an index over deleted rows
    (docs/versions.md says so): such a compaction counts as a change. When it reads, this fails:
    the docs' limitation is gone."""
    from pinlake.storage import read_transaction

    uri = table(tmp_path)
    lance.dataset(uri).create_scalar_index("id", "BTREE")
    lance.dataset(uri).delete("id = 'r00'")
    start = lance.dataset(uri).version
    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=1000)
    ds = lance.dataset(uri)
    assert any(read_transaction(ds, v) is None for v in range(start + 1, ds.version + 1))
    assert not rows_kept(ds, start)
