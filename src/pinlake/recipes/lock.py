"""Deprecated: lockfiles live in :mod:`pinlake.recipes.lockfile` ("lock" alone is the writers' mutex)."""

from __future__ import annotations

import warnings

from pinlake.recipes.lockfile import Lock, lock_recipe, read_lock

warnings.warn("pinlake.recipes.lock is deprecated: import from pinlake.recipes.lockfile", DeprecationWarning, stacklevel=2)

__all__ = ["Lock", "lock_recipe", "read_lock"]
