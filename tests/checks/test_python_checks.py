"""Python checks: ``@pinlake.check`` functions in the entry's recipe file, run by check_dataset and
``pinlake check`` after the declared checks, on read-only pinned versions of real datasets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

import pinlake
from pinlake.datasets.checks import run_python_checks
from pinlake.errors import ValidationError
from pinlake.library.check import RECIPE_CHECK, check_dataset
from pinlake.library.registry import Registry
from pinlake.recipes.checks import CheckOutcome, PythonCheck, checks_of, load_checks

DOCS = Path(__file__).resolve().parents[2] / "docs" / "checks.md"

RECIPE = """
import pinlake


@pinlake.recipe()
def health(client):
    return {"train": [{"id": "a"}]}
"""

CHECKS = """
import pinlake
from pinlake.library.pin import PinnedDataset


@pinlake.check
def enough_xrays(candidate, baseline):
    n = candidate.to_arrow("image", columns=["id"]).num_rows
    return pinlake.CheckOutcome(passed=n >= 2, value=n, message=f"{n} images")


@pinlake.check(name="at_most_five_items", threshold=5)
def small(candidate, baseline):
    return len(candidate) <= 5


@pinlake.check
def sees_pinned_versions(candidate, baseline):
    assert isinstance(candidate, PinnedDataset) and (baseline is None or isinstance(baseline, PinnedDataset))
    seen = {"candidate": candidate.version, "baseline": None if baseline is None else baseline.version}
    return pinlake.CheckOutcome(passed=True, value=seen)
