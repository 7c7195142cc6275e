"""Recipe: the demo health images of chosen image types, split train/test by a stable hash.

The split of an image depends only on its object name (sha256 of it), so adding images to the
lake never moves an existing image to the other split.
"""

import hashlib

import pinlake

TAGS = ["mri", "xray", "microscope", "dermatology"]
TEST_PERCENT = 25


def split_of(object_name: str) -> str:
    bucket = int(hashlib.sha256(object_name.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < TEST_PERCENT else "train"


@pinlake.recipe()
def health_by_tag(client) -> dict[str, list]:
    """Health images (health/…) tagged with one of TAGS, 75/25 train/test by object-name hash."""
    result: dict[str, list] = {"train": [], "test": []}
    for data in client.list_data(tags=TAGS, q="object_name LIKE 'health/%'"):
        result[split_of(data.object_name)].append(data)
    return result
