"""The library layer: :class:`Library` / :func:`connect` (in :mod:`.connection`) and one module per verb.

Every verb the CLI, the API and the flows offer is one function here: ``build``, ``lock``, ``ingest``,
``stats``, ``preview``, ``info`` (ls, info), ``versions``, ``tag``, ``restore``, ``diff``, ``cleanup``,
``pin`` (open, pin, verify), ``sql``, ``lineage``, ``refresh`` (with ``refresh_stamp``, its no-op
check) and ``registry`` (the recipe registry). See docs/architecture.md.

``Library`` and ``connect`` load on first use: importing one verb module runs this package first, and
the no-op refresh (``refresh_stamp``) must not load Lance or pyarrow.
"""

from __future__ import annotations

from pinlake.util.lazy import lazy_names

_LAZY = {"Library": "pinlake.library.connection", "connect": "pinlake.library.connection"}

__all__ = ["Library", "connect"]

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