"""


def registry(tmp_path: Path, script: str, name: str = "h", **entry: object) -> Path:
    path = tmp_path / "recipes" / "datasets.yaml"
    path.parent.mkdir(exist_ok=True)
    (path.parent / "r.py").write_text(textwrap.dedent(script))
    path.write_text(yaml.safe_dump([{"name": name, "script_location": "./r.py", **entry}], sort_keys=False))
    return path


def by_check(report):
    return {r.check: r for r in report.results}


def test_passing_and_failing_python_checks_run_after_the_declared_ones(tmp_path, make_ds):
    ds = make_ds()  # 6 train + 3 test items
    library = tmp_path / "library"
    reg = registry(tmp_path, CHECKS, checks={"min_items": 1})
    report = check_dataset(library, "h", registry=reg)
    assert [r.check for r in report.results] == ["min_items", "enough_xrays", "at_most_five_items", "sees_pinned_versions"]
    by = by_check(report)
    xrays = by["enough_xrays"]
    assert (xrays.status, xrays.value, xrays.threshold, xrays.message, xrays.blocking) == ("pass", 9, None, "9 images", False)
    small = by["at_most_five_items"]
    assert (small.status, small.value, small.threshold, small.blocking) == ("fail", None, 5, True)
    assert small.message == "the check returned False"
    assert by["sees_pinned_versions"].value == {"candidate": 1, "baseline": None}
    assert not report.passed and [r.check for r in report.blocking] == ["at_most_five_items"]
    assert report.to_dict()["blocking"] == ["at_most_five_items"]

    # version 2 keeps 5 items: every check passes, the baseline (version 1) comes pinned too
    ds.delete_dataset_items([i.id for i in ds.get_data("item", where="split = 'train'")][:4])
    report = check_dataset(library, "h", registry=reg)
    assert report.passed, report.to_dict()
    assert by_check(report)["sees_pinned_versions"].value == {"candidate": 2, "baseline": 1}
    assert by_check(report)["enough_xrays"].value == 5
    # a pin checks an older version: what the functions read is that version's tables
    report = check_dataset(library, "h@1", registry=reg)
    assert by_check(report)["enough_xrays"].value == 9 and by_check(report)["at_most_five_items"].status == "fail"


def test_a_check_that_raises_or_returns_another_type_is_an_error_and_the_others_run(tmp_path, make_ds):
    make_ds()
    script = """
    import pinlake


    @pinlake.check
    def boom(candidate, baseline):
        return 1 / 0


    @pinlake.check
    def counts(candidate, baseline):
        return {"items": len(candidate)}


    @pinlake.check
    def nothing(candidate, baseline):
        pass


    @pinlake.check
    def not_a_bool(candidate, baseline):
        return pinlake.CheckOutcome(passed=len(candidate))


    @pinlake.check
    def missing_table(candidate, baseline):
        return candidate.num_rows("nope") > 0


    @pinlake.check
    def fine(candidate, baseline):
        return True
    """
    report = check_dataset(tmp_path / "library", "h", registry=registry(tmp_path, script))
    by = by_check(report)
    assert list(by) == ["boom", "counts", "nothing", "not_a_bool", "missing_table", "fine"]
    assert by["boom"].status == "error" and by["boom"].message == "ZeroDivisionError: division by zero"
    assert by["counts"].status == "error" and "returned dict, not a pinlake.CheckOutcome or a bool" in by["counts"].message
    assert by["nothing"].status == "error" and "returned NoneType" in by["nothing"].message
    assert by["not_a_bool"].status == "error" and "TypeError: CheckOutcome(passed=...) takes a bool, got int" in by["not_a_bool"].message
    assert by["missing_table"].status == "error" and by["missing_table"].message.startswith(
        "NotFoundError: dataset 'h' version 1 has no table"
    )
    assert by["fine"].status == "pass"
    assert all("\n" not in r.message for r in report.results)
    assert [r.check for r in report.blocking] == ["boom", "counts", "nothing", "not_a_bool", "missing_table"]


def test_a_python_check_under_warn_warns_and_the_report_passes(tmp_path, make_ds):
    make_ds()
    reg = registry(tmp_path, CHECKS, checks={"min_items": 1, "warn": ["at_most_five_items"]})
    assert Registry(reg).get("h").checks.warn == ["at_most_five_items"]  # the load accepts a name it cannot know yet
    report = check_dataset(tmp_path / "library", "h", registry=reg)
    small = by_check(report)["at_most_five_items"]
    assert (small.status, small.blocking) == ("warn", False)
    assert report.passed and report.blocking == []
    # warn: alone (no declared check) still runs the Python checks
    report = check_dataset(tmp_path / "library", "h", registry=registry(tmp_path, CHECKS, checks={"warn": ["at_most_five_items"]}))
    assert [r.status for r in report.results] == ["pass", "warn", "pass"] and report.passed


def test_a_warn_name_that_is_no_check_stops_the_run_with_one_line(tmp_path, make_ds):
    make_ds()
    reg = registry(tmp_path, CHECKS, checks={"min_items": 1, "warn": ["enough_xray"]})
    with pytest.raises(ValidationError) as info:
        check_dataset(tmp_path / "library", "h", registry=reg)
    message = info.value.message
    assert "\n" not in message
    assert message.startswith(f"{reg} entry 1 ('h'): key 'checks.warn': 'enough_xray' is not a check"), message
    assert "declared: min_items" in message and "enough_xrays, at_most_five_items, sees_pinned_versions" in message
    assert info.value.hint and "warn:" in info.value.hint and "nothing ran" in info.value.hint
    # a built-in check under warn: must still be declared, as the load says
    with pytest.raises(ValidationError, match="'max_category_drift' is not a declared check"):
        Registry(registry(tmp_path, CHECKS, checks={"warn": ["max_category_drift"]}))


def test_named_checks_taken_names_and_a_recipe_in_the_same_file(tmp_path, make_ds):
    make_ds()
    script = (
        RECIPE
        + """

@pinlake.check(name="min_items")
def clashes_with_the_builtin(candidate, baseline):
    return True


@pinlake.check(name="no-tiny-items", threshold={"train": 1})
def tiny(candidate, baseline):
    return pinlake.CheckOutcome(passed=True, value=len(candidate), message="  several\\n lines  ")


@pinlake.check(name="no-tiny-items")
def twice(candidate, baseline):
    return True
