"""WriteBehind / PendingWrites: fragment writes on a background thread, fragments back in order,
errors handed to the caller, no writer thread left behind after a failure."""

from __future__ import annotations

import threading

import lance
import pyarrow as pa
import pytest

from pinlake.util.write_behind import PendingWrites, WriteBehind

SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("x", pa.int64())])


def chunk(start: int, n: int) -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in range(start, start + n)], "x": list(range(start, start + n))}, schema=SCHEMA)


def writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("pinlake-")]


def write(uri: str, table: pa.Table) -> list:
    return lance.fragment.write_fragments(table, uri, schema=SCHEMA)


def test_chunks_written_behind_and_committed_once(tmp_path):
    uri = str(tmp_path / "t.lance")
    writes = WriteBehind(backlog=2)
    pending = PendingWrites(writes)
    try:
        for s in range(0, 5000, 500):
            pending.add(write, uri, chunk(s, 500))
        frags = pending.results()
    finally:
        writes.close()
    assert len(frags) == 10  # one fragment per chunk, in the order written
    ds = lance.LanceDataset.commit(uri, lance.LanceOperation.Overwrite(SCHEMA, frags))
    assert ds.count_rows() == 5000 and ds.to_table()["x"].to_pylist() == list(range(5000))
    assert pending.results() == []  # a second call hands out nothing more
    assert not writer_threads()


def test_writer_error_is_raised_to_the_producer(tmp_path):
    def failing(table: pa.Table) -> list:
        raise OSError("disk full (injected)")

    writes = WriteBehind(backlog=2)
    pending = PendingWrites(writes)
    try:
        with pytest.raises(OSError, match="disk full"):
            for s in range(0, 100_000, 100):  # the producer learns of the error at a later add or at results()
                pending.add(failing, chunk(s, 100))
            pending.results()
    finally:
        pending.cancel()
        writes.close(cancel=True)
    assert not writer_threads()


def test_cancel_after_a_producer_error_stops_the_writer(tmp_path):
    uri = str(tmp_path / "t.lance")
    writes = WriteBehind()
    pending = PendingWrites(writes)
    pending.add(write, uri, chunk(0, 10))
    pending.cancel()
    writes.close(cancel=True)
    assert not writer_threads()
    with pytest.raises(RuntimeError):
        pending.add(write, uri, chunk(10, 10))  # the thread is gone
    assert not (tmp_path / "t.lance" / "_versions").exists()  # nothing committed


def test_failed_build_leaves_no_writer_thread(tmp_path):
    from test_builders import TinyBuilder

    from pinlake.errors import ReferenceError_

    with pytest.raises(ReferenceError_):
        TinyBuilder(tmp_path / "lib" / "tiny", 30, dangling=True).build(flush_every_n_samples=5)
    assert not writer_threads()
