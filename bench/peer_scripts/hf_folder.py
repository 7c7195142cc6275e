"""HF datasets peer: imagefolder → save_to_disk. argv: DATA_DIR OUT_DIR (runs in the datasets venv)."""

import json
import sys
import time

t0 = time.perf_counter()
from datasets import load_dataset  # noqa: E402

ds = load_dataset("imagefolder", data_dir=sys.argv[1])
ds.save_to_disk(sys.argv[2])
print("BENCH_RESULT " + json.dumps({"rows": sum(len(s) for s in ds.values()), "op_s": time.perf_counter() - t0}), flush=True)
