"""Pinned, read-only access for training: ``pinlake.open("health_images@7")``.

A pin names one exact dataset state: ``name@7`` (a version), ``name@v1.0`` (a tag),
``name@lock:<hash>`` (the latest version built from a lock), or ``name`` (the latest). Every table
opens at the Lance version the dataset version names, so a pinned read never changes under you.
``pins.yaml`` files record pins with a content hash per table; ``verify_pins`` checks them.

Importing this module (and reading a pin) never imports Prefect.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lance
import pyarrow as pa

from pinlake.catalog.store import Catalog, dumps
from pinlake.datasets.dataset import Dataset
from pinlake.datasets.formats import exporter
from pinlake.datasets.tables import table_uri
from pinlake.datasets.versions import DatasetVersion
from pinlake.errors import InputFileError, NotFoundError, ValidationError
from pinlake.library.versions import dataset_path, library_of, missing_tables, resolve, resolve_read
from pinlake.provenance import lineage_properties
from pinlake.storage import AnyPath, lance_dataset, location
from pinlake.util.clock import utcnow

PINS_FORMAT = 1


def parse_pin(pin: str) -> tuple[str, str | None]:
    """``"name@spec"`` → ``("name", "spec")``; ``"name"`` → ``("name", None)``."""
    name, sep, spec = str(pin).rpartition("@")
    if not sep:
        return str(pin), None
    if not name or not spec:
        raise ValidationError(f"invalid pin {pin!r}", hint="Use NAME, NAME@VERSION, NAME@TAG or NAME@lock:HASH.")
    return name, spec


class PinnedDataset:
    """One dataset version, read-only: every table at the Lance version the version log names."""

    def __init__(self, path: AnyPath | str, entry: DatasetVersion, pin: str) -> None:
        self.path = location(path)
        self.entry = entry
        self.pin = pin
        self._dataset: Any = None
        self._lance: dict[str, lance.LanceDataset] = {}  # tables opened so far (a pinned version never changes)

    # --- identity ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def version(self) -> int:
        return self.entry.dataset_version

    @property
    def tables(self) -> list[str]:
        return sorted(self.entry.tables)

    @property
    def table_versions(self) -> dict[str, int]:
        return dict(self.entry.tables)

    @property
    def lineage(self) -> dict[str, str]:
        return dict(self.entry.lineage)

    @property
    def dataset(self) -> Any:
        """The full :class:`~pinlake.datasets.dataset.Dataset` handle, read-only at this version."""
        if self._dataset is None:
            self._dataset = Dataset(self.path, version=self.version)
        return self._dataset

    # --- reads ---------------------------------------------------------------------
    def open_lance(self, table: str) -> lance.LanceDataset:
        if table in self._lance:
            return self._lance[table]
        if table not in self.entry.tables:
            raise NotFoundError(
                f"dataset {self.name!r} version {self.version} has no table {table!r}",
                hint=f"Tables: {', '.join(self.tables)}.",
            )
        v = self.entry.tables[table]
        try:
            ds = self._lance[table] = lance_dataset(table_uri(self.path, table), version=v)
        except (ValueError, OSError):
            raise NotFoundError(
                f"table {table!r} of dataset {self.name!r} version {self.version} (Lance version {v}) was removed",
                hint="It was cleaned up: pin a version that `pinlake versions` lists as available.",
            ) from None
        return ds

    def to_arrow(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> pa.Table:
        return self.open_lance(table).to_table(columns=list(columns) if columns else None, filter=filter, limit=limit, offset=offset)

    def to_pandas(self, table: str, columns: Sequence[str] | None = None, filter: str | None = None) -> Any:
        return self.to_arrow(table, columns=columns, filter=filter).to_pandas()

    def to_batches(
        self, table: str, batch_size: int = 1024, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream ``table`` in record batches of at most ``batch_size`` rows (flat memory)."""
        yield from self.open_lance(table).to_batches(batch_size=batch_size, columns=list(columns) if columns else None, filter=filter)

    def export(self, format: str, out: str | os.PathLike[str], *, media: str = "copy") -> Any:
        """Write this version in an annotation format (``coco``; see ``pinlake export``) under
        ``out`` (new or empty); ``media``: copy the images, hard-link them where possible (``link``)
        or leave them out (``none``). The output names this pin (dataset, version, lock hash).
        Returns an :class:`~pinlake.datasets.formats.common.ExportResult`."""
        return exporter(format)(self.dataset, out, media=media, provenance_extra={"pin": self.pin})

    def take(self, table: str, indices: Sequence[int], columns: Sequence[str] | None = None) -> pa.Table:
        """Rows at positional ``indices`` (Lance random access)."""
        return self.open_lance(table).take(list(indices), columns=list(columns) if columns else None)

    def num_rows(self, table: str = "item") -> int:
        return self.entry.rows[table] if table in self.entry.rows else self.open_lance(table).count_rows()

    def __len__(self) -> int:
        return self.num_rows("item")

    def items(self, batch_size: int = 256, split: str | None = None) -> Iterator[Any]:
        """Dataset items (item row with its views, entities, annotations), fetched page by page."""
        skip = 0
        while True:
            page = self.dataset.get_dataset_items(limit=batch_size, skip=skip, split=split)
            yield from page
            if len(page) < batch_size:
                return
            skip += batch_size

    def read_media(self, view: Any) -> bytes:
        return self.dataset.read_media(view)

    def content_hashes(self) -> dict[str, str]:
        return {t: version_content_hash(table_uri(self.path, t), v) for t, v in sorted(self.entry.tables.items())}

    def __repr__(self) -> str:
        return f"PinnedDataset({self.name!r}, version={self.version})"


