"""DigestSet answers exactly as a Python set of hex digests, from lists and from Arrow columns."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinlake.util.digestset import DigestSet, digests

# few distinct values, so that batches repeat each other; digests that differ only in their last
# byte, or only by a trailing or embedded zero byte, must stay distinct
POOL = [hashlib.sha256(bytes([i])).hexdigest() for i in range(12)] + [
    "00" * 32,
    "00" * 31 + "01",
    "01" + "00" * 31,
    "ab" * 16 + "00" * 16,
    "ab" * 16 + "00" * 15 + "01",
]
batches_st = st.lists(st.lists(st.sampled_from(POOL), max_size=9), max_size=12)


@settings(max_examples=200, deadline=None)
@given(batches_st, st.booleans())
def test_digest_set_is_a_set(batches, as_arrow):
    s, ref = DigestSet(), set()
    for batch in batches:
        asked = pa.array(batch, pa.string()) if as_arrow else batch
        assert s.contains(asked).tolist() == [h in ref for h in batch]
        s.update(asked)
        ref.update(batch)
        assert len(s) == len(ref)
        assert all((h in s) == (h in ref) for h in POOL)


def test_arrow_slices_and_chunks_decode_like_lists():
    arr = pa.array(POOL, pa.string())
    assert (digests(arr.slice(3, 5)) == digests(POOL[3:8])).all()
    chunked = pa.chunked_array([arr.slice(0, 4), arr.slice(4)])
    assert (digests(chunked) == digests(POOL)).all()
    assert digests(POOL[0:1])[0] == bytes.fromhex(POOL[0])


@pytest.mark.parametrize("bad", [["abc"], ["zz" * 32], [None]])
def test_bad_digests_are_refused(bad):
    with pytest.raises(ValueError, match="digest"):
        digests(pa.array(bad, pa.string()))


def test_a_million_digests_take_32_bytes_each():
    s = DigestSet()
    for k in range(10):
        s.update(pa.array([hashlib.sha256(f"{k}-{i}".encode()).hexdigest() for i in range(10_000)], pa.string()))
    assert len(s) == 100_000 and s.nbytes == 32 * 100_000
