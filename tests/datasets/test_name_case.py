"""Dataset names that differ only in case: SQL gives every dataset a schema and DuckDB's names are
case-insensitive (so are the file systems of macOS and Windows), so a new dataset may not take
such a name, a read names the dataset meant, and `pinlake sql` over a library that already holds
two says so in one line instead of failing inside DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pinlake.demo.data import generate_health_images
from pinlake.errors import NotFoundError, ValidationError
from pinlake.library import Library
from pinlake.library.build import build_folder
from pinlake.library.sql import sql


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Library, Path]:
    root = tmp_path_factory.mktemp("name_case")
    generate_health_images(root / "src", n_train=2, n_test=1)
    lib = Library(root / "library").ensure()
    build_folder(lib, root / "src", "Scans")
    return lib, root / "src"


def test_a_new_dataset_may_not_differ_from_another_only_in_case(library: tuple[Library, Path]):
    lib, src = library
    with pytest.raises(ValidationError, match="dataset name 'scans' differs from the existing dataset 'Scans' only in case") as err:
        build_folder(lib, src, "scans")
    assert "'Scans'" in (err.value.hint or "")
    assert not (lib.path / "scans").exists()  # nothing written
    assert lib.dataset_names() == ["Scans"]
    assert lib.get_dataset("Scans").num_items == 3  # the existing one is whole


def test_a_read_in_the_wrong_case_names_the_dataset_meant(library: tuple[Library, Path]):
    lib, _ = library
    with pytest.raises(NotFoundError, match="no dataset 'SCANS'") as err:
        lib.get_dataset("SCANS")
    assert err.value.hint == "Did you mean 'Scans'?"


def test_sql_over_a_library_that_already_holds_two_says_so(library: tuple[Library, Path], tmp_path: Path):
    lib, _ = library
    old = tmp_path / "library"
    shutil.copytree(lib.path, old)
    shutil.copytree(old / "Scans", old / "scans")  # as a library made before names were checked
    with pytest.raises(ValidationError, match="datasets 'Scans' and 'scans' differ only in case"):
        sql("SELECT count(*) AS n FROM scans.item", library=old)
    # queries that do not read them are answered
    assert sql("SELECT count(*) AS n FROM catalog.versions", library=old).column("n").to_pylist()[0] >= 1
    # a query whose reads are not known beforehand gets no schema for either, and no refusal
    schemas = set(sql("SELECT DISTINCT schema_name FROM information_schema.schemata", library=old).column(0).to_pylist())
    assert "catalog" in schemas and not {"Scans", "scans"} & schemas
    # both still open by their own names, as before the check
    twins = Library(old)
    assert twins.get_dataset("Scans").num_items == twins.get_dataset("scans").num_items == 3
    import pinlake

    assert pinlake.open("scans", library=old).version == 1


def test_only_datasets_count_as_twins(library: tuple[Library, Path], tmp_path: Path):
    lib, src = library
    other = Library(tmp_path / "library").ensure()
    (other.path / "Notes").mkdir()  # a folder of the user's, no dataset
    assert other.case_twins("notes") == []
    build_folder(other, src, "notes")
    assert other.dataset_names() == ["notes"]
