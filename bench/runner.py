"""Run the benchmark: every tool in its own subprocess per step, alternating, several repetitions.

Wall time is measured around each process; peak RSS is that process's (and its waited-for
children's) ``ru_maxrss``, reported by bench/launch.py, a small process that starts it with a real
fork (started directly, a tool inherits the runner's own high-water mark). Results go to ``<out>/n<N>.json`` and
``<out>/RESULTS.md`` (default out: bench/, raw JSON in bench/results/).
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import data, peers

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TOOLS = ("pinlake", "floor", "dvc", "parquet", "prefect", "hf", "pixano", "memory")
DEFAULT_TOOLS = ("pinlake", "floor", "dvc", "parquet", "prefect", "hf", "pixano")  # "memory" (N = 100k) is opt-in
QUIET = {
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "TQDM_DISABLE": "1",
}

# (pinlake step, what, peer tool, peer step, target ratio, compare op time instead of process)
MEASURES = [
    ("ingest", "ingest N files into the lake", "dvc", "ingest", 0.5, False),
    ("ingest", "ingest N files: physical floor (cat + sha256sum)", "floor", "ingest", None, False),
    ("build", "lock + build N-item dataset, boxes + keypoints (uri media)", "pixano", "build", 0.3, False),
    ("build_embed", "lock + build, bytes embedded", "pixano", "import_embed", 0.2, False),
    ("folder", "folder → dataset (bytes embedded)", "hf", "folder", 0.3, False),
    ("refresh", "refresh after 100 of N files changed", "dvc", "refresh", 0.5, False),
    ("checkout", "open the previous version and read it all", "dvc", "checkout", 0.5, False),
    ("take", "random take of 100 items (image table, with bytes) from a pinned version", "parquet", "take", 0.1, True),
]


class Runner:
    def __init__(
        self,
        n: int,
        reps: int,
        only: list[str],
        out: Path,
        work: Path | None,
        seed: int = 0,
        install: bool = True,
        log=print,
        memory_n: int = 100_000,
    ) -> None:
        self.n, self.reps, self.only, self.out, self.seed, self.install, self.log = n, reps, only, out, seed, install, log
        self.memory_n = memory_n
        self.work = work or Path(tempfile.mkdtemp(prefix="pinlake-bench-"))
        self.samples: dict[tuple[str, str], list[dict]] = {}
        self.skipped: dict[str, str] = {}
        self.pythons: dict[str, Path] = {}
        self.env = {**os.environ, **QUIET, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    # --- process measurement -------------------------------------------------------------------
    def measure(self, tool: str, step: str, cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> dict | None:
        logf = self.work / "logs" / f"{tool}.{step}.log"
        logf.parent.mkdir(parents=True, exist_ok=True)
        with logf.open("a") as fh:
            fh.write(f"$ {' '.join(cmd)}\n")
            fh.flush()
            rss_file = logf.with_suffix(".rss")
            rss_file.unlink(missing_ok=True)
            launch = [sys.executable, "-I", "-S", str(BENCH / "launch.py"), str(rss_file)]
            t0 = time.perf_counter()
            p = subprocess.Popen([*launch, *cmd], cwd=cwd, env=env or self.env, stdout=subprocess.PIPE, stderr=fh, text=True)
            out = p.stdout.read()  # type: ignore[union-attr]
            p.wait()
            wall = time.perf_counter() - t0
            fh.write(out)
        rss_kb = int(rss_file.read_text()) if rss_file.is_file() else 0
        res = {"wall_s": wall, "rss_mb": rss_kb / 1024, "rc": p.returncode}
        for line in out.splitlines():
            if line.startswith("BENCH_RESULT "):
                res.update(json.loads(line[len("BENCH_RESULT ") :]))
        if p.returncode != 0:
            self.log(f"  FAILED {tool}.{step} (rc {p.returncode}, log {logf})")
            self.samples.setdefault((tool, step), []).append({**res, "failed": True})
            return None
        self.samples.setdefault((tool, step), []).append(res)
        self.log(f"  {tool:8s} {step:12s} {wall:8.2f} s {res['rss_mb']:7.0f} MB")
        return res

    def py_step(self, tool: str, step: str, args: dict, key: str | None = None) -> dict | None:
        """A step of bench.pinlake_steps in the project's Python, recorded under ``key`` (default: step)."""
        return self.measure(tool, key or step, [sys.executable, "-m", "bench.pinlake_steps", step, json.dumps(args)], cwd=REPO)

    # --- tools -----------------------------------------------------------------------------------
    def run_pinlake(self, rep: int) -> None:
        lib = str(self.work / f"rep{rep}" / "pinlake")
        v1 = str(self.root / "v1")
        # a working copy changed in place before the refresh, exactly as DVC's workspace is
        ws = self.work / f"rep{rep}" / "pinlake-data"
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(self.root / "v1", ws)
        self.py_step("pinlake", "ingest", {"library": lib, "folder": str(ws)})
        self.py_step("pinlake", "build", {"library": lib, "name": "bench"})
        self.py_step("pinlake", "build", {"library": lib, "name": "bench_embed", "embed": True}, key="build_embed")
        self.py_step("pinlake", "folder", {"library": lib, "name": "bench_folder", "folder": v1, "embed": True})
        data.apply_change(self.root, ws, self.n)
        self.py_step("pinlake", "refresh", {"library": lib, "name": "bench", "folder": str(ws)})
        self.py_step("pinlake", "checkout", {"library": lib, "name": "bench", "version": 1})
        self.py_step(
            "pinlake", "take", {"library": lib, "name": "bench_embed", "version": 1, "table": "image", "indices": self.indices(rep)}
        )
        if "parquet" in self.only:
            pq = self.work / f"rep{rep}" / "image.parquet"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.pinlake_steps",
                    "export_parquet",
                    json.dumps({"library": lib, "name": "bench_embed", "version": 1, "table": "image", "out": str(pq)}),
                ],
                cwd=REPO,
                env=self.env,
                check=True,
                capture_output=True,
            )
            self.py_step("parquet", "parquet_take", {"path": str(pq), "indices": self.indices(rep)}, key="take")
        if "prefect" in self.only:
            self.noop_refresh(rep, lib)

    def noop_refresh(self, rep: int, lib: str) -> None:
        """`pinlake refresh bench --server` against a running Prefect server, the lake unchanged.

        The server is started once per run (not measured) as tests/flows/conftest.py does; one
        unmeasured refresh registers the flow, then the measured process is the no-op refresh.
        """
        if "noop_refresh" in self.skipped:
            return
        try:
            url = self.prefect_url()
        except Exception as exc:  # noqa: BLE001 - a server that does not start skips the measure
            self.skipped["noop_refresh"] = f"prefect server did not start ({type(exc).__name__}: {exc})"
            return
        reg = self.work / "registry" / "datasets.yaml"
        if not reg.is_file():
            reg.parent.mkdir(parents=True, exist_ok=True)
            reg.write_text(
                f"- name: bench\n  version: 1\n  description: benchmark dataset\n"
                f"  script_location: {BENCH / 'recipe_bench.py'}\n  dataset_item: pinlake.demo.data:HealthDatasetItem\n"
            )
        env = {**self.env, "PREFECT_API_URL": url, "PREFECT_HOME": str(self.work / "prefect-home")}
        cmd = [sys.executable, "-m", "pinlake", "refresh", "bench", "--registry", str(reg), "--library", lib, "--server", "--json"]
        subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)  # warm-up: registers the flow
        self.measure("prefect", "noop_refresh", cmd, cwd=REPO, env=env)

    def prefect_url(self) -> str:
        if getattr(self, "_prefect", None) is None:
            from flows.runtime import start_server

            self._prefect = start_server(self.work / "prefect-home", log=self.work / "logs" / "prefect-server.log")
        return self._prefect[1]

    def stop_prefect(self) -> None:
        if getattr(self, "_prefect", None) is not None:
            from flows.runtime import stop_server

            stop_server(self._prefect[0])
            self._prefect = None

    def run_memory(self, rep: int) -> None:
        """Peak RSS of pinlake's lock + build at N = memory_n (default 100k), for the flat-memory target.

        Compared with ``pinlake.build`` of this run (N = --n). Slow: generates and ingests memory_n images.
        """
        root = data.generate(REPO / "bench" / "results" / "data" / f"n{self.memory_n}-s{self.seed}", self.memory_n, self.seed)
        lib = str(self.work / f"rep{rep}" / "memory")
        self.py_step("memory", "ingest", {"library": lib, "folder": str(root / "v1")})
        self.py_step("memory", "build", {"library": lib, "name": "bench"})
        self.py_step("memory", "build", {"library": lib, "name": "bench_embed", "embed": True}, key="build_embed")

    def run_floor(self, rep: int) -> None:
        v1 = self.root / "v1"
        script = "find . -name '*.jpg' -print0 | xargs -0 cat > /dev/null && find . -name '*.jpg' -print0 | xargs -0 sha256sum > /dev/null"
        self.measure("floor", "ingest", ["sh", "-c", script], cwd=v1)

    def run_dvc(self, rep: int) -> None:
        dvc = str(self.pythons["dvc"].parent / "dvc")
        ws = self.work / f"rep{rep}" / "dvc"
        shutil.rmtree(ws, ignore_errors=True)
        ws.mkdir(parents=True)
        shutil.copytree(self.root / "v1", ws / "images")
        subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=ws, env=self.env, check=True)
        subprocess.run([dvc, "config", "core.analytics", "false"], cwd=ws, env=self.env, check=True)
        self.measure("dvc", "ingest", [dvc, "add", "-q", "images"], cwd=ws)
        shutil.copy(ws / "images.dvc", ws / "images.dvc.v1")
        data.apply_change(self.root, ws / "images", self.n)
        self.measure("dvc", "refresh", [dvc, "add", "-q", "images"], cwd=ws)
        shutil.copy(ws / "images.dvc.v1", ws / "images.dvc")
        self.measure("dvc", "checkout", [dvc, "checkout", "-q", "images"], cwd=ws)

    def run_hf(self, rep: int) -> None:
        src = self.work / "hf-data"
        if not src.exists():  # HF's imagefolder wants the file column named file_name
            shutil.copytree(self.root / "v1", src, copy_function=os.link)
            for split in ("train", "test"):
                meta = src / split / "metadata.jsonl"
                lines = [json.loads(x) for x in meta.read_text().splitlines()]
                meta.unlink()
                meta.write_text("".join(json.dumps({"file_name": d.pop("image"), **d}) + "\n" for d in lines))
        out = self.work / f"rep{rep}" / "hf"
        env = {**self.env, "HF_DATASETS_CACHE": str(self.work / f"rep{rep}" / "hf-cache"), "HF_HOME": str(self.work / "hf-home")}
        self.measure("hf", "folder", [str(self.pythons["hf"]), str(BENCH / "peer_scripts" / "hf_folder.py"), str(src), str(out)], env=env)

    def run_pixano(self, rep: int) -> None:
        """Pixano 0.8.0: its `DatasetBuilder` (uri media) and `pixano data import --media embed`.

        The import reads Pixano's JSONL v2 layout: bench/peer_scripts/pixano_convert.py writes it once
        per run (dataset.yaml + per-split metadata.jsonl, images hard-linked), outside the measured
        process, as the HF peer's metadata rename is. Each measured process must leave the expected
        row counts behind (checked after it, unmeasured), or the sample is recorded as failed.
        """
        py = self.pythons["pixano"]
        src = self.work / "pixano-data"
        if not (src / "dataset.yaml").is_file():
            subprocess.run(
                [sys.executable, str(BENCH / "peer_scripts" / "pixano_convert.py"), str(self.root / "v1"), str(src)],
                check=True,
                capture_output=True,
            )
        base = self.work / f"rep{rep}" / "pixano"
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        built = base / "built"
        res = self.measure(
            "pixano", "build", [str(py), str(BENCH / "peer_scripts" / "pixano_builder.py"), str(self.root / "v1"), str(built)], cwd=base
        )
        if res is not None:
            self.check_pixano(py, built, "build")
        lib = base / "imported"
        lib.mkdir()
        res = self.measure(
            "pixano",
            "import_embed",
            [str(py.parent / "pixano"), "data", "import", str(lib), str(src), "--media", "embed", "--yes"],
            cwd=base,
        )
        if res is not None:
            self.check_pixano(py, lib / "library" / "bench", "import_embed")

    def check_pixano(self, py: Path, dataset: Path, step: str) -> None:
        out = subprocess.run(
            [str(py), str(BENCH / "peer_scripts" / "pixano_rows.py"), str(dataset)], env=self.env, capture_output=True, text=True
        )
        lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
        counts = json.loads(lines[-1]) if lines else {}
        expected = self.expected_rows()
        got = {k: counts.get(k) for k in expected}
        sample = self.samples[("pixano", step)][-1]
        sample["rows"] = counts
        if got != expected:
            sample["failed"] = True
            self.log(f"  FAILED pixano.{step}: rows {got}, expected {expected} ({out.stderr.strip()[-300:]})")

    def expected_rows(self) -> dict[str, int]:
        if getattr(self, "_expected", None) is None:
            objects = 0
            for split in ("train", "test"):
                for line in (self.root / "v1" / split / "metadata.jsonl").read_text().splitlines():
                    objects += len(json.loads(line)["objects"]["category"])
            self._expected = {"records": self.n, "images": self.n, "entities": objects, "bboxes": objects, "keypoints": objects}
        return self._expected

    # --- orchestration ---------------------------------------------------------------------------
    def indices(self, rep: int) -> list[int]:
        return sorted(random.Random(self.seed * 1000 + rep).sample(range(self.n), min(100, self.n)))

    def run(self) -> dict:
        t0 = time.perf_counter()
        self.log(f"generating data: N={self.n} seed={self.seed}")
        self.root = data.generate(REPO / "bench" / "results" / "data" / f"n{self.n}-s{self.seed}", self.n, self.seed)
        for tool, peer in peers.PEER_OF_TOOL.items():
            if tool in self.only:
                py, why = peers.ensure(peer, install=self.install)
                if py is None:
                    self.skipped[tool] = f"{peer}: {why}"
                else:
                    self.pythons[tool] = py
        tools = [t for t in TOOLS if t in self.only and t not in self.skipped and t not in ("parquet", "prefect")]
        try:
            for rep in range(self.reps):
                order = tools if rep % 2 == 0 else list(reversed(tools))  # alternate who goes first
                self.log(f"rep {rep + 1}/{self.reps}: {' → '.join(order)}")
                for tool in order:
                    if tool == "memory" and rep > 0:
                        continue  # one N = 100k build is enough for a memory figure
                    getattr(self, f"run_{tool}")(rep)
                shutil.rmtree(self.work / f"rep{rep}", ignore_errors=True)
        finally:
            self.stop_prefect()
        result = {
            "n": self.n,
            "reps": self.reps,
            "seed": self.seed,
            "only": self.only,
            "skipped": self.skipped,
            "memory_n": self.memory_n,
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "total_s": time.perf_counter() - t0,
            "samples": {f"{t}.{s}": v for (t, s), v in self.samples.items()},
        }
        self.out.mkdir(parents=True, exist_ok=True)
        raw = self.out / "results" if self.out == BENCH else self.out
        raw.mkdir(parents=True, exist_ok=True)
        (raw / f"n{self.n}.json").write_text(json.dumps(result, indent=1))
        from bench.report import write_report

        write_report(self.out / "RESULTS.md", raw, result)
        return result
