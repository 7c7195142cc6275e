"""The latest version of a local Lance table opened by the number Lance's hint names
(``storage.lance_io.head_version``): always the version Lance itself finds, whatever state the hint is in."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import lance
import pyarrow as pa
import pytest

from pinlake.storage import lance_append, lance_dataset
from pinlake.storage.lance_io import LANCE_HINT, forget_stale_hint, head_version


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


@pytest.mark.parametrize("v2_paths", [True, False])
def test_a_hint_behind_a_commit_is_not_believed(tmp_path, v2_paths):
    uri = tmp_path / "t.lance"
    lance.write_dataset(rows(0), uri, enable_v2_manifest_paths=v2_paths)
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


def test_an_explicit_version_or_an_s3_uri_is_not_guessed(tmp_path, monkeypatch):
    uri = tmp_path / "t.lance"
    lance.write_dataset(rows(0), uri)
    lance.write_dataset(rows(1), uri, mode="append")
    assert lance_dataset(uri, version=1).version == 1
    assert lance_dataset(uri, version=None).version == 2
    # a hint where an s3:// uri would be read as a local path is never looked at
    monkeypatch.chdir(tmp_path)
    os.makedirs("s3:/bucket/t.lance/_versions")
    with open(hint("s3:/bucket/t.lance"), "w") as fh:
        json.dump({"version": 7}, fh)
    assert head_version("s3:/bucket/t.lance") == 7
    assert head_version("s3://bucket/t.lance") is None


def test_a_cleanup_that_makes_a_gap_removes_a_hint_left_behind(tmp_path):
    """Versions 1-8, 5 tagged, the hint lost at 5 (two writers killed after their manifests): a
    cleanup removes 6 and 7, so no manifest of version 6 is left to say the hint is behind."""
    uri = tmp_path / "t.lance"
    lance.write_dataset(rows(0), uri)
    for k in range(1, 8):
        lance.write_dataset(rows(k), uri, mode="append")
    lance.dataset(uri).tags.create("keep", 5)
    with open(hint(uri), "w") as fh:
        json.dump({"version": 5}, fh)
    lance.dataset(uri, version=8).cleanup_old_versions(older_than=timedelta(0), delete_unverified=True, error_if_tagged_old_versions=False)
    assert sorted(v["version"] for v in lance.dataset(uri).versions()) == [5, 8]
    assert head_version(uri) == 5  # the gap the check cannot see
    forget_stale_hint(uri)
    assert head_version(uri) is None and lance_dataset(uri).version == 8
    lance.write_dataset(rows(9), uri, mode="append")  # Lance writes the hint again
    assert head_version(uri) == 9


def test_append_opens_the_head_and_creates_a_table_whose_first_commit_was_killed(tmp_path):
    uri = tmp_path / "t.lance"
    os.makedirs(uri / "_versions")  # a first commit killed before its manifest: no hint, no manifest
    assert lance_append(uri, rows(0), commit_message="first").version == 1
    ds = lance_append(uri, rows(1), commit_message="second")  # the head opened by its hint
    assert ds.version == 2 and ds.count_rows() == 2
    assert lance.dataset(uri).read_transaction(2).transaction_properties["__lance_commit_message"] == "second"


def commit_scenario(uri, scenario: str, hints: bool):
    """(version, rows) after a writer's fragments and commit in ``scenario``, or the error's type;
    without ``hints``, the hint is removed before each call, so Lance is handed the uri."""
    from pinlake.storage import lance_commit, lance_write_fragments

    def forget() -> None:
        if not hints and os.path.exists(hint(uri)):
            os.unlink(hint(uri))

    lance.write_dataset(rows(0), uri)
    lance.write_dataset(rows(1), uri, mode="append")
    read = 2
    if scenario in ("another writer", "another writer, hint behind"):
        lance.write_dataset(rows(2), uri, mode="append")  # committed after this writer read version 2
    if scenario in ("hint behind", "another writer, hint behind"):
        with open(hint(uri), "w") as fh:
            json.dump({"version": 1}, fh)
    forget()
    fragments = lance_write_fragments(rows(7), uri, schema=rows(7).schema)
    ops = {"append": lance.LanceOperation.Append(fragments), "overwrite": lance.LanceOperation.Overwrite(rows(7).schema, fragments)}
    out = []
    for name, op in ops.items():
        forget()
        try:
            ds = lance_commit(uri, lance.Transaction(read_version=read, operation=op))
            out.append((name, ds.version, sorted(ds.to_table().column("n").to_pylist())))
        except Exception as exc:  # noqa: BLE001 - the outcome compared is the error's type
            out.append((name, type(exc).__name__))
        read = lance.dataset(uri).version
    return out


@pytest.mark.parametrize("scenario", ["head", "hint behind", "another writer", "another writer, hint behind"])
def test_fragments_and_commits_through_the_head_end_as_through_the_uri(tmp_path, scenario):
    """``lance_commit`` and ``lance_write_fragments`` hand Lance the table opened at its head (no listing
    of every manifest); the versions, rows and conflicts are those of handing it the uri."""
    through_head = commit_scenario(tmp_path / "a.lance", scenario, hints=True)
    assert through_head == commit_scenario(tmp_path / "b.lance", scenario, hints=False), through_head
    assert through_head[0][1] == (4 if "another writer" in scenario else 3)
