"""Recipes: a decorated function picks lake resources into splits; locks pin them; materializers export them.

The engine never imports Prefect. Every module loads on use, so that reading the registry
(``pinlake.library.registry``) does not import the lake (Lance, pyarrow, pandas).
"""

from __future__ import annotations

from pinlake.util.lazy import lazy_names

_LAZY = {
    "recipe": "pinlake.recipes.decorator",
    "dataset_compilation_entrypoint": "pinlake.recipes.decorator",
    "RecipeSpec": "pinlake.recipes.decorator",
    "ReadOnlyLakeClient": "pinlake.recipes.client",
    "RecipeError": "pinlake.recipes.errors",
    "LockfileError": "pinlake.recipes.errors",
}

__all__ = ["recipe", "dataset_compilation_entrypoint", "RecipeSpec", "ReadOnlyLakeClient", "RecipeError", "LockfileError"]

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
