"""The ingest state cache (DVC semantics): unchanged files (path, inode, size, mtime) are not re-read."""

import io
import os
import time

import numpy as np
import pytest
from PIL import Image

from pinlake.lake import Lake
from pinlake.lake.metadata import header_size

HOUR_NS = 3600 * 10**9


def _old(path, ns):
    os.utime(path, ns=(ns, ns))


def _rewrite_same_size(path, data):
    """New bytes, same size, same inode; mtime set back to what it was."""
    st = os.stat(path)
    with open(path, "r+b") as fh:
        fh.write(data)
    _old(path, st.st_mtime_ns)
    assert os.stat(path).st_ino == st.st_ino and os.stat(path).st_size == st.st_size


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    then = time.time_ns() - HOUR_NS
    for name in ("a.bin", "b.bin", "c.bin"):
        (d / name).write_bytes(name.encode() * 100)
        _old(d / name, then)
    return d


def _upload(lake, d):
    return lake.upload_data(sorted(d.iterdir()), source="s")


def test_unchanged_stat_is_not_reread(lake: Lake, folder):
    first = {x.object_name: x.sha256 for x in _upload(lake, folder)}
    assert (lake.store.root + "/.state.db").endswith(".state.db") and os.path.isfile(lake.store.root + "/.state.db")
    v = lake.version
    # bytes change but size and mtime are restored: the cache vouches for the old hash (like DVC)
    _rewrite_same_size(folder / "a.bin", b"X" * 500)
    again = {x.object_name: x.sha256 for x in _upload(lake, folder)}
    assert again == first and lake.version == v
    # without the cache the change is seen
    rows = lake.upload_data([folder / "a.bin"], use_state=False)
    assert rows[0].sha256 != first["a.bin"] and rows[0].version == 2


def test_touched_file_is_rehashed(lake: Lake, folder):
    first = {x.object_name: x.sha256 for x in _upload(lake, folder)}
    objects_before = lake.store.open("objects").count_rows()
    (folder / "b.bin").write_bytes(b"Y" * 500)  # new mtime (now)
    after = {x.object_name: x for x in _upload(lake, folder)}
    assert after["b.bin"].sha256 != first["b.bin"] and after["b.bin"].version == 2
    assert after["a.bin"].sha256 == first["a.bin"] and after["a.bin"].version == 1
    # only the changed file became a new object; the data table got one new version
    assert lake.store.open("objects").count_rows() == objects_before + 1
    assert len(lake.list_data(all_versions=True)) == 4


def test_fresh_files_are_not_trusted_yet(lake: Lake, tmp_path):
    """A file written just now is hashed but not cached (its mtime may not move on the next write)."""
    p = tmp_path / "fresh.bin"
    p.write_bytes(b"1" * 64)
    v1 = lake.upload_data(p)
    _rewrite_same_size(p, b"2" * 64)
    v2 = lake.upload_data(p)
    assert v2.sha256 != v1.sha256 and v2.version == 2


def test_metadata_change_on_cached_file_is_a_new_version(lake: Lake, folder):
    lake.upload_data(folder / "a.bin", metadata={"k": 1})
    d = lake.upload_data(folder / "a.bin", metadata={"k": 2})
    assert d.version == 2 and d.metadata == {"k": 2}
    assert lake.upload_data(folder / "a.bin", metadata={"k": 2}).id == d.id


@pytest.mark.parametrize(
    "fmt,kw", [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {}), ("JPEG", {"exif": Image.Exif()})]
)
def test_header_size_matches_pillow(fmt, kw):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((45, 123, 3), np.uint8)).save(buf, format=fmt, **kw)
    assert header_size(buf.getvalue()) == (123, 45)


def test_header_size_unsure_falls_back():
    assert header_size(b"\xff\xd8\xff\xda" + b"\x00" * 10) is None
    assert header_size(b"not an image") is None


def test_lookup_reads_a_range_and_falls_back_to_names_when_the_paths_are_spread(tmp_path, monkeypatch):
    """A lookup reads the key range of its paths once; when that range holds many other paths it asks
    by name instead. Either way exactly the paths with the same stat are found."""
    from pinlake.lake import state

    cache = state.StateCache(tmp_path / "s.db")
    cache.record([(f"/d/{i:03d}", i, 10, 100 + i, f"sha{i}") for i in range(100)])
    ranges: list[int] = []
    real = cache._connect

    def spy():
        con = real()
        return type("Con", (), {"execute": lambda _, q, *a: (ranges.append(len(q)), con.execute(q, *a))[1]})()

    monkeypatch.setattr(cache, "_connect", spy)
    together = {f"/d/{i:03d}": (i, 10, 100 + i) for i in range(40, 50)} | {"/d/045": (45, 10, 0), "/d/045a": (1, 1, 1)}
    assert cache.lookup(together) == {f"/d/{i:03d}": f"sha{i}" for i in range(40, 50) if i != 45}
    assert len(ranges) == 1  # one range read
    spread = {"/d/000": (0, 10, 100), "/d/099": (99, 10, 199), "/d/050": (50, 11, 150)}
    assert cache.lookup(spread) == {"/d/000": "sha0", "/d/099": "sha99"}
    assert len(ranges) == 3  # the range stopped at its limit, then one IN list
    cache.close()
    assert state.StateCache(tmp_path / "s.db").lookup({"/d/001": (1, 10, 101)}) == {"/d/001": "sha1"}
