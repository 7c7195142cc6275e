"""Synthetic benchmark data, the same bytes for every tool.

``generate(root, n, seed)`` writes ``root/v1/<split>/*.jpg + metadata.jsonl`` (seed-000 folder
layout: 256×256 JPEG, 1–4 objects each with a category, a box and 3 keypoints) and ``root/v2``:
the same tree (hard links) with 100 images (or n//10 when n < 1000) redrawn, for the refresh
measures. Same (n, seed) ⇒ same files; an existing complete tree is reused.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SIZE = 256
CATEGORIES = ["heart", "lung", "liver", "bone", "joint"]
IMAGE_TYPES = ["mri", "xray"]
TEST_EVERY = 5  # every 5th image goes to the test split


def split_of(i: int) -> str:
    return "test" if i % TEST_EVERY == 0 else "train"


def name_of(i: int) -> str:
    return f"img-{i:06d}.jpg"


def _draw(i: int, seed: int, variant: int = 0) -> tuple[bytes, dict]:
    import io

    from PIL import Image, ImageDraw

    rng = random.Random(seed * 1_000_003 + i)
    bg = tuple(rng.randint(0, 60) for _ in range(3))
    img = Image.new("RGB", (SIZE, SIZE), bg)
    draw = ImageDraw.Draw(img)
    objects: dict[str, list] = {"category": [], "bbox": [], "keypoints": []}
    for _ in range(rng.randint(1, 4)):
        bw, bh = rng.randint(24, SIZE // 3), rng.randint(24, SIZE // 3)
        x, y = rng.randint(0, SIZE - bw - 1), rng.randint(0, SIZE - bh - 1)
        draw.ellipse([x, y, x + bw, y + bh], fill=tuple(rng.randint(60, 255) for _ in range(3)))
        objects["category"].append(rng.choice(CATEGORIES))
        objects["bbox"].append([float(x), float(y), float(bw), float(bh)])
        cy = round(y + bh / 2, 1)
        objects["keypoints"].append([round(x + bw / 2, 1), cy, float(x), cy, float(x + bw), cy])
    # noise so that JPEG sizes are realistic (~8 kB)
    for _ in range(200):
        px, py = rng.randrange(SIZE), rng.randrange(SIZE)
        draw.point((px, py), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    if variant:
        draw.rectangle([0, 0, 15, 15], fill=(255, 0, variant % 256))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue(), {"image": name_of(i), "image_type": IMAGE_TYPES[i % 2], "objects": objects}


def _chunk(args: tuple[str, int, int, int]) -> list[dict]:
    root, start, stop, seed = args
    lines = []
    for i in range(start, stop):
        data, meta = _draw(i, seed)
        (Path(root) / split_of(i) / name_of(i)).write_bytes(data)
        lines.append((i, meta))
    return lines


def changed_indices(n: int) -> list[int]:
    k = 100 if n >= 1000 else max(1, n // 10)
    step = n // k
    return [j * step + 1 for j in range(k) if j * step + 1 < n]


def fresh(root: Path, stamp: str) -> bool:
    """True when ``root`` must be made (again): its ``.complete`` does not say ``stamp``; then it is emptied."""
    done = root / ".complete"
    if done.is_file() and done.read_text() == stamp:
        return False
    if root.exists():
        shutil.rmtree(root)
    return True


def generate(root: str | os.PathLike[str], n: int, seed: int = 0, workers: int = 2) -> Path:
    """Write (or reuse) ``root`` with v1/ and v2/; returns ``root``."""
    root = Path(root)
    done = root / ".complete"
    if not fresh(root, f"{n} {seed}"):
        return root
    v1 = root / "v1"
    for split in ("train", "test"):
        (v1 / split).mkdir(parents=True)
    step = max(1, n // (workers * 8))
    jobs = [(str(v1), s, min(n, s + step), seed) for s in range(0, n, step)]
    metas: list[tuple[int, dict]] = []
    if workers > 1 and n > 500:
        with ProcessPoolExecutor(workers) as ex:
            for part in ex.map(_chunk, jobs):
                metas.extend(part)
    else:
        for job in jobs:
            metas.extend(_chunk(job))
    metas.sort(key=lambda t: t[0])
    for split in ("train", "test"):
        lines = [json.dumps(m) + "\n" for i, m in metas if split_of(i) == split]
        (v1 / split / "metadata.jsonl").write_text("".join(lines))
    # v2: hard-linked copy with some images redrawn (new inodes, so v1 stays intact)
    v2 = root / "v2"
    shutil.copytree(v1, v2, copy_function=os.link)
    for i in changed_indices(n):
        data, _ = _draw(i, seed, variant=i + 1)
        p = v2 / split_of(i) / name_of(i)
        p.unlink()
        p.write_bytes(data)
    done.write_text(f"{n} {seed}")
    return root


def files_of(folder: Path) -> list[tuple[str, str, dict]]:
    """(path, object name, metadata) per image of a v1/v2 folder, in a stable order."""
    out = []
    for split in ("train", "test"):
        base = f"{folder}/{split}/"
        for line in (folder / split / "metadata.jsonl").read_text().splitlines():
            meta = json.loads(line)
            name = meta.pop("image")
            out.append((base + name, f"bench/{split}/{name}", meta))
    return out


def apply_change(src_root: Path, folder: Path, n: int) -> None:
    """Make ``folder`` (a copy of v1) into v2 the way a user would: replace the redrawn files."""
    for i in changed_indices(n):
        rel = Path(split_of(i)) / name_of(i)
        (folder / rel).unlink()
        shutil.copy(src_root / "v2" / rel, folder / rel)


# --- the million: small images, many folders ---------------------------------------------------
TINY = 64
TINY_PER_FOLDER = 1000


def _tiny_chunk(args: tuple[str, int, int, int]) -> int:
    import io

    import numpy as np
    from PIL import Image

    root, start, stop, seed = args
    rng = np.random.default_rng(seed * 1_000_003 + start)
    for i in range(start, stop):
        folder = Path(root) / f"{i // TINY_PER_FOLDER:04d}"
        folder.mkdir(exist_ok=True)
        pixels = np.zeros((TINY, TINY, 3), np.uint8)
        pixels[:, :, 1] = np.arange(TINY, dtype=np.uint8)[None, :] * 4  # a gradient compresses well
        pixels[:8, :8] = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # a noisy corner
        pixels[8, :4, 0] = np.frombuffer(i.to_bytes(4, "big"), np.uint8)  # every image differs from every other
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
        (folder / f"img-{i:07d}.png").write_bytes(buf.getvalue())
    return stop - start


def generate_tiny(root: str | os.PathLike[str], n: int, seed: int = 0, workers: int = 2) -> Path:
    """Write (or reuse) ``root/v1``: n 64×64 PNG images (≈ 1 kB each), 1,000 a folder, for the
    ingest measures at a million files (made in parallel, cached between runs by ``.complete``)."""
    root = Path(root)
    if not fresh(root, f"tiny {n} {seed}"):
        return root
    v1 = root / "v1"
    v1.mkdir(parents=True)
    step = TINY_PER_FOLDER * 10
    jobs = [(str(v1), s, min(n, s + step), seed) for s in range(0, n, step)]
    import multiprocessing

    # spawn: the caller may have Lance loaded (a test), and Lance is not fork-safe
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        assert sum(ex.map(_tiny_chunk, jobs)) == n
    (root / ".complete").write_text(f"tiny {n} {seed}")
    return root
