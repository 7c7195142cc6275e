"""The demo: ``data`` (a deterministic health-images folder and its item class), ``lake`` (those files
dropped into a lake) and ``run`` (the engine-only demo run). ``pinlake demo`` runs it with the flows.

``HealthDatasetItem`` and the other names of ``data`` load on first use from this package too, so the
item spec ``pinlake.demo:HealthDatasetItem`` that registries written before ``demo`` became a package
hold keeps loading.
"""

from __future__ import annotations

from pinlake.util.lazy import lazy_names

_LAZY = dict.fromkeys(("DEMO_NAME", "HealthDatasetItem", "EntityWithCategory", "generate_health_images"), "pinlake.demo.data")

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
