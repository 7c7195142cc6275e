"""All built-in quality checks on a dataset of N items: how long `pinlake check` takes as datasets grow.

``python -m bench.checks_bench --n 100000 [--reps 3] [--work DIR]``

A demo dataset is built from a 3-image folder (for its schema, info and files), then two versions of
N items are written with Lance straight from Arrow (the baseline, then the candidate: other random
boxes and categories), each logged as a dataset version: per item one image (sha256 filled, as a
lake build fills it), 2.5 objects on average with a category, one box and one keypoint set each.
Times, each the median of ``--reps``: every built-in check plus one SQL check together through
:func:`pinlake.datasets.checks.run_checks` (what ``pinlake check`` runs), then each check alone;
last the whole verdict of a gated refresh, :func:`pinlake.library.publish.publish` (registry entry,
the checks, their ``catalog.checks`` rows, the ``catalog.publications`` row, the channel's Lance tags).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa

from pinlake.datasets.checks import run_checks
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.tables import table_uri
from pinlake.datasets.versions import VersionLog
from pinlake.demo.data import HealthDatasetItem, generate_health_images
from pinlake.library import Library
from pinlake.library.build import build_folder
from pinlake.library.publish import publish

RECIPE = "import pinlake\n\n\n@pinlake.recipe()\ndef bench(client):\n    return {'train': [], 'test': []}\n"

CATEGORIES = np.array(["heart", "lung", "liver", "bone", "joint", "lesion", "mole"])
CONFIG: dict[str, Any] = {
    "min_items": {"train": 1000, "test": 100},
    "no_empty_split": True,
    "no_split_leakage": True,
    "no_duplicate_items": True,
    "boxes_inside_images": True,
    "categories": True,
    "max_row_change": 0.5,
    "max_category_drift": 0.2,
    "sql": [{"name": "no_tiny_boxes", "query": "SELECT count(*) FROM bbox WHERE coords[3] * coords[4] < 4", "expect": 0}],
}


def _ref(name: str, ids: pa.Array) -> pa.StructArray:
    return pa.StructArray.from_arrays([pa.array([name] * len(ids)), ids], names=["name", "id"])


def _ids(prefix: str, n: int) -> pa.Array:
    return pa.array([f"{prefix}{i:020x}" for i in range(n)])


def synthesize(n: int, seed: int, schemas: dict[str, pa.Schema]) -> dict[str, pa.Table]:
    """Arrow tables of ``n`` items in the demo's schema (one image per item, ~2.5 objects, a box and a keypoint set each)."""
    rng = np.random.default_rng(seed)
    now = datetime(2026, 1, 1)
    item_ids = _ids("i", n)

    def stamps(m: int) -> dict[str, pa.Array]:
        ts = pa.array([now] * m, pa.timestamp("us"))
        return {"created_at": ts, "updated_at": ts}

    item = {"id": item_ids, **stamps(n), "split": pa.array(np.where(np.arange(n) % 5 == 0, "test", "train"))}
    item["image_type"] = pa.array(np.where(np.arange(n) % 2 == 0, "mri", "xray"))
    width = rng.integers(200, 1024, n)
    height = rng.integers(200, 1024, n)
    image_ids = _ids("v", n)
    digests = rng.bytes(32 * n).hex()  # n random sha256-like hex digests, 64 characters each
    image = {
        "id": image_ids,
        **stamps(n),
        "item_ref": _ref("item", item_ids),
        "parent_ref": _ref("", pa.array([""] * n)),
        "url": pa.array([f"lake://{digests[i * 64 : (i + 1) * 64]}" for i in range(n)]),
        "width": pa.array(width),
        "height": pa.array(height),
        "format": pa.array(["JPEG"] * n),
        "content": pa.nulls(n, pa.large_binary()),
    }
    image["sha256"] = pa.array([u[7:] for u in image["url"].to_pylist()])
    per_item = rng.integers(1, 5, n)  # 1..4 objects, 2.5 on average
    owner = np.repeat(np.arange(n), per_item)
    m = len(owner)
    object_ids = _ids("o", m)
    owner_items = pa.array(np.asarray(item_ids.to_pylist(), dtype=object)[owner].tolist())
    owner_images = pa.array(np.asarray(image_ids.to_pylist(), dtype=object)[owner].tolist())
    objects = {
        "id": object_ids,
        **stamps(m),
        "item_ref": _ref("item", owner_items),
        "view_ref": _ref("image", owner_images),
        "parent_ref": _ref("", pa.array([""] * m)),
        "category": pa.array(CATEGORIES[rng.integers(0, len(CATEGORIES), m)]),
    }
    bw = rng.uniform(24, 150, m)
    bh = rng.uniform(24, 150, m)
    x = rng.uniform(0, 1, m) * (width[owner] - bw)
    y = rng.uniform(0, 1, m) * (height[owner] - bh)
    coords = np.stack([x, y, bw, bh], axis=1).ravel()
    annotation = {
        **stamps(m),
        "item_ref": _ref("item", owner_items),
        "view_ref": _ref("image", owner_images),
        "entity_ref": _ref("objects", object_ids),
        "source_ref": _ref("", pa.array([""] * m)),
    }
    bbox = {
        "id": _ids("b", m),
        **annotation,
        "coords": pa.ListArray.from_arrays(pa.array(np.arange(0, 4 * m + 1, 4, dtype=np.int32)), pa.array(coords)),
        "format": pa.array(["xywh"] * m),
        "is_normalized": pa.array(np.zeros(m, dtype=bool)),
        "confidence": pa.array(np.ones(m)),
    }
    kp = np.stack([x + bw / 2, y + bh / 2, x, y + bh / 2, x + bw, y + bh / 2], axis=1).ravel()
    keypoints = {
        "id": _ids("k", m),
        **annotation,
        "template_id": pa.array([""] * m),
        "coords": pa.ListArray.from_arrays(pa.array(np.arange(0, 6 * m + 1, 6, dtype=np.int32)), pa.array(kp)),
        "states": pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * m + 1, 3, dtype=np.int32)), pa.array(["visible"] * (3 * m))),
    }
    raw = {"item": item, "image": image, "objects": objects, "bbox": bbox, "keypoints": keypoints}
    return {t: pa.table({f.name: cols[f.name] for f in schemas[t]}).cast(schemas[t]) for t, cols in raw.items()}


