"""pinlake benchmark harness: `python -m bench run --n 10000` (see docs/bench.md)."""
