"""Ingest of a folder at N = 100k … 1M, side by side with ``dvc add``, in one run.

``python -m bench.ingest_scale --n 100000 --n 1000000 [--dvc-timeout 3600] [--no-dvc | --dvc-only] [--out FILE]``

For each N, ``bench.data.generate_tiny`` makes (or reuses) N 64×64 PNG files, 1,000 a folder
(≈ 1 kB each: a million fit in 4 GB). Then, each through ``bench/launch.py`` (the process's own
peak RSS) and timed from here:

- ``pinlake ingest`` (a fresh library, ``--local``): the streamed folder ingest, one commit;
- the same command again: nothing changed (the state cache settles every file);
- after 1,000 files changed (or N/100), the same command again;
- ``pinlake datasets lock`` of every image, with a recipe that selects in columns
  (``bench/scale_recipe.py``) and with its ``list_data`` twin, then ``pinlake build --lock`` of it
  (``bench/scale_item.py``: an image and its boxes, none in these files);
- the refresh after N/100 more files changed (at most 1,000): ingest, lock, and the incremental
  build of the new lock (its stats merged from the previous version's), and the diff of the new
  version against the previous (what the refresh's summary shows);
- ``dvc add`` of a copy of the folder (hard links) in a fresh ``dvc init --no-scm`` workspace, then
  ``dvc add`` after the same change. A dvc step that passes ``--dvc-timeout`` is stopped and
  reported as a bound (``> T``).

The table goes to stdout (and ``--out``); the notes in bench/NOTES.md say what it measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import data
from bench.peers import ensure

REPO = Path(__file__).resolve().parents[1]
LAUNCH = [sys.executable, "-I", "-S", str(REPO / "bench" / "launch.py")]


def measure(cmd: list[str], cwd: Path, timeout: float | None = None) -> tuple[float, float, bool]:
    """(seconds, peak RSS in MB, finished) of ``cmd`` run through the launcher."""
    rss = cwd / ".rss"
    rss.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([*LAUNCH, str(rss), *cmd], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        return time.perf_counter() - t0, 0.0, False
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - t0, int(rss.read_text()) / 1024, True


def change(folder: Path, n: int) -> int:
    """Rewrite N/100 files (at most 1,000), spread over the folders, as new bytes (new inodes)."""
    k = min(1000, max(1, n // 100))
    step = n // k
    for j in range(k):
        i = j * step
        p = folder / f"{i // data.TINY_PER_FOLDER:04d}" / f"img-{i:07d}.png"
        raw = p.read_bytes() + b"changed"
        p.unlink()
        p.write_bytes(raw)
    return k


def run(
    n: int, work: Path, dvc_timeout: float, data_dir: Path | None = None, install: bool = True, dvc: bool = True
) -> list[tuple[str, float, float, bool]]:
    src = data.generate_tiny((data_dir or REPO / "bench" / "results" / "data") / f"tiny{n}", n) / "v1"
    case = work / f"n{n}"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    rows: list[tuple[str, float, float, bool]] = []
    pin_dir = case / "pinlake"
    shutil.copytree(src, pin_dir / "images", copy_function=os.link)
    rows.append(("pinlake ingest", *measure(ingest_cmd(), pin_dir)))
    rows.append(("pinlake ingest, nothing changed", *measure(ingest_cmd(), pin_dir)))
    k = change(pin_dir / "images", n)
    rows.append((f"pinlake ingest, {k} changed", *measure(ingest_cmd(), pin_dir)))
    rows.extend(lock_and_build(pin_dir))
    rows.extend(refresh(pin_dir, n))
    if dvc:
        rows.extend(dvc_steps(n, src, case / "dvc", dvc_timeout, install))
    return rows


def dvc_steps(n: int, src: Path, dvc_dir: Path, dvc_timeout: float, install: bool = True) -> list[tuple[str, float, float, bool]]:
    """``dvc add`` of a hard-linked copy of ``src`` in a fresh workspace at ``dvc_dir``, then
    ``dvc add`` after the same change as pinlake's (when the first one finished in time)."""
    rows: list[tuple[str, float, float, bool]] = []
    python, why = ensure("dvc", install=install)
    if python is None:
        rows.append((f"dvc add (not installed: {why})", 0.0, 0.0, False))
        return rows
    dvc = str(python.parent / "dvc")
    shutil.rmtree(dvc_dir, ignore_errors=True)
    shutil.copytree(src, dvc_dir / "images", copy_function=os.link)
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=dvc_dir, check=True)
    subprocess.run([dvc, "config", "core.analytics", "false"], cwd=dvc_dir, check=True)
    first = measure([dvc, "add", "-q", "images"], dvc_dir, dvc_timeout)
    rows.append(("dvc add", *first))
    if first[2]:
        k = change(dvc_dir / "images", n)
        rows.append((f"dvc add, {k} changed", *measure([dvc, "add", "-q", "images"], dvc_dir, dvc_timeout)))
    return rows


def ingest_cmd() -> list[str]:
    return [sys.executable, "-m", "pinlake", "ingest", "images", "--local", "--json", "--library", "library"]


