"""Deprecated: the PyTorch adapter lives in :mod:`pinlake.integrations.torch`."""

from __future__ import annotations

import warnings

from pinlake.integrations.torch import PinnedDataset

warnings.warn("pinlake.torch is deprecated: import from pinlake.integrations.torch", DeprecationWarning, stacklevel=2)

__all__ = ["PinnedDataset"]
