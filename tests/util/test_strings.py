"""StringList reads as the list of its strings: the same answers as a list for every read."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinlake.util import strings
from pinlake.util.strings import StringList

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(TEXT, max_size=40),
    index=st.integers(-45, 45),
    start=st.none() | st.integers(-45, 45),
    stop=st.none() | st.integers(-45, 45),
    step=st.none() | st.integers(-4, 4).filter(bool),
    chunk=st.integers(1, 7),
)
def test_reads_like_the_list(values, index, start, stop, step, chunk):
    strings.ITER_CHUNK = chunk  # iteration crosses chunk boundaries
    try:
        s = StringList(pa.array(values, pa.string()))
        assert len(s) == len(values) and list(s) == values and s == values and s == tuple(values)
        assert s == StringList(values) and (s != values + ["x"])
        assert s[start:stop:step] == values[start:stop:step]
        if -len(values) <= index < len(values):
            assert s[index] == values[index]
        else:
            with pytest.raises(IndexError):
                s[index]
        for v in values[:3]:
            assert v in s and s.index(v) == values.index(v) and s.count(v) == values.count(v)
        assert list(reversed(s)) == values[::-1]
    finally:
        strings.ITER_CHUNK = 65_536


def test_chunked_input_strings_only_and_not_hashable():
    s = StringList(pa.chunked_array([["a", "b"], ["c"]]))
    assert s == ["a", "b", "c"] and s.to_arrow().equals(pa.array(["a", "b", "c"]))
    assert s != "abc" and s != ["a", "b"] and StringList() == [] and repr(StringList(["a"] * 5)) == "StringList(['a', 'a', 'a'], … 2 more)"
    with pytest.raises(TypeError):
        hash(s)
    with pytest.raises(ValueError, match="not nulls"):
        StringList(pa.array(["a", None]))


def test_deferred_strings_are_read_once_on_first_use():
    reads = []

    def load():
        reads.append(1)
        return pa.array(["b", "a"])

    s = StringList.deferred(2, load)
    assert len(s) == 2 and not reads and repr(s) == "StringList(<2 strings, not read yet>)"
    assert s[1] == "a" and list(s) == ["b", "a"] and s == ["b", "a"] and len(reads) == 1
    assert s.to_arrow().equals(pa.array(["b", "a"])) and len(reads) == 1
    short = StringList.deferred(3, lambda: pa.array(["x"]))
    assert len(short) == 3
    for _ in range(2):  # the same error at each use
        with pytest.raises(ValueError, match="deferred StringList of 3 strings read 1"):
            list(short)


def test_a_deferred_list_pickles_with_its_strings():
    import pickle

    s = pickle.loads(pickle.dumps(StringList.deferred(2, lambda: pa.array(["q", "r"]))))
    assert s == ["q", "r"] and isinstance(s, StringList)
