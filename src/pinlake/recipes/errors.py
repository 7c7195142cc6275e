"""Errors of recipes, locks and materializers (all PinlakeError subclasses, with hints)."""

from __future__ import annotations

from pinlake.errors import InputFileError, ValidationError


class RecipeError(ValidationError):
    """A recipe file cannot be loaded, has no recipe, raised, or returned a wrong shape."""


class LockfileError(InputFileError):
    """A lock directory is missing, incomplete, edited by hand, or names resources the lake lacks."""


__all__ = ["RecipeError", "LockfileError"]
