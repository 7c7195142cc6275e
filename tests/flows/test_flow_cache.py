"""The refresh flow's cached build result (keyed by library path, dataset, lock hash and base version)
is used only while the library still has the version it names: a library restored from a copy at
the same path is built again, not handed a version it does not have."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from lake_changes import upload_extra_image

pytestmark = pytest.mark.e2e


def refresh(library, registry) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinlake",
            "refresh",
            "health_by_tag",
            "--registry",
            str(registry),
            "--library",
            str(library),
            "--server",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)[0]


def test_library_restored_from_a_copy_is_built_again(prefect_server, project, tmp_path):
    from pinlake.datasets.versions import VersionLog

    library, registry, assets = project()
    assert refresh(library, registry)["version"] == 1
    upload_extra_image(library, assets, tmp_path)
    backup = tmp_path / "backup"
    shutil.copytree(library, backup)  # version 1 and the lake with the new file, before it is built
    built = refresh(library, registry)
    assert built["version"] == 2
    shutil.rmtree(library)
    shutil.copytree(backup, library)  # the same path, the same lock to build, but no version 2 yet
    again = refresh(library, registry)
    assert again["version"] == 2 and again["unchanged"] is False and again["lock_hash"] == built["lock_hash"]
    log = VersionLog(library / "health_by_tag")
    assert [e.dataset_version for e in log.entries()] == [1, 2] and log.latest().lock_hash == built["lock_hash"]
    assert (library / "health_by_tag" / "_meta" / "2" / "preview.png").is_file()
