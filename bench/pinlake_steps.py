"""One measured pinlake step per process: ``python -m bench.pinlake_steps STEP JSON_ARGS``.

Prints one JSON line ``{"op_s": seconds of the operation itself, ...}`` on stdout; the harness
measures the whole process (wall time, peak RSS) from outside.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

RECIPE = Path(__file__).with_name("recipe_bench.py")


def _lib(a):
    import pinlake

    return pinlake.connect(a["library"])


def ingest(a):
    from bench.data import files_of

    lib = _lib(a)
    lake = lib.get_datalake()
    files = files_of(Path(a["folder"]))
    lake.upload_data([p for p, _, _ in files], metadata=[m for _, _, m in files], object_names=[n for _, n, _ in files], source="bench")
    return {"lake_version": lake.version, "files": len(files)}


def build(a):
    from pinlake.library.build import build_from_lock
    from pinlake.recipes.lockfile import lock_recipe

    lib = _lib(a)
    lake = lib.get_datalake()
    lock = lock_recipe(RECIPE, lake, locks_dir=lib.locks_path)
    res = build_from_lock(lib, lock.path, a["name"], embed=a.get("embed", False))
    return {"mode": res.mode, "version": res.version, "added": len(res.added), "updated": len(res.updated)}


def lock(a):
    """The lock step of ``build`` alone: prints the lock directory (``build_lock`` builds from it)."""
    from pinlake.recipes.lockfile import lock_recipe

    lib = _lib(a)
    res = lock_recipe(RECIPE, lib.get_datalake(), locks_dir=lib.locks_path)
    return {"lock": str(res.path), "hash": res.hash}


def build_lock(a):
    """The build step of ``build`` alone, from an existing lock directory (a["lock"])."""
    from pinlake.library.build import build_from_lock

    res = build_from_lock(_lib(a), a["lock"], a["name"], embed=a.get("embed", False))
    return {"mode": res.mode, "version": res.version, "added": len(res.added)}


def refresh(a):
    """Re-upload the changed folder (unchanged files dedupe), re-lock from the dataset's lock (the
    recipe is row-wise: it runs over the changed resources only), incremental build."""
    from pinlake.library.build import build_from_lock
    from pinlake.library.lock import previous_lock
    from pinlake.recipes.lockfile import lock_recipe

    out = ingest({"library": a["library"], "folder": a["folder"]})
    lib = _lib(a)
    lock = lock_recipe(RECIPE, lib.get_datalake(), locks_dir=lib.locks_path, previous=previous_lock(lib, a["name"]))
    res = build_from_lock(lib, lock.path, a["name"], embed=a.get("embed", False))
    out.update(
        {
            "mode": res.mode,
            "version": res.version,
            "added": len(res.added),
            "updated": len(res.updated),
            "parent": "parent" in lock.manifest,
        }
    )
    return out


def folder(a):
    from pinlake.datasets.build.folder import ImageFolderBuilder
    from pinlake.datasets.info import DatasetInfo
    from pinlake.demo.data import HealthDatasetItem

    lib = _lib(a)
    b = ImageFolderBuilder(
        a["folder"], lib.dataset_path(a["name"]), HealthDatasetItem, DatasetInfo(id=a["name"], name=a["name"]), embed=a.get("embed", True)
    )
    ds = b.build(mode="create")
    return {"version": ds.version}


def checkout(a):
    """Open the previous version and read every table of it completely."""
    import pinlake

    p = pinlake.open(f"{a['name']}@{a['version']}", library=a["library"])
    rows = 0
    nbytes = 0
    for t in p.tables:
        tab = p.to_arrow(t)
        rows += tab.num_rows
        nbytes += tab.nbytes
    return {"rows": rows, "bytes": nbytes, "version": p.version}


def take(a):
    from pinlake.library.pin import open as open_pin  # imports excluded, as for the Parquet peer

    t0 = time.perf_counter()  # the measure is the open + take
    p = open_pin(f"{a['name']}@{a['version']}", library=a["library"])
    tab = p.take(a["table"], a["indices"])
    return {"rows": tab.num_rows, "op_s": time.perf_counter() - t0}


def export_parquet(a):
    """Setup for the Parquet peer: write the pinned table as one Parquet file (not measured)."""
    import pyarrow.parquet as pq

    import pinlake

    p = pinlake.open(f"{a['name']}@{a['version']}", library=a["library"])
    tab = p.to_arrow(a["table"])
    pq.write_table(tab, a["out"])
    return {"rows": tab.num_rows}


def parquet_take(a):
    import pyarrow.dataset as pds

    t0 = time.perf_counter()
    tab = pds.dataset(a["path"], format="parquet").take(a["indices"])
    return {"rows": tab.num_rows, "op_s": time.perf_counter() - t0}


def profile(a):
    """Run another step under pyinstrument and write its text report to a["out"]."""
    from pyinstrument import Profiler

    prof = Profiler(interval=0.005)
    prof.start()
    res = STEPS[a["step"]](a["args"])
    prof.stop()
    Path(a["out"]).write_text(prof.output_text(unicode=False, color=False, show_all=False))
    return res


STEPS = {f.__name__: f for f in (ingest, build, lock, build_lock, refresh, folder, checkout, take, export_parquet, parquet_take, profile)}


def main() -> None:
    step, args = sys.argv[1], json.loads(sys.argv[2])
    t0 = time.perf_counter()
    res = STEPS[step](args) or {}
    res.setdefault("op_s", time.perf_counter() - t0)
    print("BENCH_RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
