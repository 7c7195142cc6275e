"""Recipe: the demo health images of chosen image types, split train/test by a stable hash.

The split of an image depends only on its object name (the first 8 hex digits of its sha256, mod
100), so adding images to the lake never moves an existing image to the other split.

It selects columnar: ``client.select`` returns the matching rows as one Arrow table (only the
columns asked), DuckDB computes each row's bucket, and each split is a table of ids. No Python
object is made per image: a million images cost two columns of Arrow, not a million objects.

It is row-wise (``rowwise=True``): an image's split follows from its own row, so a refresh locks
only the images that changed since the previous lock and keeps the rest of that lock.
"""

import duckdb

import pinlake

TAGS = ["mri", "xray", "microscope", "dermatology"]
TEST_PERCENT = 25


@pinlake.recipe(rowwise=True)
def health_by_tag(client) -> dict:
    """Health images (health/…) tagged with one of TAGS, 75/25 train/test by object-name hash."""
    images = client.select("object_name LIKE 'health/%'", tags=TAGS, columns=["id", "object_name"], order_by=[])
    buckets = duckdb.from_arrow(images).project("id, ('0x' || left(sha256(object_name), 8))::UBIGINT % 100 AS bucket")
    return {"train": buckets.filter(f"bucket >= {TEST_PERCENT}"), "test": buckets.filter(f"bucket < {TEST_PERCENT}")}