def _consumer(pinned: PinnedDataset, run: str | None) -> None:
    lib = library_of(pinned.path)
    if lib is None:
        return

    props = lineage_properties("read")
    Catalog(lib).append(
        "consumers",
        [
            {
                "dataset": pinned.name,
                "dataset_version": pinned.version,
                "pin": pinned.pin,
                "run": run or props["pinlake.run_id"],
                "tables": dumps(pinned.table_versions),
                "used_at": utcnow(),
                "user": props["pinlake.user"],
                "host": socket.gethostname(),
            }
        ],
        dedupe=False,
    )


def open(
    pin: str,
    *,
    version: int | None = None,
    tag: str | None = None,
    lock: str | None = None,
    library: str | os.PathLike[str] | None = None,
    record_use: bool = False,
    run: str | None = None,
) -> PinnedDataset:
    """Open a pinned dataset version read-only.

    ``pin`` is ``NAME``, ``NAME@VERSION``, ``NAME@TAG``, ``NAME@CHANNEL``, ``NAME@latest`` or
    ``NAME@lock:HASH`` (``NAME`` may be a dataset path); or pass ``version=`` / ``tag=`` / ``lock=``.
    A bare ``NAME`` is the latest version, except for a dataset gated on a channel (a registry
    ``channel:``): then it is the version published there, which passed its checks; ``NAME@latest``
    is the newest built one. ``record_use=True`` or ``run="..."``
    records this read as a consumer in the library's catalog.
    """
    name, spec = parse_pin(pin)
    path = dataset_path(name, library)
    if spec is None and version is None and tag is None and lock is None:
        entry = resolve_read(path)  # a gated dataset's bare name is its channel's published version
    else:
        entry = resolve(path, spec if spec is not None else version, tag=tag, lock=lock)
    gone = missing_tables(entry, path)
    if gone:
        raise NotFoundError(
            f"dataset {path.name!r} version {entry.dataset_version} was cleaned up: {', '.join(gone)} no longer exist",
            hint="Pin a version that `pinlake versions` lists as available (tagged and pinned versions are kept).",
        )
    pinned = PinnedDataset(path, entry, f"{path.name}@{entry.dataset_version}")
    if record_use or run:
        _consumer(pinned, run)
    return pinned


# --- content hashes and pins.yaml -----------------------------------------------------------------
def manifest_path(uri: str, version: int) -> AnyPath:
    d = location(uri) / "_versions"
    v2 = d / f"{(1 << 64) - 1 - version:020d}.manifest"
    return v2 if v2.exists() else d / f"{version}.manifest"


