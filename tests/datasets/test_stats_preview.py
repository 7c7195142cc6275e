import json

from PIL import Image as PILImage

from pinlake.library.preview import recompute_preview
from pinlake.library.stats import recompute_stats


def test_stats_contents(health_ds):
    stats = json.loads((health_ds.path / "stats.json").read_text())
    assert stats["num_items"] == 9 and stats["items_per_split"] == {"train": 6, "test": 3}
    n_obj = health_ds.num_rows("objects")
    assert sum(stats["entities_per_category"]["objects"].values()) == n_obj
    assert stats["annotations_per_kind"]["bbox"] == {"kind": "BBox", "count": n_obj}
    img = stats["images"]["image"]
    assert sum(img["width"]["counts"]) == 9 and set(img["format"]) <= {"JPEG", "PNG", "TIFF"}
    area = stats["bbox"]["bbox"]["area"]
    assert sum(area["counts"]) == n_obj and area["min"] > 0
    assert sum(stats["bbox"]["bbox"]["aspect"]["counts"]) == n_obj


def test_stats_follow_writes(health_ds):
    first = health_ds.get_dataset_items(limit=1)[0]
    health_ds.delete_dataset_items([first.id])
    stats = recompute_stats(health_ds)
    assert stats["num_items"] == 8 and stats["dataset_version"] == 2


def test_preview_png_not_blank(health_ds):
    path = recompute_preview(health_ds)
    with PILImage.open(path) as im:
        assert im.format == "PNG" and im.width >= 192 * 3 and im.height >= 192
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colors is not None and len(colors) > 50  # real images and drawn boxes, not a flat canvas


def test_preview_samples_the_first_ids_a_batch_at_a_time(health_ds):
    """The preview's items are the n smallest ids, found batch by batch: the same as sorting the whole column."""
    from pinlake.datasets.preview import first_ids

    everything = sorted(health_ds.to_arrow("image", columns=["id"]).column("id").to_pylist())
    assert len(everything) > 8
    for n in (0, 1, 5, len(everything), len(everything) + 3):
        for batch_size in (1, 3, 7, None):
            assert first_ids(health_ds, "image", n, batch_size=batch_size) == everything[:n]
