import numpy as np
import pytest
from PIL import Image

from pinlake.errors import InputFileError, NoDataError, NotFoundError, ValidationError
from pinlake.lake import Data, ErrorManager, MultiData, Tag


def test_upload_single_and_many(lake, files):
    d = lake.upload_data(files / "small.png", tags=["car"], source="camera-one")
    assert isinstance(d, Data)
    assert (d.object_name, d.filename, d.version, d.media_type, d.width, d.height) == ("small.png", "small.png", 1, "image/png", 30, 20)
    assert d.tags == ["car"] and d.source == "camera-one"
    assert d.get_bytes() == (files / "small.png").read_bytes()
    assert lake.version == 1  # the first upload creates the data table
    md = lake.upload_data([files / "big.jpg", files / "cells.tif", files / "arr.npy"], tags=[Tag("car"), "big"])
    assert isinstance(md, MultiData) and len(md) == 3
    assert [x.media_type for x in md] == ["image/jpeg", "image/tiff", "application/x-npy"]
    assert (md[2].width, md[2].height) == (4, 3)
    assert len(lake.list_data()) == 4
    assert lake.version == 2  # one commit for the three files of one call


def test_versions_and_dedup(lake, files):
    p = files / "small.png"
    v1 = lake.upload_data(p)
    version_after_first = lake.version
    assert lake.upload_data(p) == v1  # identical bytes: no-op
    assert lake.version == version_after_first
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(p)
    v2 = lake.upload_data(p)
    assert v2.version == 2 and v2.id != v1.id
    Image.fromarray(np.full((20, 30, 3), 7, np.uint8)).save(p)
    v3 = lake.upload_data(p)
    assert v3.version == 3
    assert lake.find_data(object_name="small.png").id == v3.id
    assert lake.find_data(object_name="small.png", version=1).to_numpy().mean() == 100
    assert lake.find_data(object_name="small.png", version=2).to_numpy().mean() == 200
    assert len(lake.list_data()) == 1
    assert [d.version for d in lake.list_data(all_versions=True)] == [1, 2, 3]
    # same bytes under another name: one object, two resources
    other = lake.upload_data(p, object_names=["copies/other.png"])
    assert other.sha256 == v3.sha256 and other.version == 1
    objects = lake.store.open("objects").to_table(columns=["sha256"])["sha256"].to_pylist()
    assert len(objects) == len(set(objects)) == 3


def test_in_call_duplicates_and_metadata(lake, files):
    md = lake.upload_data([files / "small.png", files / "small.png"], metadata=[{"a": 1}, {"a": 2}])
    assert [d.version for d in md] == [1, 2]
    assert lake.find_data(object_name="small.png").metadata == {"a": 2}
    assert lake.find_data(object_name="small.png", version=1).is_latest is False
    same = lake.upload_data(files / "small.png", metadata={"a": 2})
    assert same.version == 2


def test_object_names(lake, files):
    d = lake.upload_data(files / "small.png", object_names=["trial/basel/patient-001/t2.png"])
    assert d.object_name == "trial/basel/patient-001/t2.png" and d.filename == "t2.png"
    for bad in ["../x.png", "/abs.png", "a//b.png", "a/./b", ""]:
        with pytest.raises(ValidationError, match="object name"):
            lake.upload_data(files / "small.png", object_names=[bad])
    with pytest.raises(ValidationError, match="object_names has 2"):
        lake.upload_data(files / "small.png", object_names=["a", "b"])


def test_fill_metadata_tiff(lake, files):
    d = lake.upload_data(files / "cells.tif", fill_metadata=True, metadata={"site": "basel"})
    meta = d.metadata
    assert meta["site"] == "basel" and meta["ImageWidth"] == 64 and meta["ImageLength"] == 48


def test_fill_metadata_exif(lake, tmp_path):
    img = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    exif = Image.Exif()
    exif[0x010F] = "AcmeCam"  # Make
    img.save(tmp_path / "e.jpg", exif=exif)
    assert lake.upload_data(tmp_path / "e.jpg", fill_metadata=True).metadata["Make"] == "AcmeCam"


def test_metadata_errors(lake, files):
    with pytest.raises(ValidationError, match="metadata has 1 entries for 2 files"):
        lake.upload_data([files / "small.png", files / "big.jpg"], metadata=[{}])
    with pytest.raises(ValidationError):
        lake.upload_data(files / "small.png", metadata="nope")
    with pytest.raises(NoDataError):
        lake.list_data()


def test_error_manager_collects_and_rest_lands(lake, files, tmp_path, monkeypatch):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    unreadable = tmp_path / "secret.png"
    unreadable.write_bytes(b"x")
    import pinlake.lake.upload as up

    real = up.read_local

    def reader(path, mode=None):  # as root, chmod would not deny the read
        if str(path).endswith("secret.png"):
            raise PermissionError("denied")
        return real(path, mode)

    monkeypatch.setattr(up, "read_local", reader)
    em = ErrorManager()
    md = lake.upload_data([files / "small.png", tmp_path / "missing.png", files, unreadable, corrupt], error_manager=em, fill_metadata=True)
    assert [d.filename for d in md] == ["small.png"]
    reasons = {e.path.rsplit("/", 1)[-1]: e.reason for e in em.errors}
    assert set(reasons) == {"missing.png", "files", "secret.png", "corrupt.png"}
    assert "not found" in reasons["missing.png"] and "directory" in reasons["files"]
    assert "permission" in reasons["secret.png"] and "image" in reasons["corrupt.png"]
    assert len(lake.list_data()) == 1


def test_failure_without_error_manager_writes_nothing(lake, files, tmp_path):
    lake.upload_data(files / "big.jpg")
    before = lake.version
    with pytest.raises(InputFileError, match="missing.png"):
        lake.upload_data([files / "small.png", tmp_path / "missing.png"])
    assert lake.version == before
    assert [d.filename for d in lake.list_data()] == ["big.jpg"]
    assert lake.store.open("objects").count_rows() == 1


def test_lineage_on_commit(lake, files):
    lake.upload_data(files / "small.png")
    ds = lake.store.open("data")
    props = ds.read_transaction(ds.version).transaction_properties
    assert props["pinlake.operation"] == "lake.upload" and props["pinlake.run_id"]


def test_checkout_is_read_only_and_pinned(lake, files):
    lake.upload_data(files / "small.png")
    v = lake.version
    lake.upload_data(files / "big.jpg")
    old = lake.checkout(v)
    assert [d.filename for d in old.list_data()] == ["small.png"]
    assert old.find_data(filename="small.png").get_bytes() == (files / "small.png").read_bytes()
    with pytest.raises(ValidationError, match="read-only"):
        old.upload_data(files / "arr.npy")
    with pytest.raises(NotFoundError):
        lake.checkout(999)


def test_library_get_datalake(tmp_path, files):
    import pinlake

    lake = pinlake.connect(tmp_path / "lib").get_datalake()
    lake.upload_data(files / "small.png")
    assert (tmp_path / "lib" / "_lake" / "data.lance").is_dir()
    assert isinstance(pinlake.Lake(tmp_path / "lib" / "_lake").find_data(filename="small.png"), Data)