def version_content_hash(uri: str, version: int) -> str:
    """sha256 over a table version's manifest bytes plus the names and sizes of its data files."""
    ds = lance_dataset(uri, version=version)
    h = hashlib.sha256(manifest_path(uri, version).read_bytes())
    files = sorted(f for frag in ds.get_fragments() for f in (df.path for df in frag.data_files()))
    for f in files:
        p = location(uri) / "data" / f
        h.update(f"{f}\0{p.stat().st_size if p.exists() else -1}\n".encode())
    return h.hexdigest()


def _load_pins(file: Path) -> dict[str, Any]:
    import yaml

    if not file.exists():
        return {"format": PINS_FORMAT, "datasets": {}}
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputFileError(f"{file}: not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict) or not isinstance(data.get("datasets", {}), dict):
        raise InputFileError(f"{file}: expected a mapping with 'datasets: {{name: {{version, tables}}}}'")
    data.setdefault("datasets", {})
    return data


def write_pin(pin: str, to: str | os.PathLike[str] = "pins.yaml", library: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Add or update ``pin`` in a pins.yaml (version, table versions, content hashes); register it."""
    import yaml

    pinned = open(pin, library=library)
    file = Path(to)
    data = _load_pins(file)
    hashes = pinned.content_hashes()
    record = {
        "version": pinned.version,
        "pin": pinned.pin,
        "lock_hash": pinned.entry.lock_hash or None,
        "tables": {t: {"version": v, "sha256": hashes[t]} for t, v in sorted(pinned.table_versions.items())},
    }
    data["format"] = PINS_FORMAT
    data["datasets"][pinned.name] = {k: v for k, v in record.items() if v is not None}
    tmp = file.with_name(file.name + ".tmp")
    tmp.write_text("# pinlake pins: exact dataset versions (verify with `pinlake verify`)\n" + yaml.safe_dump(data, sort_keys=True))
    tmp.replace(file)
    lib = library_of(pinned.path)
    if lib is not None:
        Catalog(lib).append(
            "pins",
            [
                {
                    "dataset": pinned.name,
                    "dataset_version": pinned.version,
                    "tables": dumps(pinned.table_versions),
                    "pin_file": str(file.resolve()),
                    "hashes": dumps(hashes),
                    "created_at": utcnow(),
                }
            ],
            dedupe=False,
        )
    return {"file": str(file), "dataset": pinned.name, **record}


def verify_pins(file: str | os.PathLike[str], library: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Check every pinned table version still exists and its content hash matches.

    Raises :class:`ValidationError` naming each dataset/table at fault; returns the checks otherwise.
    """
    file = Path(file)
    if not file.exists():
        raise InputFileError(f"{file} does not exist", hint="Write one with `pinlake pin DATASET@VERSION --to pins.yaml`.")
    data = _load_pins(file)
    checks, problems = [], []
    for name, rec in sorted(data["datasets"].items()):
        if not isinstance(rec, dict) or not isinstance(rec.get("tables"), dict):
            problems.append(f"{name}: entry malformed (expected version and tables)")
            continue
        try:
            path = dataset_path(name, library)
            entry = resolve(path, rec.get("version"))
        except NotFoundError as exc:
            problems.append(f"{name}: {exc.message}")
            continue
        for table, t in sorted(rec["tables"].items()):
            pinned: Any = t or {}  # as read from the pins file
            want_v, want_h = pinned.get("version"), pinned.get("sha256")
            where = f"dataset {name!r} table {table!r} version {want_v}"
            if entry.tables.get(table) != want_v:
                problems.append(f"{where}: dataset version {entry.dataset_version} names Lance version {entry.tables.get(table)}")
                continue
            uri = table_uri(path, table)
            try:
                got = version_content_hash(uri, int(want_v))
            except (ValueError, OSError, TypeError):
                problems.append(f"{where}: no longer exists (cleaned up?)")
                continue
            ok = got == want_h
            checks.append({"dataset": name, "table": table, "version": want_v, "ok": ok})
            if not ok:
                problems.append(f"{where}: content hash mismatch (pins.yaml {str(want_h)[:12]}…, table {got[:12]}…)")
    if problems:
        raise ValidationError(
            f"{file}: {len(problems)} pin check(s) failed: " + "; ".join(problems),
            hint="Re-pin with `pinlake pin DATASET@VERSION --to pins.yaml` if the change is intended.",
        )
    return checks


__all__ = ["PinnedDataset", "open", "parse_pin", "write_pin", "verify_pins", "version_content_hash"]
