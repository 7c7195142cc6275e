import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pinlake.errors import NotFoundError, ValidationError
from pinlake.lake import register_processing
from pinlake.lake.processing import ProcessingOutput


def test_values(lake, files):
    md = lake.upload_data([files / n for n in ["cells.tif", "arr.npy", "small.png", "table.csv", "table.tsv"]])
    by = {d.filename: d for d in md}
    tif = by["cells.tif"].to_numpy()
    assert tif.shape == (48, 64) and tif.dtype == np.uint8 and tif[0, 5] == 5
    assert np.array_equal(by["arr.npy"].to_numpy(), np.arange(12, dtype=np.int32).reshape(3, 4))
    assert by["small.png"].to_numpy().shape == (20, 30, 3)
    assert by["table.csv"].to_arrow().to_pydict() == {"x": [1, 3], "y": [2, 4]}
    assert by["table.tsv"].to_arrow().to_pydict() == {"a": [5], "b": [6]}
    assert by["small.png"].open().read(4) == b"\x89PNG"
    with pytest.raises(ValidationError):
        by["table.csv"].to_numpy()
    with pytest.raises(ValidationError):
        by["arr.npy"].to_arrow()


def test_exports(lake, files, tmp_path):
    md = lake.upload_data([files / "small.png", files / "big.jpg", files / "arr.npy"], metadata={"site": "basel"})
    t = lake.to_arrow()
    assert t.num_rows == 3 and "sha256" in t.column_names
    sel = md[1:]
    assert lake.to_arrow(sel)["object_name"].to_pylist() == ["big.jpg", "arr.npy"]
    df = lake.to_pandas(q="width > 100")
    assert isinstance(df, pd.DataFrame) and df["object_name"].tolist() == ["big.jpg"]
    out = lake.to_parquet(tmp_path / "x" / "rows.parquet", md)
    assert pq.read_table(out).num_rows == 3


def test_builtin_processings(lake, files):
    lake.upload_data([files / "small.png", files / "big.jpg", files / "table.csv"])
    v = lake.version
    r = lake.launch_processing("image-stats", lake.list_data())
    assert r.status == "success" and r.processed == 3 and r.updated == 2 and r.failed == 0
    assert lake.version == v + 1 == r.lake_version
    assert lake.find_data(filename="small.png").metadata["mean_intensity"] == 100.0
    r = lake.launch_processing("auto-tag", lake.list_data(), {"tag": "big", "where": "width > 100"})
    assert r.updated == 1
    assert [d.filename for d in lake.list_data(tags="big")] == ["big.jpg"]
    with pytest.raises(ValidationError):
        lake.launch_processing("auto-tag", lake.list_data(), {"tag": "x"})
    with pytest.raises(NotFoundError):
        lake.launch_processing("no-such-thing", lake.list_data())


def test_custom_processing_with_errors(lake, files):
    @register_processing("size-class")
    def size_class(lake, data, parameters):
        out = ProcessingOutput()
        for d in data:
            if d.media_type == "text/csv":
                out.errors.append((d.object_name, "not an image"))
            else:
                out.updates[d.id] = {"tags": ["small" if d.size < parameters["limit"] else "large"]}
        return out

    lake.upload_data([files / "small.png", files / "table.csv"])
    r = lake.launch_processing("size-class", lake.list_data(), {"limit": 10_000})
    assert r.status == "partial" and r.failed == 1 and r.errors[0][0] == "table.csv"
    assert lake.find_data(filename="small.png").tags == ["small"]
