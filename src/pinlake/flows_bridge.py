"""How the CLI reaches the Prefect flows (the `flows` package) without the engine importing Prefect.

Only CLI commands that run flows call this; everything else in pinlake stays Prefect-free.
"""

from __future__ import annotations

import os
from pathlib import Path

from pinlake.errors import NotFoundError


def resolve_registry(registry: str | os.PathLike[str] | None = None) -> Path:
    """--registry, else $PINLAKE_REGISTRY, else ./recipes/datasets.yaml, else the source checkout's."""
    candidates = [registry, os.environ.get("PINLAKE_REGISTRY"), "recipes/datasets.yaml",
                  Path(__file__).resolve().parents[2] / "recipes" / "datasets.yaml"]
    for cand in candidates:
        if cand and Path(cand).is_file():
            return Path(cand).resolve()
    if registry:
        raise NotFoundError(f"registry {registry} does not exist", hint="Point --registry at a recipes/datasets.yaml.")
    raise NotFoundError("no recipes/datasets.yaml found", hint="Run from the repository root or pass --registry PATH.")


def use_server(mode: str | None) -> bool:
    """'server' needs PREFECT_API_URL; 'local' runs on a temporary in-process server; None picks."""
    if mode == "local":
        os.environ.pop("PREFECT_API_URL", None)
        return False
    if mode == "server" and not os.environ.get("PREFECT_API_URL"):
        raise NotFoundError("--server needs PREFECT_API_URL", hint="Start one with `pinlake up`, then export PREFECT_API_URL=http://127.0.0.1:4200/api.")
    return bool(os.environ.get("PREFECT_API_URL"))


def quiet_flows():
    """Import the flows package with quiet Prefect settings and the heartbeat wait removed."""
    from flows.runtime import configure, no_heartbeat

    configure()
    return no_heartbeat()


def unchanged_on_server(library: str, registry: str, dataset: str) -> dict | None:
    """The no-op refresh without the Prefect engine: the engine's fast check, then the run recorded.

    When :func:`pinlake.refresh_stamp.quick_unchanged` finds ``dataset`` current and a server is
    configured, a Completed `refresh` flow run (with the no-op summary artifact) is recorded through
    the REST API (:mod:`flows.record`) and the flow's result is returned; None means "run the flow".
    """
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return None
    from pinlake.refresh_stamp import quick_unchanged

    stamp = quick_unchanged(library, registry, dataset)
    if stamp is None:
        return None
    from flows.record import record_unchanged_run
    from pinlake.refresh import BuildStep, LockStep, summary_markdown

    lock = LockStep(dataset, stamp["lock_hash"], stamp["lock_dir"], stamp["lake_version"], stamp.get("counts", {}))
    build = BuildStep(dataset, stamp["version"], stamp["version"], "unchanged", True, stamp.get("rows", {}))
    try:
        run_id = record_unchanged_run(api, {"dataset": dataset, "library": library, "registry": registry},
                                      summary_markdown(library, dataset, build, lock),
                                      f"{dataset.lower().replace('_', '-')}-summary")
    except OSError:  # server unreachable or refusing: the flow reports it properly
        return None
    return {"dataset": dataset, "unchanged": True, "version": stamp["version"], "lock_hash": stamp["lock_hash"],
            "flow_run_id": run_id}
