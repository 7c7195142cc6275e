"""``@pinlake.recipe()`` / ``@pinlake.dataset_compilation_entrypoint()``: mark a recipe function.

A recipe is ``fn(client) -> {split: [resource, ...]}`` where ``client`` is a read-only handle on
one lake version (:class:`pinlake.recipes.client.ReadOnlyLakeClient`) and resources are lake
``Data`` objects or dicts with ``id`` and/or ``object_name`` (plus ``version``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])
ATTR = "__pinlake_recipe__"


@dataclass(frozen=True)
class RecipeSpec:
    """What the decorator records on the function."""

    name: str
    fn: Callable[..., Any]
    disjoint: bool = True
    allow_empty: bool = False
    description: str = ""
    #: each resource's splits follow from that resource's own row: a refresh may run the recipe
    #: over the resources that changed since the previous lock only (:mod:`pinlake.recipes.delta`)
    rowwise: bool = False

    def __call__(self, client: Any) -> Any:
        return self.fn(client)


@overload
def recipe(fn: F) -> F: ...
@overload
def recipe(
    fn: None = None, *, name: str | None = None, disjoint: bool = True, allow_empty: bool = False, rowwise: bool = False
) -> Callable[[F], F]: ...
def recipe(fn: Any = None, *, name: str | None = None, disjoint: bool = True, allow_empty: bool = False, rowwise: bool = False) -> Any:
    """Mark ``fn`` as a recipe. Use ``@pinlake.recipe()`` or bare ``@pinlake.recipe``.

    ``disjoint=True``: a resource may appear in one split only. ``allow_empty=False``: every split
    (and the result) must hold at least one resource. ``rowwise=True``: the recipe puts each
    resource in its splits by looking at that resource's own row only (a filter, a rule on its
    name, tags or metadata), and reads the lake with ``client.select`` / ``client.list_data`` only,
    without ``limit``, ``offset`` or ``all_versions``; a refresh then locks only the resources that
    changed since the previous lock and keeps the rest of that lock (the same lock, found faster).
    """

    def mark(f: F) -> F:
        if not callable(f):
            raise TypeError("@pinlake.recipe() decorates a function fn(client) -> {split: [resources]}")
        spec = RecipeSpec(
            name=name or f.__name__,
            fn=f,
            disjoint=bool(disjoint),
            allow_empty=bool(allow_empty),
            rowwise=bool(rowwise),
            description=(f.__doc__ or "").strip().splitlines()[0] if f.__doc__ else "",
        )
        setattr(f, ATTR, spec)
        return f

    if fn is not None:
        return mark(fn)
    return mark


def dataset_compilation_entrypoint(
    *, name: str | None = None, disjoint: bool = True, allow_empty: bool = False, rowwise: bool = False
) -> Callable[[F], F]:
    """The VxPlatform name of :func:`recipe` (``@pinlake.dataset_compilation_entrypoint()``)."""
    return recipe(name=name, disjoint=disjoint, allow_empty=allow_empty, rowwise=rowwise)


def get_spec(obj: Any) -> RecipeSpec | None:
    spec = getattr(obj, ATTR, None)
    return spec if isinstance(spec, RecipeSpec) else None


__all__ = ["recipe", "dataset_compilation_entrypoint", "RecipeSpec", "get_spec"]
