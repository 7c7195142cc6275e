"""Recipe of the million-file measure (``bench.ingest_scale``): every image, 1 in 5 to test, in columns.

``client.select`` reads the ids and names as one Arrow table; the test split is the names ending in
0 or 5 (``img-0000005.png``), chosen with an Arrow compute kernel: no Python object per image.
Row-wise: a refresh locks the changed images only (``pinlake.recipes.delta``).
"""

import pyarrow.compute as pc

import pinlake


@pinlake.recipe(rowwise=True)
def scale(client) -> dict:
    rows = client.select(columns=["id", "object_name"], order_by=[])
    test = pc.match_substring_regex(rows["object_name"], r"[05]\.png$")
    return {"train": rows.filter(pc.invert(test)), "test": rows.filter(test)}
