"""``@pinlake.check``: a quality check written in Python, in a dataset's recipe file.

A Python check is ``fn(candidate, baseline) -> CheckOutcome | bool``: ``candidate`` is the checked
dataset version and ``baseline`` the version the drift checks compare with (or None), both read-only
(:class:`pinlake.library.pin.PinnedDataset`). The decorator only marks the function;
:func:`checks_of` lists the checks a loaded recipe module defines, and
:func:`pinlake.datasets.checks.run_python_checks` runs them after the checks the registry declares.

Light on purpose: ``import pinlake`` resolves ``pinlake.check`` from here; nothing heavy loads.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])
ATTR = "__pinlake_check__"
#: a check name: letters, digits, '_' and '-' (as the SQL checks of the registry)
NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclass(frozen=True)
class CheckOutcome:
    """What a Python check returns: ``passed``, plus the measured ``value`` and a ``message`` for the report."""

    passed: bool
    value: Any = None
    message: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.passed, bool):
            kind = type(self.passed)
            where = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
            raise TypeError(f"CheckOutcome(passed=...) takes a bool, got {where}{kind.__qualname__}: wrap it in bool(...)")
        if not isinstance(self.message, str):
            raise TypeError(f"CheckOutcome(message=...) takes a str, got {type(self.message).__name__}")


@dataclass(frozen=True)
class PythonCheck:
    """What the decorator records on the function."""

    name: str
    fn: Callable[..., Any]
    #: what the check holds the value to, shown in the report (the function applies it)
    threshold: Any = None

    def __call__(self, candidate: Any, baseline: Any) -> Any:
        return self.fn(candidate, baseline)


@overload
def check(fn: F) -> F: ...
@overload
def check(fn: None = None, *, name: str | None = None, threshold: Any = None) -> Callable[[F], F]: ...
def check(fn: Any = None, *, name: str | None = None, threshold: Any = None) -> Any:
    """Mark ``fn(candidate, baseline)`` as a quality check of the dataset its recipe file builds.

    Use ``@pinlake.check`` or ``@pinlake.check(name="...", threshold=...)``; the name defaults to the
    function's. List the name under ``warn:`` in the registry entry's ``checks:`` to report a failure
    without blocking.
    """

    def mark(f: F) -> F:
        if not callable(f):
            raise TypeError("@pinlake.check decorates a function fn(candidate, baseline) -> pinlake.CheckOutcome | bool")
        check_name = f.__name__ if name is None else name
        if not isinstance(check_name, str) or not NAME_RE.match(check_name):
            raise ValueError(f"@pinlake.check(name={check_name!r}): a check name uses letters, digits, '_' and '-'")
        setattr(f, ATTR, PythonCheck(check_name, f, threshold))
        return f

    if fn is not None:
        return mark(fn)
    return mark


def get_check(obj: Any) -> PythonCheck | None:
    spec = getattr(obj, ATTR, None)
    return spec if isinstance(spec, PythonCheck) else None


def checks_of(module: ModuleType) -> list[PythonCheck]:
    """The checks ``module`` defines (not those it imports from elsewhere), in definition order."""
    out: list[PythonCheck] = []
    for value in vars(module).values():
        spec = get_check(value)
        if spec is not None and getattr(spec.fn, "__module__", None) == module.__name__ and spec not in out:
            out.append(spec)
    return out


def _recipe_modules(path: Path) -> list[ModuleType]:
    """The modules :func:`~pinlake.recipes.loader.load_recipe` imported from ``path`` (in ``sys.modules``)."""
    target = path.resolve()
    return [
        m
        for m in list(sys.modules.values())
        if isinstance(m, ModuleType) and getattr(m, "__file__", None) and Path(str(m.__file__)).resolve() == target
    ]


def load_checks(path: str | os.PathLike[str]) -> list[PythonCheck]:
    """Import the recipe file ``path`` once (with the recipe loader) and list the checks it defines.

    A file that imports but holds no recipe (or several) still gives its checks; a file that does
    not exist or fails to import raises the loader's :class:`~pinlake.recipes.errors.RecipeError`.
    """
    # lazy: the loader imports the lake models (Lance, pyarrow); `import pinlake` resolves `check` from this module
    from pinlake.recipes.errors import RecipeError
    from pinlake.recipes.loader import load_recipe

    path = Path(path)
    before = _recipe_modules(path)
    try:
        loaded = load_recipe(path)
    except RecipeError:
        # the loader leaves a module it imported in sys.modules (it drops one whose import failed):
        # a new module object for this file means the file imported and only the recipe lookup failed
        fresh = [m for m in _recipe_modules(path) if not any(m is b for b in before)]
        if not fresh:
            raise
        return checks_of(fresh[-1])
    return checks_of(sys.modules[loaded.spec.fn.__module__])


__all__ = ["check", "CheckOutcome", "PythonCheck", "get_check", "checks_of", "load_checks"]
