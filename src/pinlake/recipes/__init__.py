"""Recipes: a decorated function picks lake resources into splits; locks pin them; materializers export them.

The engine never imports Prefect. Heavy modules (lock, materialize, registry) load on use.
"""

from pinlake.recipes.client import ReadOnlyLakeClient
from pinlake.recipes.decorator import RecipeSpec, dataset_compilation_entrypoint, recipe
from pinlake.recipes.errors import LockfileError, RecipeError

__all__ = ["recipe", "dataset_compilation_entrypoint", "RecipeSpec", "ReadOnlyLakeClient", "RecipeError", "LockfileError"]
