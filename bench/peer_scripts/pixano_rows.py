"""Row counts of a Pixano dataset's tables, as one JSON line. argv: DATASET_DIR (runs in the pixano venv)."""

import json
import os
import sys
import warnings
from pathlib import Path

warnings.simplefilter("ignore")
from pixano.datasets import Dataset  # noqa: E402

ds = Dataset(Path(sys.argv[1]))
print(json.dumps({name: ds.open_table(name).count_rows() for name in ds.info.tables}), flush=True)
os._exit(0)  # the counts are out; skip interpreter teardown (lancedb's threads crash it now and then)
