"""End to end: the README's main job and the dataset CLI, as a new user runs them (subprocesses)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image as PILImage

pytestmark = pytest.mark.e2e


def run(args, cwd, check=True):
    env = {**os.environ, "PREFECT_HOME": str(Path(cwd) / ".prefect")}
    for key in ("PINLAKE_LIBRARY", "PREFECT_API_URL"):
        env.pop(key, None)  # embedded defaults: ./library and a temporary local Prefect server
    proc = subprocess.run([sys.executable, "-m", "pinlake", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"pinlake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.long
def test_demo_then_cli(tmp_path: Path, prefect_home_seed):
    prefect_home_seed(tmp_path / ".prefect")
    out = run(["demo"], tmp_path).stdout
    ds_dir = tmp_path / "library" / "health_images"
    assert "health_images" in out and "preview.png" in out
    # the flows ran end to end, then the second refresh changed nothing
    assert "refresh health_by_tag: version 1" in out and "refresh basel_trial: version 1" in out
    assert "refresh again health_by_tag: unchanged, no new version" in out
    # the demo registry gates health_by_tag on prod: its checks passed and the channel moved
    assert "refresh health_by_tag: version 1 (lock" in out and "published on prod" in out
    assert json.loads(run(["versions", "health_by_tag", "--json"], tmp_path).stdout)[0]["status"] == "published"
    assert "lineage health_by_tag@1: lake v" in out and "SQL SELECT" in out
    for name in ("health_by_tag", "basel_trial"):
        assert (tmp_path / "library" / name / "preview.png").is_file()
    for name in ("info.json", "schema.json", "features_values.json", "stats.json", "preview.png"):
        assert (ds_dir / name).is_file(), name
    with PILImage.open(ds_dir / "preview.png") as im:
        assert im.width > 200
    listing = json.loads(run(["ls", "--json"], tmp_path).stdout)
    by_name = {d["name"]: d for d in listing}
    assert by_name["health_images"]["items"] == 32 and by_name["health_by_tag"]["versions"] == 1
    info = json.loads(run(["info", "health_images", "--json"], tmp_path).stdout)
    assert info["splits"] == {"train": 24, "test": 8} and info["tables"]["bbox"]["group"] == "annotations"
    rows = json.loads(run(["show", "health_images", "bbox", "--limit", "3", "--json"], tmp_path).stdout)
    assert len(rows) == 3 and len(rows[0]["coords"]) == 4
    stats = json.loads(run(["stats", "health_images", "--json"], tmp_path).stdout)
    assert stats["num_items"] == 32
    assert "Wrote" in run(["preview", "health_images"], tmp_path).stdout


def test_build_cli_and_errors(tmp_path: Path):
    from pinlake.demo.data import generate_health_images

    generate_health_images(tmp_path / "src" / "scans", n_train=4, n_test=2)
    out = run(["build", "src/scans", "--name", "scans", "--library", "lib"], tmp_path).stdout
    assert "Built" in out and "version 1" in out
    # create again: refused, with a hint
    again = run(["build", "src/scans", "--name", "scans", "--library", "lib"], tmp_path, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr and "overwrite" in again.stderr
    assert "Traceback" not in again.stderr
    over = run(["build", "src/scans", "--name", "scans", "--library", "lib", "--mode", "overwrite"], tmp_path).stdout
    assert "version 2" in over
    missing = run(["info", "nope", "--library", "lib"], tmp_path, check=False)
    assert missing.returncode == 1 and "no dataset 'nope'" in missing.stderr and "scans" in missing.stderr
    bad_table = run(["show", "scans", "boxes", "--library", "lib"], tmp_path, check=False)
    assert bad_table.returncode == 1 and "unknown table 'boxes'" in bad_table.stderr
