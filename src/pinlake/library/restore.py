"""Restore (``pinlake restore``): a new dataset version equal to an old one, with that version's files."""

from __future__ import annotations

import json

from pinlake.datasets.tables import table_uri
from pinlake.datasets.versions import VERSION_FILES, DatasetVersion, VersionLog
from pinlake.errors import ConflictError, NotFoundError
from pinlake.library.versions import missing_tables, resolve
from pinlake.provenance import content_lineage, lineage_properties
from pinlake.storage import AnyPath, lance_dataset


# --- restore --------------------------------------------------------------------------------
def restore_version(
    path: AnyPath, version: int | str, *, user: str | None = None, expect_latest: int | None = None, message: str = ""
) -> DatasetVersion:
    """Append a new dataset version equal to an old one (each table restored to its old version).

    ``user`` is recorded as the version's ``pinlake.user`` (default: the process's user);
    ``expect_latest``: refuse with :class:`ConflictError` (nothing written) unless the latest version
    still is that one, so a restore chosen on a page that went stale undoes nothing it did not show."""
    log = VersionLog(path)
    with log.locked():
        if expect_latest is not None:
            latest = log.latest()
            if latest is not None and latest.dataset_version != expect_latest:
                raise ConflictError(
                    f"dataset {path.name!r} moved on to version {latest.dataset_version} since version {expect_latest}; nothing restored",
                    hint=f"Reload the versions and choose again (a restore now would also undo version {latest.dataset_version}).",
                )
        target = resolve(path, version)
        gone = missing_tables(target, path)
        if gone:
            raise NotFoundError(
                f"cannot restore dataset {path.name!r} to version {target.dataset_version}: cleaned up ({', '.join(gone)})",
                hint="Pick a version listed as available by `pinlake versions`.",
            )
        tables: dict[str, int] = {}
        rows: dict[str, int] = {}
        for table, v in target.tables.items():
            uri = table_uri(path, table)
            if lance_dataset(uri).version == v:
                tables[table] = v  # the latest table version already is the old one
            else:
                lance_dataset(uri, version=v).restore()
                tables[table] = lance_dataset(uri).version
            rows[table] = target.rows.get(table, lance_dataset(uri, version=tables[table]).count_rows())
        props = lineage_properties("restore", restored_from=target.dataset_version, user=user or None)
        props.update(content_lineage(target.lineage))
        return log.append(
            "restore",
            tables,
            rows,
            props,
            f"{message} (restore of version {target.dataset_version})" if message else f"restore of version {target.dataset_version}",
            derive=lambda entry: restored_files(log, target.dataset_version, entry.dataset_version),
        )


def restored_files(log: VersionLog, source: int, number: int) -> dict[str, bytes]:
    """The files of a version that restores ``source``: that version's own (its stats renumbered)."""
    out: dict[str, bytes] = {}
    for name in VERSION_FILES:
        src = log.version_file(source, name)
        if src is None:
            continue
        data = src.read_bytes()
        if name == "stats.json":
            stats = json.loads(data)
            if isinstance(stats, dict) and stats.get("dataset_version") == source:
                data = (json.dumps({**stats, "dataset_version": number}, indent=2) + "\n").encode()
        out[name] = data
    return out