def lock_cmd(recipe: str, out: Path, since: Path | None = None) -> list[str]:
    """``pinlake datasets lock`` of ``bench/<recipe>`` into ``out`` (removed first), from the lock
    ``since`` when given (the row-wise recipe's incremental lock)."""
    shutil.rmtree(out, ignore_errors=True)
    return [
        sys.executable,
        "-m",
        "pinlake",
        "datasets",
        "lock",
        "--file",
        str(REPO / "bench" / recipe),
        "--out",
        str(out),
        "--library",
        "library",
        *(["--since", str(since)] if since is not None else []),
    ]


def build_cmd(lock: Path, mode: str, name: str = "scale") -> list[str]:
    """``pinlake build --lock`` of ``lock`` into dataset ``name`` (``bench/scale_item.py``)."""
    item = f"{REPO / 'bench' / 'scale_item.py'}:ScaleItem"
    return [
        sys.executable,
        "-m",
        "pinlake",
        "build",
        "--lock",
        str(lock),
        "--name",
        name,
        "--item",
        item,
        "--mode",
        mode,
        "--library",
        "library",
    ]


def lock_and_build(pin_dir: Path) -> list[tuple[str, float, float, bool]]:
    """Lock every image of the lake (``bench/scale_recipe.py``, columnar: ``client.select``, a split is
    a table of ids; and its ``list_data`` twin, the before) and build the columnar lock (``bench/scale_item.py``)."""
    rows = []
    for label, recipe in (("lock, list_data recipe", "scale_list_recipe.py"), ("lock, select recipe", "scale_recipe.py")):
        out = pin_dir / f"lock-{recipe[:-3]}"
        rows.append((f"pinlake {label}", *measure(lock_cmd(recipe, out), pin_dir)))
    rows.append(("pinlake build of that lock", *measure(build_cmd(out, "overwrite"), pin_dir)))
    return rows


def refresh(pin_dir: Path, n: int) -> list[tuple[str, float, float, bool]]:
    """After :func:`lock_and_build`: change N/100 files (at most 1,000), then the refresh a
    schedule runs: ingest, lock the columnar recipe again, build that lock into ``scale`` (an
    incremental build: the changed items replaced, their stats merged into the previous version's)."""
    k = change(pin_dir / "images", n)
    rows = [(f"refresh: ingest after {k} more changed", *measure(ingest_cmd(), pin_dir))]
    out = pin_dir / "lock-refresh"
    rows.append(
        (
            "refresh: lock, select recipe, from the previous lock",
            *measure(lock_cmd("scale_recipe.py", out, since=pin_dir / "lock-scale_recipe"), pin_dir),
        )
    )
    rows.append(("refresh: build of that lock (incremental)", *measure(build_cmd(out, "auto"), pin_dir)))
    rows.append(("refresh: diff of the new version against the previous", *measure(diff_cmd(pin_dir), pin_dir)))
    return rows


def diff_cmd(pin_dir: Path, name: str = "scale") -> list[str]:
    """``pinlake diff`` of the dataset's two latest versions (what the refresh's summary shows)."""
    from pinlake.datasets.versions import VersionLog

    *_, previous, latest = [e.dataset_version for e in VersionLog(pin_dir / "library" / name).entries()]
    return [sys.executable, "-m", "pinlake", "diff", name, str(previous), str(latest), "--json", "--library", "library"]


def table(results: dict[int, list[tuple[str, float, float, bool]]]) -> str:
    lines = ["| N | step | time | peak RSS |", "|---|---|---|---|"]
    for n, rows in results.items():
        for step, secs, mb, done in rows:
            t = f"{secs:.1f} s" if done else f"> {secs:.0f} s (stopped)"
            lines.append(f"| {n:,} | {step} | {t} | {mb:.0f} MB |" if done else f"| {n:,} | {step} | {t} | |")
    return "\n".join(lines)


def report(results: dict[int, list[tuple[str, float, float, bool]]], out: str | None) -> None:
    """Print the :func:`table` of ``results``, and write it to ``out`` when given."""
    text = table(results)
    print(text)
    if out:
        Path(out).write_text(text + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", help="files (repeatable); default 100000")
    ap.add_argument("--dvc-timeout", type=float, default=3600.0, help="stop a dvc step after this many seconds")
    ap.add_argument("--no-dvc", action="store_true", help="pinlake's steps only (dvc's figures of an earlier run stand)")
    ap.add_argument("--work", default=str(REPO / "bench" / "results" / "ingest_scale"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--dvc-only", action="store_true", help="dvc's steps only (pinlake's figures of an earlier run stand)")
    args = ap.parse_args()
    ns = args.n or [100_000]
    if args.dvc_only:
        root = REPO / "bench" / "results" / "data"
        results = {
            n: dvc_steps(n, data.generate_tiny(root / f"tiny{n}", n) / "v1", Path(args.work) / f"n{n}" / "dvc", args.dvc_timeout)
            for n in ns
        }
    else:
        results = {n: run(n, Path(args.work), args.dvc_timeout, dvc=not args.no_dvc) for n in ns}
    report(results, args.out)


if __name__ == "__main__":
    main()
