import pytest

from pinlake.errors import InvalidQueryError, NoDataError, NotFoundError, ValidationError
from pinlake.lake import DataSource, Tag


@pytest.fixture
def filled(lake, files):
    lake.upload_data([files / "small.png", files / "big.jpg"], tags=["car"], source="camera-one")
    lake.upload_data([files / "cells.tif", files / "arr.npy"], tags=["cells"], source="scope")
    lake.upload_data(files / "small.png", object_names=["b/small.png"], tags=["car", "copy"])
    return lake


def test_find_data(filled):
    d = filled.find_data(object_name="big.jpg")
    assert filled.find_data(id=d.id) == d
    with pytest.raises(InvalidQueryError, match="several"):
        filled.find_data(filename="small.png")
    with pytest.raises(NotFoundError):
        filled.find_data(filename="nope.png")
    with pytest.raises(InvalidQueryError):
        filled.find_data()


def test_list_data_filters(filled):
    names = lambda md: sorted(d.object_name for d in md)  # noqa: E731
    assert names(filled.list_data(tags="car")) == ["b/small.png", "big.jpg", "small.png"]
    assert names(filled.list_data(tags=["car", "cells"])) == ["arr.npy", "b/small.png", "big.jpg", "cells.tif", "small.png"]
    assert names(filled.list_data(tags=["car", "copy"], intersect_tags=True)) == ["b/small.png"]
    assert names(filled.list_data(filenames=["small.png"])) == ["b/small.png", "small.png"]
    assert names(filled.list_data(object_names=["big.jpg"])) == ["big.jpg"]
    assert names(filled.list_data(q="width > 100")) == ["big.jpg"]
    assert names(filled.list_data(q="media_type LIKE 'image/%' AND source = 'scope'")) == ["cells.tif"]
    ids = [filled.find_data(object_name="arr.npy").id]
    assert names(filled.list_data(ids=ids)) == ["arr.npy"]
    page = filled.list_data(order_by=["-size"], limit=2, offset=1)
    sizes = [d.size for d in filled.list_data(order_by=["-size"])]
    assert [d.size for d in page] == sizes[1:3]
    assert len(filled.list_data(q="width > 100000")) == 0


@pytest.mark.parametrize(
    "q",
    ["1=1; DROP TABLE data", "width > 1 -- x", "width /* c */ > 1", "DELETE FROM data", "width > (SELECT 1)", "bogus_col > 1", "width >"],
)
def test_unsafe_or_bad_q(filled, q):
    with pytest.raises(InvalidQueryError):
        filled.list_data(q=q)


def test_q_allows_keywords_inside_strings(filled):
    assert len(filled.list_data(q="filename != 'drop; -- table'")) == 5


def test_tags_and_sources(filled):
    assert [t.name for t in filled.list_data_tags()] == ["car", "cells", "copy"]
    assert filled.get_data_tag("car") == Tag("car")
    with pytest.raises(NotFoundError):
        filled.get_data_tag("unknown")
    assert filled.create_data_tag("new").name == "new"
    with pytest.raises(ValidationError, match="already exists"):
        filled.create_data_tag("new")
    assert filled.get_or_create_data_tag("new") == Tag("new")
    assert filled.get_or_create_data_tag("other").name == "other"
    assert [t.name for t in filled.list_data_tags(limit=2, offset=1, order_by=["-name"])] == ["new", "copy"]
    assert [s.name for s in filled.list_datasources()] == ["camera-one", "scope"]
    assert filled.get_datasource("scope") == DataSource("scope")
    assert filled.get_or_create_datasource("lab").name == "lab"
    assert filled.create_datasource("lab2").name == "lab2"
    with pytest.raises(NotFoundError):
        filled.get_datasource("nowhere")
    with pytest.raises(ValidationError):
        filled.create_data_tag("../bad")


def test_add_remove_tags_are_lake_versions(filled):
    d = filled.find_data(object_name="big.jpg")
    v = filled.version
    d.add_tags(["red", Tag("fast")])
    assert d.tags == ["car", "red", "fast"] and filled.version == v + 1
    d.remove_tags("red")
    assert d.tags == ["car", "fast"]
    assert filled.checkout(v).find_data(object_name="big.jpg").tags == ["car"]
    md = filled.list_data(tags="cells").add_tags("micro")
    assert all("micro" in x.tags for x in md)
    md.remove_tags("micro")
    assert len(filled.list_data(tags="micro")) == 0
    assert "red" in [t.name for t in filled.list_data_tags()]


def test_empty_lake(lake):
    with pytest.raises(NoDataError):
        lake.list_data()
    with pytest.raises(NotFoundError):
        lake.find_data(filename="x")
    assert lake.version == 0
