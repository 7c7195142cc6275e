"""Arrow's dataset module loads without pandas; pyarrow sees pandas the moment anything imports it.

Contract:

- :func:`defer_pandas` installs two import hooks and returns True, or does nothing and returns False
  when pandas or ``pyarrow._dataset`` is loaded already. The hooks cost nothing until those modules
  load.
- When ``pyarrow._dataset`` loads (``lance`` imports it), pandas is hidden for the time of its
  module init: pyarrow's pandas shim then records "no pandas".
- From the moment any code imports pandas, pyarrow behaves as if pandas had been there all along: a
  hook on that import tells pyarrow's shim before the importing code gets the module. Before that no
  pandas object can exist, so pyarrow's implicit checks ("is this a pandas Series?") lose nothing by
  answering no.
- Arrow's explicit pandas calls (``to_pandas``, ``from_pandas``) import pandas themselves, as always.

Why: ``pyarrow._dataset``'s module init calls ``pa.scalar(True)``, whose array-like check imports
pandas: 0.25-0.36 s of every CLI process that opens a Lance table, and most never use pandas. The
CLI calls this first (``pinlake.cli``); the library API does not (``import pinlake`` leaves the
user's process as it is).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

PANDAS = "pandas"
ARROW_DATASET = "pyarrow._dataset"


class _Hidden(importlib.abc.MetaPathFinder):
    """Refuses pandas (while pyarrow._dataset initialises)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == PANDAS:
            raise ImportError("pandas is loaded on first use")
        return None


class _Wrapped(importlib.abc.Loader):
    """A module's own loader, with something done around or after it; the module keeps its loader."""

    def __init__(self, loader: importlib.abc.Loader, finder: importlib.abc.MetaPathFinder) -> None:
        self.loader = loader
        self.finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        if self.finder in sys.meta_path:  # once: the module is loaded
            sys.meta_path.remove(self.finder)


class _WithoutPandas(_Wrapped):
    """pyarrow._dataset's loader with pandas hidden while it creates and runs the module; then the
    hook that tells pyarrow when pandas arrives."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        hidden = _Hidden()
        sys.meta_path.insert(0, hidden)
        try:
            return self.loader.create_module(spec)
        finally:
            sys.meta_path.remove(hidden)

    def exec_module(self, module: ModuleType) -> None:
        hidden = _Hidden()
        sys.meta_path.insert(0, hidden)
        try:
            super().exec_module(module)
        finally:
            sys.meta_path.remove(hidden)
        if PANDAS not in sys.modules:
            sys.meta_path.insert(0, _OnFind(PANDAS, _TellArrow))


class _TellArrow(_Wrapped):
    """pandas' own loader, then pyarrow's shim told that pandas is here."""

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        import pyarrow as pa

        pa.table({}).to_pandas()  # an explicit pandas call: pyarrow imports pandas (loaded now) and records it


class _OnFind(importlib.abc.MetaPathFinder):
    """Finds one module as the path finder does, with ``wrap`` around its loader. It stays until the
    module has loaded: a bare ``importlib.util.find_spec`` (lance asks whether pandas is installed)
    loads nothing."""

    def __init__(self, name: str, wrap: type[_Wrapped]) -> None:
        self.name = name
        self.wrap = wrap

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = self.wrap(spec.loader, self)
        return spec


def defer_pandas() -> bool:
    """Install the hooks of the module's contract; False (nothing done) when pandas or pyarrow's
    dataset module is loaded already."""
    if PANDAS in sys.modules or ARROW_DATASET in sys.modules:
        return False
    sys.meta_path.insert(0, _OnFind(ARROW_DATASET, _WithoutPandas))
    return True
