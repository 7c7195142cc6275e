"""The latest version of a local Lance table opened by the number Lance's hint names
(``storage.lance_io.head_version``): always the version Lance itself finds, whatever state the hint is in."""

from __future__ import annotations

import json
import os

import lance
import pyarrow as pa
import pytest

from pinlake.storage import lance_dataset
from pinlake.storage.lance_io import LANCE_HINT, head_version


def rows(k: int) -> pa.Table:
    return pa.table({"id": [f"r{k}"], "n": [k]})


def hint(uri) -> str:
    return os.path.join(str(uri), "_versions", LANCE_HINT)


@pytest.mark.parametrize("v2_paths", [True, False])
def test_head_is_lances_latest_through_appends_deletes_restores_and_overwrites(tmp_path, v2_paths):
    uri = tmp_path / "t.lance"
    lance.write_dataset(rows(0), uri, enable_v2_manifest_paths=v2_paths)
    for k in range(1, 6):
        lance.write_dataset(rows(k), uri, mode="append")
    lance.dataset(uri).delete("n = 2")
    lance.dataset(uri, version=3).restore()
    lance.write_dataset(rows(9), uri, mode="overwrite")
    lance.dataset(uri).merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(rows(10))
    truth = lance.dataset(uri)
    assert head_version(uri) == truth.version == 10
    opened = lance_dataset(uri)
    assert opened.version == truth.version and opened.to_table().equals(truth.to_table())


def test_a_hint_behind_a_commit_is_not_believed(tmp_path):
    uri = tmp_path / "t.lance"
    lance.write_dataset(rows(0), uri)
    lance.write_dataset(rows(1), uri, mode="append")
    lance.write_dataset(rows(2), uri, mode="append")
    with open(hint(uri), "w") as fh:  # as a writer killed between its manifest and its hint leaves it
        json.dump({"version": 2}, fh)
    assert head_version(uri) is None
    assert lance_dataset(uri).version == 3 and lance_dataset(uri).count_rows() == 3


@pytest.mark.parametrize("text", [None, "", "{", '{"version": "3"}', '{"version": 0}', '{"version": true}', "[3]", '{"v": 3}'])
def test_a_missing_or_damaged_hint_falls_back_to_lance(tmp_path, text):
    uri = tmp_path / "t.lance"
    lance.write_dataset(rows(0), uri)
    lance.write_dataset(rows(1), uri, mode="append")
    if text is None:
        os.unlink(hint(uri))
    else:
        with open(hint(uri), "w") as fh:
            fh.write(text)
    assert head_version(uri) is None
    assert lance_dataset(uri).version == 2


def test_a_hint_naming_a_removed_version_falls_back_to_lance(tmp_path):
    uri = tmp_path / "t.lance"
    lance.write_dataset(rows(0), uri)
    lance.write_dataset(rows(1), uri, mode="append")
    versions = os.path.join(str(uri), "_versions")
    for name in os.listdir(versions):  # version 2's manifest gone, as if removed by hand
        if name.endswith(".manifest") and name in (f"{2**64 - 1 - 2:020d}.manifest", "2.manifest"):
            os.unlink(os.path.join(versions, name))
    assert lance_dataset(uri).version == lance.dataset(uri).version == 1


def test_an_explicit_version_or_an_s3_uri_is_not_guessed(tmp_path):
    uri = tmp_path / "t.lance"
    lance.write_dataset(rows(0), uri)
    lance.write_dataset(rows(1), uri, mode="append")
    assert lance_dataset(uri, version=1).version == 1
    assert head_version("s3://bucket/t.lance") is None
