"""Memory and time of exports by N: a COCO import of N images, then its export to COCO, YOLO and
VOC (``--formats``: any of ``pinlake export``'s), each a fresh process (issue 18: "Export streams: memory stays flat at 100k items").

``python -m bench.export_scale --n 10000 --n 100000 [--formats coco,yolo,voc] [--out FILE]``

The input, made once per N and kept (``.complete`` marks it): :func:`bench.formats_bench.make_input`
(N small JPEG files, a COCO instances file of about 7 annotations per image: a box and a polygon
each). Then, each through ``bench/launch.py`` (the process's own peak RSS) and timed from here:

- ``pinlake build FILE --format coco --images DIR`` into a new library (the version exported);
- ``pinlake export bench --format F --out DIR --media none`` for each format, into a new folder
  (labels only: what grows with N is the annotations, not the image copies).

The table (seconds and peak RSS per step and N, and the ratio of the largest N to the smallest) goes
to stdout and ``--out``; bench/NOTES.md says what it measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench.formats_bench import coco_import_argv, make_input
from bench.ingest_scale import measure

REPO = Path(__file__).resolve().parents[1]
PINLAKE = [sys.executable, "-m", "pinlake"]


def make_case(n: int, work: Path) -> Path:
    """``work/n<N>/coco`` holding the input of N images; made once."""
    case = work / f"n{n}"
    done = case / ".complete"
    if not (done.is_file() and done.read_text() == str(n)):
        shutil.rmtree(case, ignore_errors=True)
        make_input(case / "coco", n)
        done.write_text(str(n))
    return case


def run(n: int, work: Path, formats: list[str]) -> list[tuple[str, float, float]]:
    """(step, seconds, peak RSS in MB) of the import and each export of N images."""
    case = make_case(n, work)
    lib = case / "library"
    shutil.rmtree(lib, ignore_errors=True)
    coco = case / "coco"
    ann = coco / "annotations" / "instances_train.json"
    build = coco_import_argv(PINLAKE, ann, coco / "images" / "train", lib)
    rows = []
    secs, rss, _ = measure(build, case)
    rows.append(("import (coco)", secs, rss))
    for fmt in formats:
        out = case / f"export-{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        secs, rss, _ = measure(
            [*PINLAKE, "export", "bench", "--format", fmt, "--out", str(out), "--media", "none", "--library", str(lib)], case
        )
        rows.append((f"export {fmt}", secs, rss))
        shutil.rmtree(out, ignore_errors=True)
    return rows


def table(results: dict[int, list[tuple[str, float, float]]]) -> str:
    ns = sorted(results)
    head = "| step | " + " | ".join(f"N = {n:,}: time, peak RSS" for n in ns) + f" | RSS {ns[-1]:,} / {ns[0]:,} |"
    lines = [head, "|---" * (len(ns) + 2) + "|"]
    for i, (step, _, _) in enumerate(results[ns[0]]):
        cells = [f"{results[n][i][1]:.1f} s, {results[n][i][2]:.0f} MB" for n in ns]
        ratio = results[ns[-1]][i][2] / results[ns[0]][i][2]
        lines.append(f"| {step} | " + " | ".join(cells) + f" | {ratio:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", help="images (repeatable); default 10000 and 100000")
    ap.add_argument("--formats", default="coco,yolo,voc", help="comma-separated export formats")
    ap.add_argument("--work", default=str(REPO / "bench" / "results" / "export_scale"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    results = {n: run(n, Path(args.work), formats) for n in args.n or [10_000, 100_000]}
    text = table(results)
    print(text)
    print(json.dumps({str(n): rows for n, rows in results.items()}))
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
