"""pyarrow.dataset loads without pandas in the CLI, and pyarrow sees pandas as soon as it is imported.

Each case runs in a fresh interpreter: this process has pandas loaded already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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


def run_code(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, env=env)


def test_a_thread_importing_pandas_while_lance_loads_gets_it_and_pyarrow_sees_it():
    """With a second thread the hooks hide nothing (that thread's pandas import and pyarrow's shim
    would wait on each other): no ImportError, no hang, pyarrow sees pandas."""
    proc = run_code(
        """
        import faulthandler, json, sys, threading
        faulthandler.dump_traceback_later(90, exit=True)
        from pinlake.util.lazy_pandas import defer_pandas
        assert defer_pandas()
        go, got = threading.Event(), []
        def recipe():
            go.wait()
            import pandas
            got.append(pandas.__name__)
        t = threading.Thread(target=recipe)
        t.start()
        go.set()
        import lance
        t.join(60)
        import pandas as pd, pyarrow as pa
        print(json.dumps({"got": got, "cat": str(pa.array(pd.Series(pd.Categorical(["a"]))).type)}))
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["got"] == ["pandas"] and out["cat"].startswith("dictionary")


def test_a_pandas_pyarrow_refuses_still_imports(tmp_path):
    """pyarrow refuses pandas older than it supports (it warns and does not use it); with the hooks
    `import pandas` still works, and pyarrow still does not use it."""
    (tmp_path / "pandas").mkdir()
    (tmp_path / "pandas" / "__init__.py").write_text('__version__ = "2.1.4"\n')
    code = """
        import warnings, sys
        warnings.simplefilter("ignore")
        {setup}
        import lance, pyarrow as pa, pyarrow.lib
        import pandas
        print(pandas.__version__, pyarrow.lib._pandas_api.have_pandas)
        """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    hooked = run_code(code.format(setup="from pinlake.util.lazy_pandas import defer_pandas; assert defer_pandas()"), env)
    plain = run_code(code.format(setup=""), env)
    assert hooked.returncode == 0 and plain.returncode == 0, hooked.stderr[-2000:] + plain.stderr[-2000:]
    assert hooked.stdout.split() == plain.stdout.split() == ["2.1.4", "False"]


def test_pandas_found_by_another_finder_is_seen_by_pyarrow(tmp_path):
    """pandas installed where only another import hook finds it (an editable install's finder): the
    path finder sees a copy of site-packages without pandas."""
    site = next(p for p in sys.path if p.endswith("site-packages"))
    farm = tmp_path / "site"
    farm.mkdir()
    for entry in Path(site).iterdir():
        if entry.name != "pandas":
            (farm / entry.name).symlink_to(entry)
    code = f"""
        import importlib.abc, importlib.machinery, sys
        class Editable(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "pandas":
                    return importlib.machinery.PathFinder.find_spec(name, [{site!r}])
        sys.path[:] = [{str(farm)!r} if p == {site!r} else p for p in sys.path]
        sys.meta_path.append(Editable())
        from pinlake.util.lazy_pandas import defer_pandas
        assert defer_pandas()
        import lance, pyarrow as pa, pyarrow.lib
        import pandas as pd
        assert pd.__file__.startswith({site!r}), pd.__file__
        print(pyarrow.lib._pandas_api.have_pandas, pa.array(pd.Series(pd.Categorical(["a"]))).type)
        """
    proc = run_code(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[0] == "True" and "dictionary" in proc.stdout
