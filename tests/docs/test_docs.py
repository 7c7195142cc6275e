"""The documentation runs as written: the README's tour and the tutorial pages, in order, in one
fresh directory, with the commands and Python a reader would copy (see runner.py for the rules)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from runner import blocks, docs_env, run_page

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
#: the tutorial, in the order a reader follows it (mkdocs.yml's nav); each page builds on the last
TUTORIAL = [
    "quickstart.md",
    "concepts.md",
    "lake.md",
    "recipes.md",
    "datasets.md",
    "formats.md",
    "versions.md",
    "catalog.md",
    "flows.md",
    "publish.md",
    "api.md",
    "storage.md",
    "reliability.md",
]

pytestmark = pytest.mark.e2e


@pytest.mark.long
def test_tutorial_pages_run_in_order(tmp_path, prefect_home_seed):
    env = docs_env(tmp_path)
    prefect_home_seed(Path(env["PREFECT_HOME"]))
    work = tmp_path / "work"
    work.mkdir()
    for name in TUTORIAL:
        ran = run_page(DOCS / name, work, env)
        assert ran > 0 or name in ("concepts.md", "reliability.md"), f"{name} has no runnable example"
        if name == "quickstart.md":  # the README's tour runs on the demo library the quickstart made
            assert run_page(REPO / "README.md", work, env) > 0


def test_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) < 200


def test_tutorial_is_the_sites_order():
    import yaml

    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    pages = [p for entry in nav if "Tutorial" in entry for d in entry["Tutorial"] for p in d.values()]
    assert TUTORIAL[: len(pages)] == pages


def test_every_skipped_example_says_why():
    for page in sorted(DOCS.glob("*.md")) + [REPO / "README.md"]:
        for b in blocks(page):
            assert b.skip is None or b.skip.strip(), f"{page.name}:{b.line}: a skipped example needs a reason"


def test_site_builds_strictly(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
