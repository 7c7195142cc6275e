"""Export (``pinlake export``): write a pinned dataset version in an annotation format.

The version is opened read-only through its pin (:func:`pinlake.library.pin.open`), so an export
names exactly one dataset state and writes it into its output (the COCO ``info``…); with
``record_use`` the export is recorded in ``catalog.consumers`` like a training run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pinlake.library.pin import open as open_pin


def export_dataset(
    library: str | os.PathLike[str] | None,
    pin: str,
    format: str,
    out: str | os.PathLike[str],
    *,
    media: str = "copy",
    record_use: bool = False,
) -> Any:
    """Export ``pin`` (``NAME``, ``NAME@7``, ``NAME@prod``…) as ``format`` under ``out``; returns the
    :class:`~pinlake.datasets.formats.common.ExportResult`."""
    run = f"export:{format}:{Path(out).resolve()}" if record_use else None
    pinned = open_pin(pin, library=library, run=run)
    return pinned.export(format, out, media=media)


__all__ = ["export_dataset"]
