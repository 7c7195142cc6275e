"""The recipe of ``bench/scale_recipe.py`` written with ``list_data``: one ``Data`` per image (the before)."""

import re

import pinlake


@pinlake.recipe()
def scale(client) -> dict:
    out: dict = {"train": [], "test": []}
    for data in client.list_data():
        out["test" if re.search(r"[05]\.png$", data.object_name) else "train"].append(data)
    return out
