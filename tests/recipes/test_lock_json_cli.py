"""`pinlake datasets lock --json`: the hash and directory for scripts, never split across lines."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pinlake.cli import app, register_commands

register_commands()


def test_lock_json_names_the_lock_directory(project, tmp_path):
    library, registry, _ = project()
    res = CliRunner().invoke(
        app,
        ["datasets", "lock", "--file", str(registry.parent / "health_by_tag.py"), "--json", "--library", str(library)],
        env={"COLUMNS": "40"},
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert len(out["hash"]) == 64 and out["path"].endswith(out["hash"]) and sum(out["counts"].values()) == 12
    manifest = json.loads((library / "_locks" / out["hash"] / "lock.json").read_text())
    assert manifest["hash"] == out["hash"] and manifest["lake_version"] == out["lake_version"]
