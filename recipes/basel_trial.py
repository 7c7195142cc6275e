"""Recipe: all data of the Basel trial (seed 004 style).

Patients are split whole: patient-001 goes to test, every other patient to train.
"""

import pinlake


@pinlake.dataset_compilation_entrypoint()
def all_basel_data(client) -> dict[str, list]:
    """Returns all data associated with the Basel trial."""
    r_basel = client.get_resource("trial/basel")
    result: dict[str, list] = {"train": [], "test": []}
    for data in r_basel:
        patient = data.object_name.split("/")[2]
        result["test" if patient == "patient-001" else "train"].append(data)
    return result
