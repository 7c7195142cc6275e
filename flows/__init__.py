"""Prefect flows: orchestration of pinlake engine calls (no domain logic here).

Python runs this file before any ``flows.*`` module, so the quiet Prefect settings
(:func:`flows.runtime.configure`) are in the environment before a flow module imports Prefect,
which reads its settings once, when it first loads.
"""

from flows.runtime import configure

configure()
