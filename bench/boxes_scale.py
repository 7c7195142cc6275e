"""Lock and build of N images that carry boxes, at N = 100k and 1M (issue 19: "lock + build 1M items
with boxes, peak RSS vs 100k ≤ 1.3×").

``python -m bench.boxes_scale --n 100000 --n 1000000 [--out FILE]``

The lake, made once per N and kept (outside the measures; ``.complete`` marks it): the 64×64 PNGs of
:func:`bench.data.generate_tiny`, uploaded with :meth:`Lake.upload_data` :data:`CHUNK` files at a
time, each with its boxes as its metadata (1 to 3, in the demo's shape:
``{"objects": {"category": [...], "bbox": [[x, y, w, h], ...]}}``). Then, each through
``bench/launch.py`` (the process's own peak RSS) and timed from here:

- ``pinlake datasets lock`` of every image (``bench/scale_recipe.py``: columnar, 1 in 5 to test);
- ``pinlake build --lock`` of that lock into a new dataset (``bench/scale_item.py``: an image and
  its boxes, so an entity and a box per object).

The table goes to stdout (and ``--out``); bench/NOTES.md says what it measured.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bench import data
from bench.ingest_scale import build_cmd, lock_cmd, measure, report

REPO = Path(__file__).resolve().parents[1]
#: files uploaded (one lake version) at a time while the lake is made
CHUNK = 25_000
CATEGORIES = ("cell", "nucleus", "debris")


def boxes_of(i: int) -> dict[str, dict[str, list[object]]]:
    """The metadata of image ``i``: 1 to 3 boxes inside its 64×64 pixels, the same for the same ``i``."""
    k = 1 + i % 3
    cats = [CATEGORIES[(i + j) % 3] for j in range(k)]
    boxes = [[float((i * 7 + j * 13) % 40), float((i * 11 + j * 5) % 40), 8.0 + 4 * j, 10.0 + 3 * j] for j in range(k)]
    return {"objects": {"category": list(cats), "bbox": boxes}}


def make_lake(n: int, work: Path, data_dir: Path | None = None) -> Path:
    """``work/n<N>`` with ``library/`` (its lake holding the N images and their boxes); made once."""
    case = work / f"n{n}"
    done = case / ".complete"
    if done.is_file() and done.read_text() == str(n):
        return case
    src = data.generate_tiny((data_dir or REPO / "bench" / "results" / "data") / f"tiny{n}", n) / "v1"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    from pinlake.library.connection import Library

    lake = Library(case / "library").ensure().get_datalake()
    for start in range(0, n, CHUNK):
        idx = range(start, min(n, start + CHUNK))
        paths = [src / f"{i // data.TINY_PER_FOLDER:04d}" / f"img-{i:07d}.png" for i in idx]
        names = [f"{i // data.TINY_PER_FOLDER:04d}/img-{i:07d}.png" for i in idx]
        lake.upload_data(paths, object_names=names, metadata=[boxes_of(i) for i in idx], tags=["tiny"])
    (case / ".complete").write_text(str(n))
    return case


def run(n: int, work: Path, data_dir: Path | None = None) -> list[tuple[str, float, float, bool]]:
    case = make_lake(n, work, data_dir)
    out = case / "lock"
    rows = [("lock, select recipe (images with boxes)", *measure(lock_cmd("scale_recipe.py", out), case))]
    rows.append(("build of that lock (an entity and a box per object)", *measure(build_cmd(out, "overwrite", "boxes"), case)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", help="images (repeatable); default 100000")
    ap.add_argument("--work", default=str(REPO / "bench" / "results" / "boxes_scale"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    report({n: run(n, Path(args.work)) for n in args.n or [100_000]}, args.out)


if __name__ == "__main__":
    main()
