"""Helpers of the check tests: copy a demo image into another split, and write versions straight with
Lance (rows the CRUD layer would refuse, e.g. a NaN box), as a tool writing the tables itself would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import lance
import pyarrow as pa

from pinlake.datasets.dataset import Dataset
from pinlake.datasets.tables import table_uri
from pinlake.datasets.versions import VersionLog


def copy_image(root: Path, from_split: str, to_split: str, new_name: str) -> None:
    """Add ``root/to_split/new_name``: the same bytes (and metadata) as the first image of ``from_split``."""
    line = json.loads((root / from_split / "metadata.jsonl").read_text().splitlines()[0])
    shutil.copy(root / from_split / line["image"], root / to_split / new_name)
    line["image"] = new_name
    with open(root / to_split / "metadata.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n")


def raw_write(ds: Dataset, table: str, rows: list[dict[str, Any]], mode: str = "append") -> Dataset:
    """Write ``rows`` into ``table`` with Lance directly (no pinlake validation) and log a new dataset
    version holding it, as a tool writing the Lance tables itself would; returns the new version."""
    uri = table_uri(ds.path, table)
    schema = lance.dataset(uri).schema
    written = lance.write_dataset(pa.Table.from_pylist(rows, schema=schema), uri, mode=mode)
    log = VersionLog(ds.path)
    state = ds.state
    with log.locked():
        log.append(
            f"raw {mode} {table}",
            {**state.tables, table: written.version},
            {**state.rows, table: written.count_rows()},
            {},
        )
    return Dataset(ds.path)


def a_row(ds: Dataset, table: str, **changes: Any) -> dict[str, Any]:
    """A copy of the first row of ``table`` with a new id and ``changes``."""
    row = ds.to_arrow(table, limit=1).to_pylist()[0]
    return {**row, "id": f"raw-{len(changes)}-{abs(hash(json.dumps(changes, default=str))) % 10**8}", **changes}
