"""storage.take_rows: rows by Lance row id, in the order asked, through the private take and the public filter."""

from __future__ import annotations

import lance
import pyarrow as pa

from pinlake.storage import take_rows
from pinlake.storage.lance_io import take_rows_by_filter


def test_both_takes_give_the_rows_asked_in_order(tmp_path):
    uri = str(tmp_path / "t.lance")
    lance.write_dataset(pa.table({"a": list(range(5000)), "b": [f"r{i}" for i in range(5000)]}), uri, max_rows_per_file=1000)
    ds = lance.dataset(uri)
    ds.delete("a % 7 = 0")  # row ids are not offsets once rows are deleted
    ds = lance.dataset(uri)
    hit = ds.to_table(columns=["a"], filter="a % 97 = 3", with_row_id=True)
    ids = hit["_rowid"].to_pylist()[::-1]  # an order the scan does not give
    want = [f"r{a}" for a in hit["a"].to_pylist()[::-1]]
    assert len(ids) == sum(1 for a in range(5000) if a % 97 == 3 and a % 7) == 45
    assert take_rows(ds, ids, columns=["b"])["b"].to_pylist() == want
    assert take_rows_by_filter(ds, ids, columns=["b"])["b"].to_pylist() == want
    assert take_rows_by_filter(ds, [], columns=["b"]).num_rows == 0
