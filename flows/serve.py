"""Serve the deployments on this machine: `python -m flows.serve --library L --registry R`.

Needs a running Prefect server (PREFECT_API_URL), e.g. the one `pinlake up` starts.
"""

from __future__ import annotations

import argparse
import os
import sys


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


def run(argv: list[str] | None = None) -> int:
    """:func:`main` as a command: a pinlake error (a bad registry, a bad setting) is one line and its
    hint on stderr, exit code 1."""
    from pinlake.errors import PinlakeError

    try:
        main(argv)
    except PinlakeError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(exc.hint, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
