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


def test_named_operations_keeping_the_fragments_but_not_the_values_are_not_kept(tmp_path):
    """A Merge that swaps the fields its data file holds, and a DataOverlay over a column: the same
    fragment ids and data files, other values."""
    import copy

    from lance.file import LanceFileWriter
    from lance.fragment import DataFile

    uri = str(tmp_path / "m.lance")
    lance.write_dataset(pa.table({"a": [1, 2], "b": ["x", "y"], "c": ["p", "q"]}), uri)
    ds = lance.dataset(uri)
    meta = copy.deepcopy(ds.get_fragments()[0].metadata)
    fields = meta.files[0].fields
    meta.files[0].fields = [fields[0], fields[2], fields[1]]
    swapped = lance.LanceDataset.commit(uri, lance.LanceOperation.Merge([meta], ds.lance_schema), read_version=ds.version)
    assert swapped.to_table().column("b").to_pylist() == ["p", "q"]
    assert not rows_kept(swapped, ds.version)

    uri = str(tmp_path / "o.lance")
    lance.write_dataset(pa.table({"a": [1, 2], "b": ["x", "y"]}), uri)
    ds = lance.dataset(uri)
    writer = LanceFileWriter(f"{uri}/data/overlay.lance", pa.schema([("b", pa.string())]))
    writer.write_batch(pa.table({"b": ["changed"]}))
    writer.close()
    overlay = lance.LanceOperation.DataOverlayFile(DataFile.create(ds, "overlay.lance"), [0])
    op = lance.LanceOperation.DataOverlay([lance.LanceOperation.DataOverlayGroup(0, [overlay])])
    overlaid = lance.LanceDataset.commit(uri, op, read_version=ds.version)
    assert overlaid.to_table().column("b").to_pylist() != ["x", "y"]
    assert not rows_kept(overlaid, ds.version)


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
    (docs/versions.md says so): such a compaction counts as a change unless the caller names it
    (`pinlake maintain` records its own). When it reads, this fails: the limitation is gone."""
    from pinlake.storage import read_transaction
    from pinlake.storage.lance_delta import compactions_since

    uri = table(tmp_path)
    lance.dataset(uri).create_scalar_index("id", "BTREE")
    lance.dataset(uri).delete("id = 'r00'")
    start = lance.dataset(uri).version
    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=1000)
    ds = lance.dataset(uri)
    unread = [v for v in range(start + 1, ds.version + 1) if read_transaction(ds, v) is None]
    assert unread == [ds.version]
    assert not rows_kept(ds, start) and compactions_since(ds, start) is None
    assert rows_kept(ds, start, compacted={ds.version}) and compactions_since(ds, start, {ds.version}) == [ds.version]
    assert not rows_kept(ds, start, compacted={ds.version - 1})  # another version named: still unsure
