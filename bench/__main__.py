"""``python -m bench run --n 10000 [--reps 3] [--only pinlake,dvc] [--out DIR]``; ``python -m bench faults`` (bench/faults.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.runner import BENCH, DEFAULT_TOOLS, TOOLS, Runner


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["faults"]:  # the fault matrix (bench/faults.py has its own options)
        from bench.faults import main as faults_main

        return faults_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m bench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the benchmark and write RESULTS.md")
    r.add_argument("--n", type=int, default=10_000, help="number of images (1000, 10000, 100000, …)")
    r.add_argument("--reps", type=int, default=3, help="repetitions per measure (median reported)")
    r.add_argument("--only", default=",".join(DEFAULT_TOOLS), help=f"comma list of tools, from {','.join(TOOLS)} (default: all but memory)")
    r.add_argument("--memory-n", type=int, default=100_000, help="N of the memory tool's build (default 100000)")
    r.add_argument("--out", type=Path, default=BENCH, help="where RESULTS.md goes (default bench/)")
    r.add_argument("--work", type=Path, default=None, help="scratch dir (default: a new temp dir)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--no-install", action="store_true", help="skip peers that are not installed yet")
    a = ap.parse_args(argv)
    only = [t.strip() for t in a.only.split(",") if t.strip()]
    bad = set(only) - set(TOOLS)
    if bad:
        ap.error(f"unknown tools: {', '.join(sorted(bad))}")
    runner = Runner(
        a.n,
        a.reps,
        only,
        a.out.resolve(),
        a.work,
        a.seed,
        install=not a.no_install,
        log=lambda m: print(m, flush=True),
        memory_n=a.memory_n,
    )
    runner.run()
    print(f"wrote {a.out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
