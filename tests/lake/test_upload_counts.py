"""`pinlake lake upload` says what it stored: new objects, new versions, files already stored (local
and Dask runners); a re-upload of identical files says nothing new was stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pinlake.cli import app, register_commands


def _files(root: Path) -> Path:
    from pinlake.demo.data import generate_health_images

    generate_health_images(root / "assets", n_train=2, n_test=0)
    folder = root / "assets" / "train"
    (folder / "metadata.jsonl").unlink()
    return folder


def _upload(folder: Path, library: Path, *extra: str) -> str:
    register_commands()
    res = CliRunner().invoke(
        app, ["lake", "upload", str(folder), "--object-prefix", "trial/basel", *extra, "--library", str(library)], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    return res.output


def _check_counts(folder: Path, library: Path, *extra: str) -> None:
    n = len(list(folder.iterdir()))
    assert f"uploaded {n} file(s); lake version 1: {n} new, 0 new version(s), 0 already stored" in _upload(folder, library, *extra)
    again = _upload(folder, library, *extra)
    assert f"0 new, 0 new version(s), {n} already stored (nothing new stored)" in again and "lake version 1:" in again
    tagged = _upload(folder, library, "--tag", "basel", *extra)
    assert f"{n} already stored ({n} given new tags or a source)" in tagged
    first = sorted(folder.iterdir())[0]
    first.write_bytes(first.read_bytes() + b"\0")
    (folder / "extra.png").write_bytes(sorted(folder.glob("*.png"))[0].read_bytes())
    changed = _upload(folder, library, "--tag", "basel", *extra)
    assert f"1 new, 1 new version(s), {n - 1} already stored" in changed and "nothing new" not in changed


def test_local_upload_counts(tmp_path: Path):
    _check_counts(_files(tmp_path), tmp_path / "library")


@pytest.mark.slow
def test_dask_upload_counts(tmp_path: Path, dask_cluster):
    _check_counts(_files(tmp_path), tmp_path / "library", "--runner", "dask", "--dask-address", dask_cluster.scheduler_address)
