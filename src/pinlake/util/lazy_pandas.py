"""Arrow's dataset module loads without pandas; pyarrow sees pandas the moment anything imports it.

Contract:

- :func:`defer_pandas` installs two import hooks and returns True, or does nothing and returns False
  when pandas or ``pyarrow._dataset`` is loaded already. The hooks cost nothing until those modules
  load.
- When ``pyarrow._dataset`` loads (``lance`` imports it) in a process with one thread, pandas is
  hidden from that thread for the time of the module init: pyarrow's pandas shim then records "no
  pandas". With more threads it loads as usual (pandas and all): a thread importing pandas during
  that init would otherwise wait on pyarrow's shim, which the init holds while it waits on that
  thread's pandas import.
- From the moment any code imports pandas, pyarrow behaves as if pandas had been there all along: a
  hook on that import (found by whichever finder finds pandas) tells pyarrow's shim before the
  importing code gets the module. Before that no pandas object can exist, so pyarrow's implicit
  checks ("is this a pandas Series?") lose nothing by answering no.
- Arrow's explicit pandas calls (``to_pandas``, ``from_pandas``) import pandas themselves, as always.
- A pandas that pyarrow refuses (older than it supports) is not used by pyarrow, as without the
  hooks, and ``import pandas`` still works (pyarrow's warning about it is not shown).

Why: ``pyarrow._dataset``'s module init calls ``pa.scalar(True)``, whose array-like check imports
pandas: 0.25-0.36 s of every CLI process that opens a Lance table, and most never use pandas. The
CLI calls this first (``pinlake.cli``); the library API does not (``import pinlake`` leaves the
user's process as it is).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

PANDAS = "pandas"
ARROW_DATASET = "pyarrow._dataset"


class _Hidden(importlib.abc.MetaPathFinder):
    """Refuses pandas to one thread (the one initialising pyarrow._dataset)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == PANDAS and threading.get_ident() == self.thread:
            # recorded as it is refused, under pandas' module lock: the pandas hook, under the same
            # lock, then knows whether pyarrow heard "no pandas"
            _REFUSED.set()
            raise ModuleNotFoundError("pandas is loaded on first use", name=PANDAS)
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
    """pyarrow._dataset's loader, with pandas hidden from its thread while it creates and runs the
    module (when that thread is the process's only one)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        with _hidden_if_alone():
            return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with _hidden_if_alone():
            super().exec_module(module)


@contextlib.contextmanager
def _hidden_if_alone() -> Iterator[None]:
    """pandas hidden from this thread, when it is the process's only thread."""
    if threading.active_count() > 1:
        yield
        return
    hidden = _Hidden()
    sys.meta_path.insert(0, hidden)
    try:
        yield
    finally:
        sys.meta_path.remove(hidden)


#: set once pandas was refused to pyarrow._dataset's init (pyarrow's shim then says "no pandas"
#: until told): only then does the pandas hook tell it
_REFUSED = threading.Event()


class _TellArrow(_Wrapped):
    """pandas' own loader, then pyarrow's shim told that pandas is here."""

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        if not _REFUSED.is_set():  # pyarrow never heard "no pandas": it finds pandas itself when it asks
            return
        import pyarrow as pa

        # an explicit pandas call: pyarrow imports pandas (loaded now) and records it. The shim's
        # first check is over (it said "no pandas"), so this takes its retry path, which holds no
        # lock that another thread could hold while waiting on this import. A pandas that pyarrow
        # does not support raises here, and pyarrow then does not use it, as without the hooks.
        with contextlib.suppress(ImportError):
            pa.table({}).to_pandas()


class _OnFind(importlib.abc.MetaPathFinder):
    """Finds one module as the other finders on ``sys.meta_path`` do, with ``wrap`` around its
    loader. It stays until the module has loaded: a bare ``importlib.util.find_spec`` (lance asks
    whether pandas is installed) loads nothing."""

    def __init__(self, name: str, wrap: type[_Wrapped]) -> None:
        self.name = name
        self.wrap = wrap

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or isinstance(finder, _OnFind | _Hidden) or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None:
            return spec
        spec.loader = self.wrap(spec.loader, self)
        return spec


def defer_pandas() -> bool:
    """Install the hooks of the module's contract; False (nothing done) when pandas or pyarrow's
    dataset module is loaded already."""
    if PANDAS in sys.modules or ARROW_DATASET in sys.modules:
        return False
    # the pandas hook from the start: a thread that imports pandas while another initialises
    # pyarrow._dataset tells pyarrow too
    sys.meta_path[:0] = [_OnFind(PANDAS, _TellArrow), _OnFind(ARROW_DATASET, _WithoutPandas)]
    return True
