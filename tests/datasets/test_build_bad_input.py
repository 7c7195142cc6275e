"""Bad input to a folder build is refused with an error naming the file, line or field, and the
dataset that was there stays as it was (same version, same rows).

Every case runs through the columnar path and the per-row path (``builder.columnar = False``).
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image as PILImage

from pinlake.datasets import Dataset, DatasetInfo
from pinlake.datasets.build import ImageFolderBuilder
from pinlake.demo.data import HealthDatasetItem
from pinlake.errors import InputFileError, ValidationError
from pinlake.features import BBox, KeyPoints

MODES = [True, False]  # columnar, per row


def _builder(src: Path, target: Path, columnar: bool) -> ImageFolderBuilder:
    b = ImageFolderBuilder(src, target, HealthDatasetItem, DatasetInfo(id="h", name="H"), url_prefix="/h")
    b.columnar = columnar
    return b


def _snapshot(path: Path) -> tuple[int, dict[str, list]]:
    ds = Dataset(path)
    return ds.version, {t: sorted(ds.to_arrow(t).column("id").to_pylist()) for t in ds.tables}


def _first(split: Path, ext: str) -> tuple[int, str]:
    """(line number, image name) of the first metadata line naming an image with this extension."""
    for n, line in enumerate((split / "metadata.jsonl").read_text().splitlines(), start=1):
        name = json.loads(line)["image"]
        if name.endswith(ext):
            return n, name
    raise AssertionError(f"no {ext} image in {split}")


def _edit_line(split: Path, lineno: int, change) -> None:  # noqa: ANN001
    meta = split / "metadata.jsonl"
    lines = meta.read_text().splitlines()
    obj = json.loads(lines[lineno - 1])
    change(obj)
    lines[lineno - 1] = json.dumps(obj)  # json.dumps writes NaN / Infinity as Python reads them
    meta.write_text("\n".join(lines) + "\n")


@pytest.fixture
def built(health_folder, tmp_path):
    """A dataset built from the good folder; returns (target, snapshot)."""
    target = tmp_path / "lib" / "h"
    _builder(health_folder, target, True).build(compute_stats=False)
    return target, _snapshot(target)


def _overwrite_refused(health_folder: Path, target: Path, snap, columnar: bool, exc_type=InputFileError) -> str:  # noqa: ANN001
    with pytest.raises(exc_type) as exc:
        _builder(health_folder, target, columnar).build(mode="overwrite", compute_stats=False)
    assert _snapshot(target) == snap  # nothing stored changed
    return str(exc.value)


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("columnar", MODES)
def test_truncated_jpeg_is_refused(health_folder, built, columnar):
    target, snap = built
    split = health_folder / "train"
    lineno, name = _first(split, ".jpg")
    _truncate(split / name)
    with PILImage.open(split / name) as im:  # the header is still valid: only the scan is cut
        assert im.size[0] > 0
    msg = _overwrite_refused(health_folder, target, snap, columnar)
    assert name in msg and "truncated" in msg and "FF D9" in msg, msg


@pytest.mark.parametrize("columnar", MODES)
def test_truncated_png_is_refused(health_folder, built, columnar):
    target, snap = built
    split = health_folder / "train"
    lineno, name = _first(split, ".png")
    _truncate(split / name, 0.8)
    msg = _overwrite_refused(health_folder, target, snap, columnar)
    assert name in msg and "truncated" in msg and "IEND" in msg, msg


@pytest.mark.parametrize("columnar", MODES)
def test_truncated_image_refused_on_create_leaves_nothing(health_folder, tmp_path, columnar):
    split = health_folder / "test"
    _, name = _first(split, ".jpg")
    _truncate(split / name)
    target = tmp_path / "lib" / "new"
    with pytest.raises(InputFileError, match="truncated"):
        _builder(health_folder, target, columnar).build(compute_stats=False)
    assert not target.exists()


def test_complete_jpeg_with_zero_padding_is_accepted(tmp_path):
    src = tmp_path / "src" / "all"
    src.mkdir(parents=True)
    buf = io.BytesIO()
    PILImage.new("RGB", (16, 12), (1, 2, 3)).save(buf, format="JPEG")
    (src / "a.jpg").write_bytes(buf.getvalue() + b"\x00" * 32)  # some writers pad to a block size
    (src / "metadata.jsonl").write_text('{"image": "a.jpg", "image_type": "mri"}\n')
    for columnar in MODES:
        ds = _builder(tmp_path / "src", tmp_path / f"lib{columnar}" / "h", columnar).build(compute_stats=False)
        assert ds.to_arrow("image").column("width").to_pylist() == [16]


@pytest.mark.parametrize("columnar", MODES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_box_coordinates_are_refused(health_folder, built, columnar, bad):
    target, snap = built
    split = health_folder / "train"

    def change(obj):  # noqa: ANN001
        obj["objects"]["bbox"][0][1] = bad

    _edit_line(split, 2, change)
    msg = _overwrite_refused(health_folder, target, snap, columnar)
    assert "metadata.jsonl:2" in msg and "objects[0].bbox" in msg and "finite" in msg, msg


@pytest.mark.parametrize("columnar", MODES)
def test_huge_number_box_coordinate_is_refused(health_folder, built, columnar):
    """1e999 parses as inf in both JSON readers."""
    target, snap = built
    meta = health_folder / "train" / "metadata.jsonl"
    lines = meta.read_text().splitlines()
    obj = json.loads(lines[0])
    x, y, w, h = obj["objects"]["bbox"][0]
    lines[0] = json.dumps(obj).replace(json.dumps([x, y, w, h]), f"[{x}, {y}, 1e999, {h}]", 1)
    assert "1e999" in lines[0]
    meta.write_text("\n".join(lines) + "\n")
    msg = _overwrite_refused(health_folder, target, snap, columnar)
    assert "metadata.jsonl:1" in msg and "bbox" in msg and "finite" in msg, msg


@pytest.mark.parametrize("columnar", MODES)
def test_non_finite_keypoints_are_refused(health_folder, built, columnar):
    target, snap = built

    def change(obj):  # noqa: ANN001
        obj["objects"]["keypoints"][0][0] = math.nan

    _edit_line(health_folder / "test", 1, change)
    msg = _overwrite_refused(health_folder, target, snap, columnar)
    assert "test/metadata.jsonl:1" in msg and "keypoints" in msg and "finite" in msg, msg


def test_models_refuse_non_finite_coordinates():
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            BBox(coords=[0, 0, bad, 1])
        with pytest.raises(ValueError, match="finite"):
            BBox(coords=[0, 0, 1, 1], confidence=bad)
        with pytest.raises(ValueError, match="finite"):
            KeyPoints(coords=[1, bad])
    assert BBox(coords=[0, 0, 1, 1]).coords == [0, 0, 1, 1]


@pytest.mark.parametrize("columnar", MODES)
def test_string_field_over_the_limit_is_refused(health_folder, built, columnar):
    target, snap = built
    big = "x" * ((1 << 20) + 1)  # one byte over the default 1 MiB

    def change(obj):  # noqa: ANN001
        obj["image_type"] = big

    _edit_line(health_folder / "test", 3, change)
    msg = _overwrite_refused(health_folder, target, snap, columnar, ValidationError)
    assert "image_type" in msg and "PINLAKE_MAX_FIELD_BYTES" in msg, msg
    assert ("test/metadata.jsonl:3" in msg) if columnar else ("table 'item'" in msg and "row 2" in msg), msg


@pytest.mark.parametrize("columnar", MODES)
def test_string_field_limit_is_configurable(health_folder, built, columnar, monkeypatch):
    target, snap = built

    def change(obj):  # noqa: ANN001
        obj["image_type"] = "m" * 200

    _edit_line(health_folder / "test", 1, change)
    monkeypatch.setenv("PINLAKE_MAX_FIELD_BYTES", "100")
    msg = _overwrite_refused(health_folder, target, snap, columnar, ValidationError)
    assert "image_type" in msg and "200 bytes" in msg and "100 bytes" in msg, msg
    monkeypatch.setenv("PINLAKE_MAX_FIELD_BYTES", "1000")
    _builder(health_folder, target, columnar).build(mode="overwrite", compute_stats=False)
    assert Dataset(target).version == snap[0] + 1


def test_add_data_refuses_huge_string(built):
    target, snap = built
    ds = Dataset(target)
    obj = ds.get_data("objects", limit=1)[0]
    obj.category = "y" * ((1 << 20) + 10)
    with pytest.raises(ValidationError) as exc:
        ds.update_data("objects", [obj])
    msg = str(exc.value)
    assert "table 'objects'" in msg and "row 0" in msg and "category" in msg, msg
    assert _snapshot(target) == snap


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "4000"}  # no wrapping: one message is one line
    return subprocess.run([sys.executable, "-m", "pinlake", *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_build_truncated_jpeg_one_line_error(health_folder, tmp_path):
    lib = tmp_path / "lib"
    r = _cli("build", str(health_folder), "--name", "h", "-L", str(lib))
    assert r.returncode == 0, r.stderr
    snap = _snapshot(lib / "h")
    split = health_folder / "train"
    _, name = _first(split, ".jpg")
    _truncate(split / name)
    r = _cli("build", str(health_folder), "--name", "h", "--mode", "overwrite", "-L", str(lib))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and name in errors[0] and "truncated" in errors[0], r.stderr
    assert _snapshot(lib / "h") == snap
