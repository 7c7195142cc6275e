"""The layout's rules, checked on the source: layers and cycles (import-linter), no reach-ins to
another module's private names, and the one sanctioned call of Lance's private take."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted((REPO / "src" / "pinlake").rglob("*.py")) + sorted((REPO / "flows").glob("*.py"))
RECEIVER = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\._([a-z]\w*)\b")


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
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("pinlake", "flows"):
                found += [
                    f"{path.relative_to(REPO)}:{node.lineno} {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not found, found


def test_private_attributes_are_used_only_in_the_module_that_defines_them():
    """``obj._name`` (obj not self/cls) only where ``_name`` is defined: assigned, a method or a slot."""
    found = []
    for path in SOURCES:
        text = path.read_text()
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        tree = ast.parse(text)
        own = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
        own |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        own |= {
            c.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in n.targets)
            for c in ast.walk(n.value)
            if isinstance(c, ast.Constant) and isinstance(c.value, str)
        }
        for m in RECEIVER.finditer(code):
            receiver, attr = m.group(1), "_" + m.group(2)
            if receiver in ("self", "cls") or attr in own or attr in ("_replace", "_asdict", "_fields", "_make"):
                continue
            if attr == "_take_rows" and path.name == "lance_io.py":
                continue  # the one call of Lance's private take by row id (see storage/lance_io.take_rows)
            found.append(f"{path.relative_to(REPO)}: {receiver}.{attr}")
    assert not found, found


def test_the_check_above_finds_a_reach_in(tmp_path):
    """The private-attribute check is not vacuous: a reach-in written the way the old code did is caught."""
    sample = "from pinlake.lake import Lake\n\ndef f(lake):\n    return lake._store.open('data')\n"
    tree = ast.parse(sample)
    own = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
    hits = [m.group(0) for m in RECEIVER.finditer(sample) if "_" + m.group(2) not in own]
    assert hits == ["lake._store"]


def test_paths_relative_to_the_source_still_point_at_the_repository(tmp_path, monkeypatch):
    """A module's ``__file__``-relative path survives moves: the demo registry of this checkout is found
    from any directory (what ``pinlake demo`` and ``pinlake refresh`` fall back to)."""
    from pinlake.integrations.prefect import SOURCE_REGISTRY, resolve_registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PINLAKE_REGISTRY", raising=False)
    assert SOURCE_REGISTRY == REPO / "recipes" / "datasets.yaml"
    assert resolve_registry() == SOURCE_REGISTRY
