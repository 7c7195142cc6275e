"""Lock lines are read without parsing whole lines where only the object name or id is needed."""

import json

from pinlake.recipes.lockfile import dump_line, id_of, object_name_of, record_of


def test_object_name_and_id_of_canonical_lines():
    rows = [
        {
            "id": "abc",
            "object_name": "x/y.png",
            "version": 1,
            "sha256": "0" * 64,
            "size": 3,
            "media_type": "image/png",
            "width": 1,
            "height": 2,
            "tags": ["t"],
            "metadata": {"object_name": "decoy", "id": "decoy", "z": ['"object_name":"q"']},
            "uri": None,
        },
        {
            "id": "d\u00e9f",
            "object_name": 'we"ird/\u00e9.jpg',
            "version": 2,
            "sha256": "1" * 64,
            "size": 1,
            "media_type": None,
            "width": None,
            "height": None,
            "tags": ['a,"object_name":"b"'],
            "metadata": {},
            "uri": "s3://b/k",
        },
    ]
    for row in rows:
        line = dump_line(record_of(row))
        assert object_name_of(line) == row["object_name"] == json.loads(line)["object_name"]
        assert id_of(line) == row["id"]
