"""Bad input to a lake upload is refused with an error naming the file or field, and the lake stays
as it was (same version, same rows, same objects)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pinlake.errors import InputFileError, ValidationError
from pinlake.lake import ErrorManager, Lake, upload


def _png(w: int = 30, h: int = 20) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(w: int = 64, h: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _snapshot(lake: Lake) -> tuple:
    store = lake.store
    data = store.open_or_none("data")
    objects = store.open_or_none("objects")
    tags = store.open_or_none("tags")
    rows = sorted(data.to_table(columns=["id", "object_name", "version", "sha256"]).to_pylist(), key=lambda r: r["id"]) if data else []
    return (lake.version, objects.version if objects else 0, tags.version if tags else 0, rows, objects.count_rows() if objects else 0)


@pytest.fixture
def seeded(lake, files):
    lake.upload_data([files / "small.png", files / "big.jpg"], tags=["seed"])
    return lake


@pytest.fixture
def truncated_jpeg(tmp_path) -> Path:
    p = tmp_path / "bad" / "cut.jpg"
    p.parent.mkdir()
    data = _jpeg()
    p.write_bytes(data[: len(data) // 2])
    with Image.open(p) as im:  # the header still parses
        assert im.size == (64, 48)
    return p


@pytest.fixture
def empty_png(tmp_path) -> Path:
    p = tmp_path / "bad" / "empty.png"
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(b"")
    return p


@pytest.mark.parametrize("fill_metadata", [False, True])
def test_truncated_jpeg_is_refused(seeded, files, truncated_jpeg, fill_metadata):
    before = _snapshot(seeded)
    with pytest.raises(InputFileError) as exc:
        seeded.upload_data([files / "arr.npy", truncated_jpeg], fill_metadata=fill_metadata)
    msg = str(exc.value)
    assert "cut.jpg" in msg and "truncated" in msg and "FF D9" in msg, msg
    assert _snapshot(seeded) == before


def test_truncated_png_is_refused(seeded, tmp_path):
    before = _snapshot(seeded)
    p = tmp_path / "cut.png"
    data = _png()
    p.write_bytes(data[:-12])  # the IEND chunk is gone
    with pytest.raises(InputFileError, match=r"cut\.png.*IEND"):
        seeded.upload_data(p)
    assert _snapshot(seeded) == before


def test_zero_byte_png_is_refused(seeded, empty_png):
    before = _snapshot(seeded)
    with pytest.raises(InputFileError) as exc:
        seeded.upload_data(empty_png)
    msg = str(exc.value)
    assert "empty.png" in msg and "empty" in msg and "image/png" in msg, msg
    assert _snapshot(seeded) == before


def test_bad_files_go_to_the_error_manager_and_the_rest_lands(seeded, files, truncated_jpeg, empty_png):
    em = ErrorManager()
    md = seeded.upload_data([files / "arr.npy", truncated_jpeg, empty_png], error_manager=em)
    assert [d.filename for d in md] == ["arr.npy"]
    reasons = {Path(e.path).name: e.reason for e in em.errors}
    assert set(reasons) == {"cut.jpg", "empty.png"}
    assert "truncated" in reasons["cut.jpg"] and "empty" in reasons["empty.png"]
    assert sorted(d.object_name for d in seeded.list_data()) == ["arr.npy", "big.jpg", "small.png"]


def test_complete_jpeg_with_zero_padding_is_accepted(lake, tmp_path):
    p = tmp_path / "padded.jpg"
    p.write_bytes(_jpeg() + b"\x00" * 100)
    d = lake.upload_data(p)
    assert (d.media_type, d.width, d.height) == ("image/jpeg", 64, 48)


def test_complete_images_with_a_trailer_are_accepted(lake, tmp_path):
    """Data after the end marker (vendor trailers, appended records) does not make an image truncated."""
    p = tmp_path / "trailer.jpg"
    p.write_bytes(_jpeg() + b"\0SEFT trailer")
    q = tmp_path / "trailer.png"
    q.write_bytes(_png() + b"appended")
    d1, d2 = lake.upload_data([p, q])
    assert (d1.media_type, d2.media_type) == ("image/jpeg", "image/png")


def test_end_marker_inside_the_header_does_not_hide_a_cut(seeded, tmp_path):
    """A small JPEG whose header holds FF D9 (a comment, or an EXIF thumbnail) and whose scan is cut."""
    data = _jpeg(16, 16)
    comment = b"thumbnail ends \xff\xd9 here"
    with_marker = data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]
    with Image.open(io.BytesIO(with_marker)) as im:
        im.load()  # a valid JPEG
    p = tmp_path / "cut-small.jpg"
    p.write_bytes(with_marker[:-40])
    before = _snapshot(seeded)
    with pytest.raises(InputFileError, match="cut-small.jpg.*truncated"):
        seeded.upload_data(p)
    assert _snapshot(seeded) == before


def test_media_type_comes_from_the_bytes(lake, tmp_path):
    p = tmp_path / "really-a-png.jpg"
    p.write_bytes(_png())
    q = tmp_path / "really-a-jpeg.png"
    q.write_bytes(_jpeg())
    d1, d2 = lake.upload_data([p, q])
    assert (d1.media_type, d1.width, d1.height) == ("image/png", 30, 20)
    assert (d2.media_type, d2.width, d2.height) == ("image/jpeg", 64, 48)
    assert [d.filename for d in lake.list_data(q="media_type = 'image/png'")] == ["really-a-png.jpg"]
    # a name the bytes do not confirm: not stored as an image
    t = tmp_path / "notes.png"
    t.write_bytes(b"just some text, not an image")
    assert lake.upload_data(t).media_type == "application/octet-stream"
    # no signature to check: the name decides, as before
    c = tmp_path / "t.csv"
    c.write_text("BMI,height\n1,2\n")
    assert lake.upload_data(c).media_type == "text/csv"


@pytest.mark.parametrize(
    "name, needle",
    [
        ("a\nb.png", "newline"),
        ("folder/with\rreturn/x.png", "control character"),
        ("trial/" + "x" * 252 + ".png", "255 bytes"),  # 256 bytes in one part
        ("trial/" + "é" * 128 + "/x.png", "255 bytes"),  # 128 characters, 256 bytes
    ],
)
def test_bad_object_names_are_refused(seeded, files, name, needle):
    before = _snapshot(seeded)
    with pytest.raises(ValidationError) as exc:
        seeded.upload_data(files / "arr.npy", object_names=[name])
    assert "object name" in str(exc.value) and needle in str(exc.value), str(exc.value)
    assert _snapshot(seeded) == before


NAME_CHARS = st.sampled_from(list("ab./\\:\n\x00\x7f é-") + ["\u2028", "\U0001f600", "\udcff"])


@settings(max_examples=400, deadline=None)
@given(name=st.text(NAME_CHARS, max_size=70) | st.sampled_from(["a/./b", "../a", "a/..", ".", "a//b", "a/", "C:x", " ", "é" * 63]))
def test_the_quick_name_test_passes_only_names_the_full_check_accepts(name):
    """``check_object_name`` passes the common name on a quick test: every name it passes, the full
    check (with each rule and its reason) accepts too."""
    if upload.plainly_safe(name):
        assert upload.checked_name(name) == name
    try:
        full = upload.checked_name(name)
    except ValidationError:
        full = None
    try:
        assert upload.check_object_name(name) == full == name
    except ValidationError:
        assert full is None


def test_long_object_name_within_limits_is_accepted(lake, files):
    name = "/".join(["p" * 255] * 3)
    assert lake.upload_data(files / "arr.npy", object_names=[name]).object_name == name


def test_metadata_string_over_the_limit_is_refused(seeded, files):
    before = _snapshot(seeded)
    big = "x" * ((1 << 20) + 1)
    with pytest.raises(ValidationError) as exc:
        seeded.upload_data([files / "arr.npy", files / "cells.tif"], metadata=[{"site": "basel"}, {"notes": big}])
    msg = str(exc.value)
    assert "cells.tif" in msg and "metadata" in msg and "notes" in msg and "PINLAKE_MAX_FIELD_BYTES" in msg, msg
    assert _snapshot(seeded) == before


def test_metadata_limit_is_configurable(seeded, files, monkeypatch):
    monkeypatch.setenv("PINLAKE_MAX_FIELD_BYTES", "64")
    before = _snapshot(seeded)
    with pytest.raises(ValidationError, match="notes"):
        seeded.upload_data(files / "arr.npy", metadata={"notes": "y" * 100})
    assert _snapshot(seeded) == before
    monkeypatch.setenv("PINLAKE_MAX_FIELD_BYTES", "not a number")
    with pytest.raises(ValidationError, match="PINLAKE_MAX_FIELD_BYTES"):
        seeded.upload_data(files / "arr.npy", metadata={"notes": "y"})
    monkeypatch.setenv("PINLAKE_MAX_FIELD_BYTES", "1000")
    assert seeded.upload_data(files / "arr.npy", metadata={"notes": "y" * 100}).metadata == {"notes": "y" * 100}


def test_processing_output_over_the_limit_is_refused(seeded):
    from pinlake.lake import register_processing

    @register_processing("test-bad-input-huge")
    def huge(lake, data, parameters):  # noqa: ANN001, ANN202
        return {d.id: {"metadata": {"blob": "z" * ((1 << 20) + 1)}} for d in data}

    before = _snapshot(seeded)
    with pytest.raises(ValidationError, match="metadata"):
        seeded.launch_processing("test-bad-input-huge", seeded.list_data())
    assert _snapshot(seeded) == before


# --- the CLI -------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "4000"}  # no wrapping: one message is one line
    return subprocess.run([sys.executable, "-m", "pinlake", *args], capture_output=True, text=True, env=env, timeout=300)


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


def test_cli_upload_refuses_bad_files_per_file(tmp_path, files, truncated_jpeg, empty_png):
    lib = tmp_path / "lib"
    assert _cli("lake", "upload", str(files / "small.png"), "-L", str(lib)).returncode == 0
    lake = Lake(lib / "_lake")
    before = _snapshot(lake)
    r = _cli("lake", "upload", str(truncated_jpeg), str(empty_png), "-L", str(lib))
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.splitlines()
    cut = [x for x in lines if "cut.jpg" in x]
    empty = [x for x in lines if "empty.png" in x]
    assert len(cut) == 1 and "truncated" in cut[0] and len(empty) == 1 and "empty" in empty[0], r.stderr
    assert _snapshot(lake) == before


def test_cli_metadata_file_with_unmatched_keys_is_refused(tmp_path, files):
    lib = tmp_path / "lib"
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"small.png": {"site": "basel"}, "smal.png": {"site": "zurich"}, "nope.jpg": {"a": 1}}))
    r = _cli("lake", "upload", str(files / "small.png"), str(files / "big.jpg"), "--metadata-file", str(meta), "-L", str(lib))
    err = _one_error_line(r)
    assert "meta.json" in err and "'smal.png'" in err and "'nope.jpg'" in err, err
    assert not (lib / "_lake" / "data.lance").exists()  # nothing was written
    # keys given with the object prefix match too
    meta.write_text(json.dumps({"trial/small.png": {"site": "basel"}}))
    r = _cli("lake", "upload", str(files / "small.png"), "--metadata-file", str(meta), "--object-prefix", "trial", "-L", str(lib))
    assert r.returncode == 0, r.stderr
    assert Lake(lib / "_lake").find_data(object_name="trial/small.png").metadata == {"site": "basel"}


def test_cli_upload_refuses_object_name_with_newline(tmp_path):
    lib = tmp_path / "lib"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.png").write_bytes(_png())
    (folder / "bad\nname.png").write_bytes(_png(5, 5))
    r = _cli("lake", "upload", str(folder), "-L", str(lib))
    err = _one_error_line(r)
    assert "object name" in err and "newline" in err, err
    assert not (lib / "_lake" / "data.lance").exists()


def test_cli_upload_refuses_huge_metadata(tmp_path, files):
    lib = tmp_path / "lib"
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"notes": "n" * ((1 << 20) + 1)}))
    r = _cli("lake", "upload", str(files / "small.png"), "--metadata-file", str(meta), "-L", str(lib))
    err = _one_error_line(r)
    assert "small.png" in err and "notes" in err, err
    assert not (lib / "_lake" / "data.lance").exists()
