"""The README's Python SQL examples run without a warning (pandas included), on a demo library."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _sql_examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return [b for b in blocks if "pinlake.sql(" in b]


def test_python_sql_examples_emit_no_warning(lib: Path, make_versions, ds, monkeypatch: pytest.MonkeyPatch):
    examples = _sql_examples()
    if not examples:
        pytest.skip("README.md has no Python SQL example (moved to the docs site)")
    make_versions(ds)  # health_images versions 1..3
    monkeypatch.chdir(lib.parent)  # pinlake.sql's default library: ./library
    monkeypatch.delenv("PINLAKE_LIBRARY", raising=False)
    for code in examples:
        code = re.sub(r'"health_images": \d+', '"health_images": 3', code)  # versions this library has
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            exec(compile("import pinlake\n" + code, str(README), "exec"), {})
