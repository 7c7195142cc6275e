import hashlib

import boto3
import pytest

from pinlake.errors import InputFileError, NotFoundError


def test_import_local_directory(lake, files):
    md = lake.import_bucket_objects([str(files)], tags=["ref"], source="nas")
    assert len(md) == 6
    d = lake.find_data(object_name="files/small.png")
    assert d.uri.startswith("file://") and d.tags == ["ref"] and d.source == "nas"
    assert d.get_bytes() == (files / "small.png").read_bytes()
    # bytes were not copied into the lake
    assert lake.store.open("objects").to_table(filter="uri IS NULL").num_rows == 0
    # re-import is a no-op
    v = lake.version
    lake.import_bucket_objects([str(files)])
    assert lake.version == v
    # the referenced file changes: reading it fails clearly; re-import records version 2
    (files / "small.png").write_bytes(b"changed")
    with pytest.raises(InputFileError, match="changed since it was imported"):
        d.get_bytes()
    lake.import_bucket_objects([str(files / "small.png")])
    assert lake.find_data(object_name="small.png").get_bytes() == b"changed"
    with pytest.raises(NotFoundError):
        lake.import_bucket_objects([str(files / "nothing-here")])


def test_import_s3_moto(lake, moto_s3):
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.create_bucket(Bucket="scans")
    bodies = {f"basel/p{i}/t2.bin": bytes([i]) * (100 + i) for i in range(5)}
    bodies["zurich/x.csv"] = b"a,b\n1,2\n"
    for key, body in bodies.items():
        s3.put_object(Bucket="scans", Key=key, Body=body)
    md = lake.import_bucket_objects(["s3://scans/basel"], tags=["mri"], source="basel")
    assert sorted(d.object_name for d in md) == sorted(k for k in bodies if k.startswith("basel/"))
    d = lake.find_data(object_name="basel/p3/t2.bin")
    assert d.uri == "s3://scans/basel/p3/t2.bin" and d.sha256 == hashlib.sha256(bodies["basel/p3/t2.bin"]).hexdigest()
    assert d.get_bytes() == bodies["basel/p3/t2.bin"]
    csv = lake.import_bucket_objects("s3://scans/zurich/")[0]
    assert csv.to_arrow().to_pydict() == {"a": [1], "b": [2]}
    s3.put_object(Bucket="scans", Key="basel/p3/t2.bin", Body=b"tampered")
    with pytest.raises(InputFileError, match="sha256"):
        d.get_bytes()
    s3.delete_object(Bucket="scans", Key="basel/p1/t2.bin")
    with pytest.raises(NotFoundError):
        lake.find_data(object_name="basel/p1/t2.bin").get_bytes()
