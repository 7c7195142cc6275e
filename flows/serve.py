"""Serve the deployments on this machine: `python -m flows.serve --library L --registry R`.

Needs a running Prefect server (PREFECT_API_URL), e.g. the one `pinlake up` starts.
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__)
    parser.add_argument("--library", default=os.environ.get("PINLAKE_LIBRARY", "library"))
    parser.add_argument("--registry", default=os.environ.get("PINLAKE_REGISTRY", "recipes/datasets.yaml"))
    args = parser.parse_args(argv)
    from prefect import serve

    from flows.deployments import runner_deployments  # lazy: `--help` answers before Prefect loads

    library = os.path.abspath(args.library)
    registry = os.path.abspath(args.registry)
    serve(*runner_deployments(registry, library), print_starting_message=True)


if __name__ == "__main__":
    main()