"""
    )
    report = check_dataset(tmp_path / "library", "h", registry=registry(tmp_path, script, checks={"min_items": 1}))
    assert [(r.check, r.status) for r in report.results] == [
        ("min_items", "pass"),
        ("min_items", "error"),
        ("no-tiny-items", "pass"),
        ("no-tiny-items", "error"),
    ]
    tiny = report.results[2]
    assert (tiny.value, tiny.threshold, tiny.message) == (9, {"train": 1}, "several lines")
    assert "already a check of this dataset" in report.results[1].message and "@pinlake.check(name=...)" in report.results[1].message


def test_a_recipe_file_that_does_not_import_is_one_error_after_the_declared_checks(tmp_path, make_ds):
    make_ds()
    reg = registry(tmp_path, "import pinlake\nraise RuntimeError('no network here')\n", checks={"min_items": 1, "warn": ["anything"]})
    report = check_dataset(tmp_path / "library", "h", registry=reg)
    assert [(r.check, r.status) for r in report.results] == [("min_items", "pass"), (RECIPE_CHECK, "error")]
    err = report.results[1]
    assert err.blocking and "\n" not in err.message and err.message.endswith("RuntimeError: no network here")
    assert "r.py did not load" in err.message


def test_the_docs_example_runs(tmp_path, make_ds):
    """The recipe-file example of docs/checks.md, as written, next to a recipe."""
    ds = make_ds()
    text = DOCS.read_text()
    section = text[text.index("## Python checks") :]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    reg = registry(tmp_path, RECIPE + "\n" + example, checks={"min_items": 1})
    report = check_dataset(tmp_path / "library", "h", registry=reg)
    assert [(r.check, r.status) for r in report.results] == [("min_items", "pass"), ("enough_xrays", "pass"), ("items_kept", "pass")]
    ds.delete_dataset_items([i.id for i in ds.get_data("item", where="split = 'train'")][:3])  # 6 of 9 kept
    report = check_dataset(tmp_path / "library", "h", registry=reg)
    kept = by_check(report)["items_kept"]
    assert (kept.status, kept.value, kept.threshold, kept.message) == ("fail", 0.667, 0.9, "6 of 9 items kept")


def test_decorator_outcome_and_listing():
    assert pinlake.check is not None and pinlake.CheckOutcome is CheckOutcome
    with pytest.raises(Exception, match="frozen|cannot assign"):
        CheckOutcome(passed=True).passed = False  # type: ignore[misc]
    with pytest.raises(ValueError, match="letters, digits"):
        pinlake.check(name="two words")(lambda c, b: True)
    results = run_python_checks(
        [PythonCheck("yes", lambda c, b: CheckOutcome(True, value=1)), PythonCheck("no", lambda c, b: False)], object(), None, warn=["no"]
    )
    assert [(r.status, r.blocking) for r in results] == [("pass", False), ("warn", False)]


def test_load_checks_lists_the_files_own_checks_in_definition_order(tmp_path, monkeypatch):
    (tmp_path / "shared_checks.py").write_text("import pinlake\n\n\n@pinlake.check\ndef shared(c, b):\n    return True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "shared_checks", raising=False)
    recipe = tmp_path / "r.py"
    recipe.write_text(
        textwrap.dedent(
            """
            import pinlake
            from shared_checks import shared


            @pinlake.check
            def zeta(c, b):
                return True


            @pinlake.check(name="alpha")
            def a(c, b):
                return True
            """
        )
    )
    assert [c.name for c in load_checks(recipe)] == ["zeta", "alpha"]  # not the imported one
    assert checks_of(sys.modules["pinlake"]) == []


@pytest.mark.slow
def test_pinlake_check_cli_exit_code_and_json(tmp_path, make_ds):
    make_ds()
    library = tmp_path / "library"
    env = {**os.environ, "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pinlake", "check", "h", "--registry", str(reg), "--library", str(library), *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)

    reg = registry(tmp_path, CHECKS, checks={"min_items": 1})
    failed = run()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "enough_xrays" in failed.stdout and "9 images" in failed.stdout and "failed: at_most_five_items" in failed.stdout
    as_json = run("--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["blocking"] == ["at_most_five_items"]
    assert [(r["check"], r["status"]) for r in report["results"]][1:] == [
        ("enough_xrays", "pass"),
        ("at_most_five_items", "fail"),
        ("sees_pinned_versions", "pass"),
    ]

    reg = registry(tmp_path, CHECKS, checks={"min_items": 1, "warn": ["at_most_five_items"]})
    ok = run("--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["passed"] is True
    assert {r["check"]: r["status"] for r in json.loads(ok.stdout)["results"]}["at_most_five_items"] == "warn"

    reg = registry(tmp_path, CHECKS, checks={"warn": ["typo"]})
    bad = run()
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 1 and bad.stdout == "" and len(lines) == 2
    assert "key 'checks.warn'" in lines[0] and "'typo' is not a check" in lines[0]
