"""IdSet answers exactly as a Python set of str (hash collisions included)."""

from __future__ import annotations

import os
import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinlake.util import idset
from pinlake.util.idset import IdSet, absent_from, duplicates, hash_strings

ids_st = st.one_of(st.none(), st.text(alphabet=st.sampled_from(["a", "b", "\x00", "\x01", "é", "日"]), max_size=12))


def _check_against_set(batches: list[list[str | None]], queries: list[list[str | None]]) -> None:
    s, ref = IdSet(), set()
    for batch, query in zip(batches, queries):
        arr = pa.array(query, pa.string())
        assert s.contains(arr).tolist() == [q in ref for q in query]
        assert s.absent(arr) == [q for q in query if q not in ref]
        assert absent_from(s, arr) == absent_from(ref, arr) == [q for q in query if q not in ref]
        assert s.intersection(arr) == {q for q in query if q in ref}
        assert all((q in s) == (q in ref) for q in query)
        s.update(pa.array(batch, pa.string()))
        ref.update(batch)
        assert len(s) == len(ref) and sorted(s, key=repr) == sorted(ref, key=repr)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(ids_st, max_size=15), st.lists(ids_st, max_size=15)), max_size=12))
def test_same_answers_as_a_set(steps):
    _check_against_set([b for b, _ in steps], [q for _, q in steps])


def test_same_answers_when_every_hash_collides(monkeypatch):
    real = idset.hash_strings
    monkeypatch.setattr(idset, "hash_strings", lambda arr: real(arr) & np.uint64(3))  # 4 hash values for all ids
    rnd = random.Random(7)
    pool = ["".join(rnd.choice("abc\x00") for _ in range(rnd.randint(0, 5))) for _ in range(60)] + [None, ""]
    for _ in range(30):
        steps = [([rnd.choice(pool) for _ in range(rnd.randint(0, 20))], [rnd.choice(pool) for _ in range(20)]) for _ in range(10)]
        _check_against_set([b for b, _ in steps], [q for _, q in steps])


def test_hash_depends_on_the_string_only():
    """Not on the longest string of the array (the padding), nor on the array's offset."""
    words = ["", "a", "a\x00", "é" * 9, "x" * 17, None]
    alone = [int(hash_strings(pa.array([w], pa.string()))[0]) for w in words]
    together = hash_strings(pa.array(["z" * 40] + words, pa.string()))[1:].tolist()
    sliced = hash_strings(pa.array(["q"] + words, pa.string()).slice(1)).tolist()
    assert alone == together == sliced
    assert len(set(alone)) == len(words)


def test_runs_stay_few_and_sorted():
    s = IdSet()
    for k in range(64):
        s.update([f"id-{k}-{j}" for j in range(100)])
    assert len(s) == 6400 and len(s._runs) <= 7
    assert all((np.diff(r.hashes.astype(np.float64)) >= 0).all() for r in s._runs)
    # 8 bytes an id in memory: a 32-bit key and a 32-bit position
    assert sum(r.hashes.nbytes + r.positions.nbytes for r in s._runs) == 8 * 6400
    assert s.contains(["id-0-0", "id-63-99", "id-64-0"]).tolist() == [True, True, False]


@pytest.mark.parametrize("ids, dup", [(["a", "b", "a", None, None], {"a", None}), (["a"], set()), ([], set())])
def test_duplicates(ids, dup):
    assert duplicates(pa.array(ids, pa.string())) == dup


def test_store_reads_back_any_positions_across_segments():
    """IdStore: strings back by position in any order, from batches with nulls, empty strings and
    sliced arrays; its file is gone once closed."""
    from pinlake.util.idset import IdStore

    batches = [pa.array(["a", None, "", "日本"], pa.string()), pa.array(["x" * 300, "y"], pa.string()).slice(1), pa.array(["z"] * 3)]
    store, flat = IdStore(), []
    for b in batches:
        assert store.append(b).tolist() == list(range(len(flat), len(flat) + len(b)))
        flat += b.to_pylist()
    rnd = random.Random(3)
    for _ in range(20):
        pos = [rnd.randrange(len(flat)) for _ in range(rnd.randint(0, 12))]
        assert store.take(np.array(pos, np.int64)).to_pylist() == [flat[p] for p in pos]
    assert list(store) == flat and len(store) == len(flat)
    fd = store._file.fileno()  # noqa: SLF001 - the test looks at the file itself
    store.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_closed_set_says_so_and_a_temp_dir_that_fails_is_named(monkeypatch, tmp_path):
    import tempfile

    s = IdSet(["a", "b"])
    s.close()
    for use in (lambda: "a" in s, lambda: s.update(["c"]), lambda: list(s)):
        with pytest.raises(ValueError, match="closed: its ids are gone"):
            use()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    with pytest.raises(OSError, match=r"no-such-dir: .*hint: free space there, or point TMPDIR"):
        IdSet(["a"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=40), st.lists(st.integers(0, 20), max_size=40))
def test_merged_runs_equal_the_stable_sort_of_both(a, b):
    """Runs merge in one pass into what a stable sort of both joined gives: hashes in order, and
    among equal hashes the older run's positions first (small hashes: many are equal)."""
    ha, hb = np.sort(np.array(a, idset.KEY)), np.sort(np.array(b, idset.KEY))
    pa_, pb = np.arange(len(a), dtype=np.uint32), np.arange(len(a), len(a) + len(b), dtype=np.uint32)
    got = idset.merge_runs(idset._Run(ha, pa_), idset._Run(hb, pb))
    joined = np.concatenate([ha, hb])
    order = np.argsort(joined, kind="stable")
    assert got.hashes.tolist() == joined[order].tolist()
    assert got.positions.tolist() == np.concatenate([pa_, pb])[order].tolist()
    assert got.hashes.dtype == idset.KEY and got.positions.dtype == idset.POSITION
