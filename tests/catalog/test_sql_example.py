"""The Python SQL examples of the docs (docs/catalog.md) run without a warning (pandas included), on a demo library."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


def _sql_examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    return [b for b in blocks if "pinlake.sql(" in b]


def test_python_sql_examples_emit_no_warning(lib: Path, make_versions, ds, monkeypatch: pytest.MonkeyPatch):
    examples = _sql_examples()
    assert examples, f"{PAGE} has no Python SQL example"
    make_versions(ds)  # health_images versions 1..3
    monkeypatch.chdir(lib.parent)  # pinlake.sql's default library: ./library
    monkeypatch.delenv("PINLAKE_LIBRARY", raising=False)
    for code in examples:
        code = re.sub(r'"health_images": \d+', '"health_images": 3', code)  # versions this library has
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            exec(compile("import pinlake\n" + code, str(PAGE), "exec"), {})
