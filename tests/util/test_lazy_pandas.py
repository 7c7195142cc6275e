"""pyarrow.dataset loads without pandas in the CLI, and pyarrow sees pandas as soon as it is imported.

Each case runs in a fresh interpreter: this process has pandas loaded already."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: what pyarrow makes of pandas objects, printed as JSON by a fresh interpreter
PROBE = """
import json, sys
{setup}
import lance, duckdb  # lance loads pyarrow.dataset
out = {{"pandas_after_lance": "pandas" in sys.modules}}
import pyarrow as pa
pa.array([1, 2]); pa.scalar(True)
out["pandas_after_arrow_calls"] = "pandas" in sys.modules
import pandas as pd
import pyarrow.lib
out["shim_sees_pandas"] = pyarrow.lib._pandas_api.have_pandas
s = pd.Series(pd.Categorical(["a", "b", "a"]))
out["categorical"] = str(pa.array(s).type)
out["series_tz"] = str(pa.array(pd.Series(pd.to_datetime(["2020-01-01"]).tz_localize("UTC"))).type)
df = pd.DataFrame({{"a": [1, 2], "c": pd.Categorical(["x", "y"])}})
out["from_pandas"] = pa.Table.from_pandas(df).schema.to_string(show_schema_metadata=False)
out["round_trip"] = pa.Table.from_pandas(df).to_pandas().equals(df)
out["loader"] = type(pd.__loader__).__name__
out["hooks_left"] = [type(f).__name__ for f in sys.meta_path if type(f).__module__ == "pinlake.util.lazy_pandas"]
print(json.dumps(out))
"""


def probe(setup: str) -> dict:
    code = PROBE.format(setup=textwrap.dedent(setup))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_deferred_pandas_is_loaded_late_and_seen_as_always():
    deferred = probe("from pinlake.util.lazy_pandas import defer_pandas\nassert defer_pandas()")
    plain = probe("")
    assert plain["pandas_after_lance"] is True  # what the hooks save: pyarrow.dataset imports pandas
    assert deferred["pandas_after_lance"] is False and deferred["pandas_after_arrow_calls"] is False
    assert deferred["shim_sees_pandas"] is True
    for key in ("categorical", "series_tz", "from_pandas", "round_trip", "loader"):
        assert deferred[key] == plain[key], key
    assert deferred["categorical"].startswith("dictionary")
    assert deferred["hooks_left"] == [] and deferred["loader"] == "SourceFileLoader"


def test_nothing_done_when_pandas_or_arrow_datasets_are_loaded():
    for first in ("pandas", "pyarrow.dataset"):
        code = f"import {first}, sys\nfrom pinlake.util.lazy_pandas import defer_pandas\nprint(defer_pandas(), len(sys.meta_path))"
        plain = f"import {first}, sys\nprint(False, len(sys.meta_path))"
        out = [subprocess.run([sys.executable, "-c", c], capture_output=True, text=True, timeout=60).stdout for c in (code, plain)]
        assert out[0] == out[1], first


@pytest.mark.e2e
def test_cli_reads_tables_without_pandas(tmp_path):
    """`pinlake sql`, `info` and `show` on a built dataset load no pandas (a CLI process that does pays 0.3 s)."""
    from pinlake.demo.data import generate_health_images

    generate_health_images(tmp_path / "scans", n_train=4, n_test=2)
    # the CLI as its console script runs it, reporting at exit which modules the command loaded
    wrapper = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('LOADED', 'lance' in sys.modules, 'pandas' in sys.modules, file=sys.stderr))\n"
        "sys.argv = ['pinlake', *sys.argv[1:]]\n"
        "runpy.run_module('pinlake', run_name='__main__')\n"
    )
    commands = [
        ["build", "scans", "--name", "scans"],
        ["sql", "SELECT count(*) FROM scans.item"],
        ["info", "scans"],
        ["show", "scans", "item", "--limit", "2"],
        ["sql", "SELECT dataset, count(*) FROM catalog.versions GROUP BY dataset"],
    ]
    for args in commands:
        proc = subprocess.run([sys.executable, "-c", wrapper, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "LOADED True False" in proc.stderr, f"pinlake {' '.join(args)}: {proc.stderr[-2000:]}"
