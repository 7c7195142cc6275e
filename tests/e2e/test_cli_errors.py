"""Every documented bad input of the CLI, run as a user runs it (``python -m pinlake`` in a subprocess,
output not a terminal, COLUMNS=80): exit code 1, exactly one ``Error:`` line holding the whole
message (never wrapped, however long), one hint line, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DS = "scans"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library whose path is long (an error naming it is over 80 columns) with one folder dataset,
    and a lake with one tag."""
    from pinlake.demo.data import generate_health_images
    from pinlake.library import Library
    from pinlake.library.build import build_folder

    root = tmp_path_factory.mktemp("cli_errors") / ("a-library-under-a-rather-long-directory-name-" * 2).rstrip("-")
    generate_health_images(root / "src" / DS, n_train=3, n_test=1)
    lib = Library(root / "library").ensure()
    build_folder(lib, root / "src" / DS, DS)
    lib.get_datalake().upload_data([str(next((root / "src" / DS / "train").glob("*.jpg")))], tags=["mri"])
    return root / "library"


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "80", **env}
    full_env.pop("PINLAKE_LIBRARY", None)
    return subprocess.run([sys.executable, "-m", "pinlake", *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=120)


#: (id, arguments (LIB: the library), text the Error line holds, text the hint holds)
CASES = [
    (
        "where-filter",
        ["show", DS, "bbox", "--where", "confidence >>> 1", "--library", "LIB"],
        "invalid --where filter 'confidence >>> 1': sql parser error",
        "columns of bbox",
    ),
    (
        "where-unknown-column",
        ["show", DS, "bbox", "--where", "nope > 1", "--library", "LIB"],
        "invalid --where filter 'nope > 1'",
        "confidence",
    ),
    ("unknown-table", ["show", DS, "nosuch", "--library", "LIB"], "unknown table 'nosuch'", "item"),
    ("create-existing", ["build", "SRC", "--name", DS, "--library", "LIB"], "LIB/scans already exists", "--mode overwrite"),
    (
        "unknown-mode",
        ["build", "SRC", "--name", DS, "--mode", "replace", "--library", "LIB"],
        "unknown --mode 'replace'",
        "--mode create, overwrite, add",
    ),
    (
        "two-statements",
        ["sql", "SELECT 1; SELECT 2", "--library", "LIB"],
        "the query has 2 statements; only one statement runs per query",
        "UNION ALL",
    ),
    ("sql-syntax", ["sql", "SELEC 1", "--library", "LIB"], 'syntax error at or near "SELEC"', "pinlake sql"),
    ("sql-write", ["sql", "DROP TABLE catalog.versions", "--library", "LIB"], "read-only", "SELECT"),
    ("sql-columns", ["sql", "SELECT 1 AS a", "--columns", "b", "--library", "LIB"], "unknown column(s) in --columns: b", "a"),
    ("unknown-tag", ["lake", "ls", "--tag", "car", "--library", "LIB"], "the lake has no tag 'car'", "mri"),
    ("unknown-version", ["diff", DS, "1", "9", "--library", "LIB"], "no version 9", "1"),
    ("unknown-dataset", ["versions", "nope", "--library", "LIB"], "no dataset 'nope'", DS),
    ("dataset-case", ["versions", DS.upper(), "--library", "LIB"], f"no dataset {DS.upper()!r}", f"Did you mean {DS!r}?"),
    (
        "create-case-twin",
        ["build", "SRC", "--name", DS.title(), "--library", "LIB"],
        f"dataset name {DS.title()!r} differs from the existing dataset {DS!r} only in case",
        "case-insensitive",
    ),
    ("bad-lake-query", ["lake", "ls", "--q", "width >>> 1", "--library", "LIB"], "invalid query", "SQL predicate"),
    (
        "unreachable-s3",
        ["ls", "--library", "s3://datasets/pinlake"],
        "cannot reach s3://datasets/pinlake at http://127.0.0.1:1: connection refused",
        "PINLAKE_S3_ENDPOINT",
    ),
]


@pytest.mark.parametrize("args,error,hint", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_a_hint(library: Path, args: list[str], error: str, hint: str):
    root = library.parent
    subst = {"LIB": str(library), "SRC": str(root / "src" / DS)}
    args = [subst.get(a, a) for a in args]
    error = error.replace("LIB", str(library))
    proc = run(args, root, PINLAKE_S3_ENDPOINT="http://127.0.0.1:1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")
    said = proc.stdout + proc.stderr
    assert proc.returncode == 1, said
    assert "Traceback" not in said
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errors) == 1, said
    assert error in errors[0], said  # the whole message on its one line, however long
    assert len(lines) == 2 and lines[0] == errors[0] and hint in lines[1], said
    assert "/home/runner/" not in said and ".rs:" not in said  # no engine source locations


def test_python_api_hint_names_the_python_mode(library: Path):
    """The same refusal from the Python API speaks Python: mode="overwrite", not --mode."""
    from pinlake.datasets.build.folder import ImageFolderBuilder
    from pinlake.datasets.info import DatasetInfo
    from pinlake.demo.data import HealthDatasetItem
    from pinlake.errors import DatasetExistsError

    builder = ImageFolderBuilder(library.parent / "src" / DS, library / DS, HealthDatasetItem, DatasetInfo(id=DS, name=DS, description=""))
    with pytest.raises(DatasetExistsError, match="already exists") as e:
        builder.build(mode="create")
    assert 'mode="overwrite"' in e.value.hint and "--mode" not in e.value.hint