def write_version(ds: Dataset, tables: dict[str, pa.Table], message: str) -> Dataset:
    """Overwrite the tables with Lance and log them as one dataset version (as a build's commit does)."""
    versions, rows = dict(ds.state.tables), dict(ds.state.rows)
    for table, data in tables.items():
        written = lance.write_dataset(data, table_uri(ds.path, table), mode="overwrite")
        versions[table], rows[table] = written.version, data.num_rows
    log = VersionLog(ds.path)
    with log.locked():
        log.append(message, versions, rows, {})
    return Dataset(ds.path)


def timed(fn: Any, reps: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="pinlake-checks-bench-"))
    shutil.rmtree(work / "library", ignore_errors=True)
    generate_health_images(work / "assets" / "health_images", n_train=2, n_test=1)
    lib = Library(work / "library").ensure()
    build_folder(lib, work / "assets" / "health_images", "bench", item=HealthDatasetItem)
    ds = lib.get_dataset("bench")
    schemas = {t: ds.open_lance(t).schema for t in ("item", "image", "objects", "bbox", "keypoints")}
    t = time.perf_counter()
    baseline = write_version(ds, synthesize(args.n, 1, schemas), "bench baseline")
    candidate = write_version(baseline, synthesize(args.n, 2, schemas), "bench candidate")
    setup = time.perf_counter() - t
    rows = {tb: candidate.num_rows(tb) for tb in candidate.tables}
    total, results = timed(lambda: run_checks(candidate, CONFIG, baseline, splits=["train", "test"]), args.reps)
    per_check = {}
    for key, value in CONFIG.items():
        per_check[key], _ = timed(lambda key=key, value=value: run_checks(candidate, {key: value}, baseline), args.reps)
    (work / "bench.py").write_text(RECIPE)
    registry = work / "datasets.yaml"
    entry = {"name": "bench", "script_location": "./bench.py", "splits": ["train", "test"], "channel": "prod", "checks": CONFIG}
    registry.write_text(json.dumps([entry]))  # JSON is YAML
    publish_s, decision = timed(lambda: publish(lib, "bench@latest", registry=registry), args.reps)
    report = {
        "n_items": args.n,
        "rows": rows,
        "setup_s": round(setup, 2),
        "all_checks_s": round(total, 3),
        "per_check_s": {k: round(v, 3) for k, v in per_check.items()},
        "publish_s": round(publish_s, 3),
        "publish": decision.message(),
        "results": {r.check: [r.status, r.value] for r in results},
    }
    print(json.dumps(report, indent=2, default=str))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
