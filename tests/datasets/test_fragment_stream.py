"""FragmentStream: tables streamed into one background fragment write, errors handed back, no
writer thread left behind after a failure."""

from __future__ import annotations

import threading

import lance
import pyarrow as pa
import pytest

from pinlake.fragment_stream import FragmentStream

SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("x", pa.int64())])


def chunk(start: int, n: int) -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in range(start, start + n)], "x": list(range(start, start + n))}, schema=SCHEMA)


def writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("pinlake-")]


def test_chunks_land_in_one_fragment_committed_once(tmp_path):
    uri = str(tmp_path / "t.lance")
    stream = FragmentStream(lambda reader: lance.fragment.write_fragments(reader, uri, schema=SCHEMA), SCHEMA)
    for s in range(0, 5000, 500):
        stream.put(chunk(s, 500))
    frags = stream.finish()
    assert len(frags) == 1
    ds = lance.LanceDataset.commit(uri, lance.LanceOperation.Overwrite(SCHEMA, frags))
    assert ds.count_rows() == 5000 and ds.to_table().sort_by("x")["x"].to_pylist() == list(range(5000))
    assert stream.finish() == []  # a second finish hands out nothing more
    assert not writer_threads()


def test_writer_error_is_raised_to_the_producer(tmp_path):
    def failing(reader: pa.RecordBatchReader) -> list:
        reader.read_next_batch()
        raise OSError("disk full (injected)")

    stream = FragmentStream(failing, SCHEMA)
    with pytest.raises(OSError, match="disk full"):
        for s in range(0, 100_000, 100):  # the producer learns of the error at a later put or at finish
            stream.put(chunk(s, 100))
        stream.finish()
    stream.abort()
    assert not writer_threads()


def test_abort_after_a_producer_error_stops_the_writer(tmp_path):
    uri = str(tmp_path / "t.lance")
    stream = FragmentStream(lambda reader: lance.fragment.write_fragments(reader, uri, schema=SCHEMA), SCHEMA)
    stream.put(chunk(0, 10))
    stream.abort()
    assert not writer_threads()
    with pytest.raises(RuntimeError, match="finished"):
        stream.put(chunk(10, 10))
    assert not (tmp_path / "t.lance" / "_versions").exists()  # nothing committed


def test_failed_build_leaves_no_writer_thread(tmp_path):
    from pinlake.errors import ReferenceError_

    from test_builders import TinyBuilder

    with pytest.raises(ReferenceError_):
        TinyBuilder(tmp_path / "lib" / "tiny", 30, dangling=True).build(flush_every_n_samples=5)
    assert not writer_threads()
