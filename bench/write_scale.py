"""The k-th write on one dataset: does history slow writes?

``python -m bench.write_scale [--writes 10000] [--every 1000]``

A COCO import of 20 images (in a library, so every write also updates the catalog), then
``--writes`` one-row updates of one entity (``Dataset.update_data``), each a new dataset version.
Prints the median time of writes 10–19 and of each block of 10 writes every ``--every`` writes, and
the ratio of the last block to the first (the target: at most 1.2 at the 10,000th write); the same
ratio for the medians of the first hundred writes (from the 10th) and the last hundred.

Then, because blocks far apart in time also measure the machine's drift (this disk swings ±40 %),
the same comparison side by side: the same import into a new library, and the aged dataset, take
turns writing blocks of 20 (``--rounds`` of each, the first left out); the ratio of their medians
is the history's cost alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.formats_bench import make_input


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    import pinlake

    root = Path(tempfile.mkdtemp(prefix="pinlake-write-scale-"))
    try:
        ann = make_input(root / "coco", 20)
        (root / "library" / "_catalog").mkdir(parents=True)  # a library: writes are catalogued
        ds = pinlake.CocoBuilder(ann, root / "coco" / "images" / "train", root / "library" / "c").build(mode="create")
        row = ds.to_arrow("objects").slice(0, 1).to_pylist()[0]
        times: list[float] = []
        for k in range(1, args.writes + 1):
            row["area"] = float(k)
            t = time.perf_counter()
            ds.update_data("objects", [row])
            times.append(time.perf_counter() - t)
        blocks = {
            f"writes {a}-{a + 9}": round(statistics.median(times[a - 1 : a + 9]) * 1000, 1)
            for a in [10, *range(args.every, args.writes - 8, args.every)]
        }
        last = statistics.median(times[-10:])
        # ten writes are a noisy sample (a catalog compaction every 32 appends, a log rewrite every
        # 64, the disk's own pauses): the medians of 100 writes at each end say the same more steadily
        first_100, last_100 = statistics.median(times[9:109]), statistics.median(times[-100:])
        (root / "new_library" / "_catalog").mkdir(parents=True)  # a new library: its catalog is young too
        young = pinlake.CocoBuilder(ann, root / "coco" / "images" / "train", root / "new_library" / "c").build(mode="create")
        side: dict[str, list[float]] = {"young": [], "aged": []}
        rows = {"young": young.to_arrow("objects").slice(0, 1).to_pylist()[0], "aged": row}
        for _ in range(args.rounds):
            for name, d in (("young", young), ("aged", ds)):
                for _ in range(20):
                    rows[name]["area"] += 1.0
                    t = time.perf_counter()
                    d.update_data("objects", [rows[name]])
                    side[name].append(time.perf_counter() - t)
        warm = 20 if args.rounds > 1 else 0  # each side's first block left out
        young_ms, aged_ms = (statistics.median(side[n][warm:]) * 1000 for n in ("young", "aged"))
        report = {
            "writes": args.writes,
            "median_ms": blocks,
            f"writes {args.writes - 9}-{args.writes}": round(last * 1000, 1),
            "ratio_last_to_10th": round(last / statistics.median(times[9:19]), 2),
            "writes 10-109": round(first_100 * 1000, 1),
            f"writes {args.writes - 99}-{args.writes}": round(last_100 * 1000, 1),
            "ratio_last_100_to_first_100": round(last_100 / first_100, 2),
            "side by side": {
                "young dataset ms": round(young_ms, 1),
                f"dataset at {args.writes} writes ms": round(aged_ms, 1),
                "ratio": round(aged_ms / young_ms, 2),
            },
        }
        print(json.dumps(report, indent=2))
        return report
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
