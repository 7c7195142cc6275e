"""errors.first_line: the one line of an engine's exception that a pinlake error quotes."""

from __future__ import annotations

import pytest

from pinlake.errors import first_line


@pytest.mark.parametrize(
    ("exc", "limit", "line"),
    [
        (ValueError("bad\nsecond line"), 200, "bad"),
        (ValueError("\n  padded first line\nmore"), 200, "padded first line"),
        (OSError(), 200, "OSError"),
        (ValueError("   "), 200, "ValueError"),
        (ValueError("x" * 500), 200, "x" * 200),
        (ValueError("x" * 500), 300, "x" * 300),
        (ValueError("x" * 500), None, "x" * 500),
    ],
)
def test_first_line(exc, limit, line):
    assert first_line(exc, limit) == line
