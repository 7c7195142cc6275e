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
