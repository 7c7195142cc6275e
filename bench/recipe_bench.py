"""Recipe used by the benchmark: every resource under bench/, split by its folder (row-wise: the
refresh locks the changed resources only)."""

import pinlake


@pinlake.recipe(rowwise=True)
def bench(client) -> dict[str, list]:
    result: dict[str, list] = {"train": [], "test": []}
    for data in client.list_data(q="object_name LIKE 'bench/%'"):
        result[data.object_name.split("/")[1]].append(data)
    return result
