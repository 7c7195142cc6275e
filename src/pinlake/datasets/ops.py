"""Library-level dataset operations behind the CLI: build a folder, recompute stats/preview, list."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pinlake.datasets.builders.folder import ImageFolderBuilder, read_metadata
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.dataset_item import DatasetItem
from pinlake.datasets.info import DatasetInfo
from pinlake.errors import InputFileError, ValidationError
from pinlake.library import Library, check_dataset_name
from pinlake.storage import location


def load_dataset_item(spec: str) -> type[DatasetItem]:
    """``path/to/file.py:ClassName`` or ``package.module:ClassName`` → the DatasetItem subclass."""
    if ":" not in spec:
        raise ValidationError(f"--item {spec!r}: expected FILE.py:ClassName or module:ClassName")
    target, name = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise InputFileError(f"--item: {path} does not exist")
        mod_spec = importlib.util.spec_from_file_location(f"_pinlake_item_{path.stem}", path)
        assert mod_spec and mod_spec.loader
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, DatasetItem)):
        raise ValidationError(f"--item {spec!r}: {name} is not a DatasetItem subclass in {target}")
    return cls


def infer_dataset_item(source_dir: Path) -> type[DatasetItem]:
    """A DatasetItem for a folder: ``image: Image``, entities with category + bbox + keypoints when
    the metadata has ``objects``, and every other top-level key as item metadata (type from its values)."""
    from pydantic import create_model

    from pinlake.demo import EntityWithCategory
    from pinlake.features import BBox, Image, KeyPoints

    meta_types: dict[str, type] = {}
    has_objects = False
    for split in sorted(p for p in Path(source_dir).iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        for n, (_, line) in enumerate(read_metadata(split / "metadata.jsonl")):
            for key, value in line.items():
                if key in ("image", "normalized"):
                    continue
                if key == "objects":
                    has_objects = True
                    continue
                tp = bool if isinstance(value, bool) else int if isinstance(value, int) else float if isinstance(value, float) else str
                prev = meta_types.get(key)
                meta_types[key] = float if {prev, tp} == {int, float} else (prev or tp)
            if n >= 200:
                break
    fields: dict[str, Any] = {"image": (Image, ...)}
    if has_objects:
        fields.update(objects=(list[EntityWithCategory], []), bbox=(list[BBox], []), keypoints=(list[KeyPoints], []))
    for key, tp in meta_types.items():
        fields[key] = (tp | None, None)
    return create_model("FolderDatasetItem", __base__=DatasetItem, **fields)  # type: ignore[call-overload]


@dataclass
class BuildResult:
    dataset: Dataset
    samples: int


def build_folder(
    library: Library,
    source_dir: Path,
    name: str,
    *,
    item: str | type[DatasetItem] | None = None,
    mode: str = "create",
    description: str = "",
    url_prefix: str | None = None,
    embed: bool = False,
    flush_every_n_samples: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> BuildResult:
    check_dataset_name(name)
    library.ensure()
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise InputFileError(f"{source_dir}: source folder does not exist", hint="Point at ROOT with ROOT/<split>/metadata.jsonl.")
    item_cls = load_dataset_item(item) if isinstance(item, str) else (item or infer_dataset_item(source_dir))
    builder = ImageFolderBuilder(
        source_dir, library.dataset_path(name), item_cls,
        DatasetInfo(id=name, name=name.replace("_", " ").title(), description=description),
        url_prefix=url_prefix if url_prefix is not None else f"/{source_dir.name}", embed=embed,
    )
    total = builder.count_samples()
    if progress:
        builder.progress = lambda n: progress(n, total)
    ds = builder.build(mode=mode, flush_every_n_samples=flush_every_n_samples)  # type: ignore[arg-type]
    return BuildResult(ds, ds.num_items)


def dataset_summary(ds: Dataset) -> dict[str, Any]:
    return {
        "name": ds.name,
        "id": ds.id,
        "description": ds.info.description,
        "path": str(ds.path),
        "version": ds.version,
        "versions": len(ds.versions()),
        "items": ds.num_items,
        "rows": ds.state.rows,
        "splits": ds.splits() if ds.num_items else {},
        "size": ds.info.size,
        "tables": {t: {"group": ds.schema.group(t), "schema": ds.schema.schemas[t].__name__, "lance_version": ds.state.tables.get(t)} for t in ds.tables},
        "stats": str(ds.path / "stats.json"),
        "preview": str(ds.preview_path),
    }


def list_datasets(library: Library) -> list[dict[str, Any]]:
    out = []
    for ds in library.iter_datasets():
        out.append({"name": ds.name, "items": ds.num_items, "version": ds.version, "versions": len(ds.versions()), "size": ds.info.size, "description": ds.info.description})
    return out


def open_dataset(library: Library, name_or_path: str, media_dir: Path | None = None) -> Dataset:
    p = location(name_or_path)
    if (p / "_versions.lance").is_dir() or (p / "info.json").is_file():
        return Dataset(p, media_dir=media_dir)
    return library.get_dataset(name_or_path, media_dir=media_dir)


def recompute_stats(ds: Dataset) -> dict[str, Any]:
    """Compute stats.json and features_values.json of ``ds``'s version again (stored with that version)."""
    from pinlake.datasets.finalize import write_stats

    return write_stats(ds)


def recompute_preview(ds: Dataset) -> Path:
    from pinlake.datasets.finalize import write_preview

    return write_preview(ds)
