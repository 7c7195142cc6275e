"""The layout's rules, checked on the source: layers and cycles (import-linter), no reach-ins to
another module's private names, and the one sanctioned call of Lance's private take."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted((REPO / "src" / "pinlake").rglob("*.py")) + sorted((REPO / "flows").glob("*.py"))


def module_of(path: Path) -> str:
    rel = path.relative_to(REPO / "src") if path.is_relative_to(REPO / "src") else path.relative_to(REPO)
    return ".".join(rel.with_suffix("").parts).removesuffix(".__init__")


def test_import_contracts_hold():
    """Layers point down, the engine never imports Prefect, no cycle between sibling modules."""
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "3 kept, 0 broken" in proc.stdout


def test_no_module_imports_another_modules_private_names():
    """Neither ``from m import _x`` nor ``from m import x as _x`` (a private alias hides the same reach)."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("pinlake", "flows"):
                found += [
                    f"{path.relative_to(REPO)}:{node.lineno} {node.module}.{a.name}"
                    for a in node.names
                    if any(n.startswith("_") and not n.startswith("__") for n in (a.name, a.asname or ""))
                ]
    assert not found, found


SANCTIONED = {("lance_io.py", "_take_rows")}  # Lance's private take by row id: see storage/lance_io.take_rows


def reach_ins(source: str, filename: str = "<sample>") -> list[str]:
    """``obj._name`` and ``getattr(obj, "_name")`` whose ``_name`` this module does not define (an attribute
    it assigns, a function or method, a slot, a class attribute), for any receiver but ``self``/``cls``/
    ``super()``: chained receivers (``self.lake._store``) and capitalised names (``mod._State``) count."""
    tree = ast.parse(source)
    own = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
    own |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    own |= {
        t.id
        for n in ast.walk(tree)
        if isinstance(n, (ast.Assign, ast.AnnAssign))
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
        if isinstance(t, ast.Name)
    }
    own |= {
        c.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in n.targets)
        for c in ast.walk(n.value)
        if isinstance(c, ast.Constant) and isinstance(c.value, str)
    }
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute):
            receiver, attr = n.value, n.attr
        elif (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id in ("getattr", "setattr", "hasattr")
            and len(n.args) >= 2
            and isinstance(n.args[1], ast.Constant)
            and isinstance(n.args[1].value, str)
        ):
            receiver, attr = n.args[0], n.args[1].value
        else:
            continue
        if not attr.startswith("_") or attr.startswith("__") or attr in own or (filename, attr) in SANCTIONED:
            continue
        if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls"):
            continue
        if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super":
            continue
        if attr in ("_replace", "_asdict", "_fields", "_make"):  # namedtuple's public API
            continue
        found.append(f"{ast.unparse(receiver)}.{attr}")
    return found


def test_private_attributes_are_used_only_in_the_module_that_defines_them():
    found = [f"{p.relative_to(REPO)}: {hit}" for p in SOURCES for hit in reach_ins(p.read_text(), p.name)]
    assert not found, found


@pytest.mark.parametrize(
    ("sample", "hits"),
    [
        ("def f(lake):\n    return lake._store.open('data')\n", ["lake._store"]),
        ("def f(self):\n    return self.lake._store\n", ["self.lake._store"]),
        ("import m\nx = m._State()\n", ["m._State"]),
        ("def f(b):\n    return getattr(b, '_prefetched', {})\n", ["b._prefetched"]),
        ("class A:\n    def __init__(self):\n        self._x = 1\n    def g(self, o):\n        return o._x\n", []),
    ],
)
def test_the_reach_in_check_finds_what_it_should(sample, hits):
    """The check is not vacuous: reach-ins written the way the old code did are caught, own names are not."""
    assert reach_ins(sample) == hits


def test_paths_relative_to_the_source_still_point_at_the_repository(tmp_path, monkeypatch):
    """A module's ``__file__``-relative path survives moves: the demo registry of this checkout is found
    from any directory (what ``pinlake demo`` and ``pinlake refresh`` fall back to)."""
    from pinlake.integrations.prefect import SOURCE_REGISTRY, resolve_registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PINLAKE_REGISTRY", raising=False)
    assert SOURCE_REGISTRY == REPO / "recipes" / "datasets.yaml"
    assert resolve_registry() == SOURCE_REGISTRY
