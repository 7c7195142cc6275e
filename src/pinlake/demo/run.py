"""Run the demo end to end on embedded defaults (engine only; the flows extend it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pinlake.datasets.build.base import BuildMode
from pinlake.datasets.build.folder import ImageFolderBuilder
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.info import DatasetInfo
from pinlake.demo.data import DEMO_NAME, HealthDatasetItem, generate_health_images
from pinlake.library.connection import Library
from pinlake.library.lineage import lineage_of
from pinlake.library.sql import sql
from pinlake.library.versions import list_versions

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console


@dataclass
class DemoResult:
    dataset: Dataset
    assets: Path


def run_demo(library: Path, assets: Path) -> DemoResult:
    lib = Library(library).ensure()
    source = Path(assets) / DEMO_NAME
    generate_health_images(source)
    builder = ImageFolderBuilder(
        source,
        lib.dataset_path(DEMO_NAME),
        HealthDatasetItem,
        DatasetInfo(id=DEMO_NAME, name="Health Images", description="Demo: generated health images with boxes and keypoints"),
        url_prefix=f"/{DEMO_NAME}",
    )
    mode: BuildMode = "overwrite" if (lib.dataset_path(DEMO_NAME) / "info.json").exists() else "create"
    return DemoResult(builder.build(mode=mode), source)


def describe_flow_demo(library: Path, datasets: list[str], console: Console) -> None:
    """Print the versions, the lineage of the newest version and one SQL result."""
    lib = Library(library)
    for name in datasets:
        versions = list_versions(lib.dataset_path(name))
        console.print(f"[bold]{name}[/] versions: " + ", ".join(f"{v['dataset_version']} ({v['operation']})" for v in versions))
    if datasets:
        newest = max(list_versions(lib.dataset_path(datasets[0])), key=lambda v: v["dataset_version"])["dataset_version"]
        chain = lineage_of(f"{datasets[0]}@{newest}", library=library)
        console.print(
            f"[bold]lineage[/] {datasets[0]}@{newest}: lake v{chain.get('lake', {}).get('version')} → lock "
            f"{str(chain.get('lock', {}).get('hash', ''))[:12]} → tables {chain['version']['tables']} (flow run {chain['version']['flow_run_id'][:8]})"
        )
    query = "SELECT dataset, count(*) AS versions FROM catalog.versions GROUP BY dataset ORDER BY dataset"
    table = sql(query, library=library)
    console.print(f"[bold]SQL[/] {query}")
    for row in table.to_pylist():
        console.print(f"  {row}")
