"""Writers at once, as separate processes: the result is as if they ran one after the other, and no
write is silently replaced."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from bench.faults import CLI, REFRESH_SCRIPT, _assets, _env, _prepare_base, _prepare_refresh, content, problems_after_kill

pytestmark = pytest.mark.e2e


def _start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(procs: list[subprocess.Popen]) -> list[tuple[int, str]]:
    out = []
    for p in procs:
        o, e = p.communicate(timeout=300)
        out.append((p.returncode, " ".join((o + e).split())))
    return out


def test_eight_uploads_of_overlapping_files(tmp_path):
    from pinlake.library import Library

    files = tmp_path / "files"
    files.mkdir()
    src = _assets(tmp_path, n_train=6, n_test=2)
    images = sorted(src.glob("*/*.*g")) + sorted(src.glob("*/*.tif"))
    for p in images:
        shutil.copy(p, files / p.name)
    names = sorted(p.name for p in files.iterdir())
    together, alone = tmp_path / "together", tmp_path / "alone"
    subsets = [names[i : i + 4] for i in range(8)]
    argv = lambda lib, sub: [*CLI, "lake", "upload", *[str(files / n) for n in sub], "--tag", "t", "--library", str(lib)]  # noqa: E731
    results = _wait([_start(argv(together, sub)) for sub in subsets])
    assert all(code == 0 for code, _ in results), results
    for sub in subsets:
        assert subprocess.run(argv(alone, sub), env=_env(), capture_output=True).returncode == 0
    assert content(together) == content(alone)
    rows = Library(together).get_datalake().list_data(limit=100)
    assert sorted(r.filename for r in rows) == sorted({n for sub in subsets for n in sub})


WRITER = textwrap.dedent("""
    import sys
    from pinlake.datasets import Dataset
    ds = Dataset(sys.argv[1])
    i = sys.argv[2]
    item = ds.get_dataset_items(limit=1)[0]
    box = ds.get_data("bbox", item_ids=[item.id])[0]
    with ds.batch(f"writer {i}"):
        ds.add_data("bbox", [{**box.model_dump(), "id": f"writer-{i}"}])
        ds.update_data("item", [{**ds.get_data("item", ids=[item.id])[0].model_dump(), "image_type": f"w{i}"}])
""")


def test_eight_crud_writers_on_one_dataset(tmp_path):
    from pinlake.datasets import Dataset

    _prepare_base(tmp_path)
    path = tmp_path / "library" / "health_images"
    before = Dataset(path).num_rows("bbox")
    results = _wait([_start([sys.executable, "-c", WRITER, str(path), str(i)]) for i in range(8)])
    assert all(code == 0 for code, _ in results), results
    ds = Dataset(path)
    assert [e.dataset_version for e in ds.versions()] == list(range(1, 10))
    assert ds.num_rows("bbox") == before + 8
    assert sorted(b.id for b in ds.get_data("bbox", where="id LIKE 'writer-%'")) == [f"writer-{i}" for i in range(8)]
    assert problems_after_kill(tmp_path) == []


def test_two_overwrites_at_once(tmp_path):
    from pinlake.datasets import Dataset

    _prepare_base(tmp_path)
    third = _assets(tmp_path, "third_images", n_train=2, n_test=1)

    def argv(folder):
        return [
            *CLI,
            "build",
            str(folder),
            "--name",
            "health_images",
            "--mode",
            "overwrite",  # noqa: E731
            "--url-prefix",
            "/health_images",
            "--library",
            str(tmp_path / "library"),
        ]

    results = _wait([_start(argv(tmp_path / "assets" / "other_images")), _start(argv(third))])
    assert all(code == 0 for code, _ in results), results
    ds = Dataset(tmp_path / "library" / "health_images")
    assert [e.dataset_version for e in ds.versions()] == [1, 2, 3]
    roots = {v: ds.checkout(v).info.media["root"] for v in (2, 3)}
    assert set(roots.values()) == {str((tmp_path / "assets" / "other_images").resolve()), str(third.resolve())}
    for v in (2, 3):  # each version reads its own images and counts
        pinned = ds.checkout(v)
        assert pinned.info.num_items == pinned.num_items == pinned.stats["num_items"]
        pinned.read_media(pinned.get_data("image", limit=1)[0])
    assert problems_after_kill(tmp_path) == []


def test_two_creates_at_once(tmp_path):
    from pinlake.datasets import Dataset

    _prepare_base(tmp_path)
    argv = [
        *CLI,
        "build",
        str(tmp_path / "assets" / "other_images"),
        "--name",
        "other",
        "--mode",
        "create",
        "--library",
        str(tmp_path / "library"),
    ]
    results = _wait([_start(argv), _start(argv)])
    assert sorted(code for code, _ in results) == [0, 1], results
    assert any("already exists" in said for _, said in results)
    assert [e.dataset_version for e in Dataset(tmp_path / "library" / "other").versions()] == [1]


def test_three_refreshes_at_once(tmp_path):
    from pinlake.datasets import Dataset

    _prepare_refresh(tmp_path)
    argv = [sys.executable, "-c", REFRESH_SCRIPT, str(tmp_path / "library"), str(tmp_path / "recipes" / "datasets.yaml")]
    results = _wait([_start(argv) for _ in range(3)])
    assert all(code == 0 for code, _ in results), results
    ds = Dataset(tmp_path / "library" / "health_by_tag")
    assert [e.dataset_version for e in ds.versions()] == [1]  # one build; the others found it current
    assert ds.stats["dataset_version"] == 1 and ds.preview_path.is_file()
    assert problems_after_kill(tmp_path) == []
    assert json.loads((tmp_path / "library" / "health_by_tag" / "info.json").read_text())["num_items"] == ds.num_items
