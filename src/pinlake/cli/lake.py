"""`pinlake lake …`: upload, list, find, tag, import, tags, sources, process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pinlake.cli.app import LibraryOption, app, console, echo_json, err_console, fail, handle_errors, library_path

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.lake import Lake

lake_app = typer.Typer(
    help="The lake: upload files, list and find them, tag them, import a bucket, run processings.\n\n"
    "Example: pinlake lake ls --tag mri --limit 5",
    no_args_is_help=True,
)


def _lake(library: Path | None) -> Lake:
    from pinlake.lake import Lake  # lazy: CLI startup

    return Lake(library_path(library) / "_lake")


def _progress(total: int, label: str) -> Progress:
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True, disable=total < 2
    )


def _report(message: str, errors: list[Any], advice: str) -> None:
    """Print the outcome of an upload/import; on per-file errors list them, give ``advice`` and exit 1."""
    console.print(message)
    if not errors:
        return
    err_console.print(f"[yellow]{len(errors)} file(s) failed:[/]")
    for e in errors[:20]:
        err_console.print(f"  {e.path}: {e.reason}", highlight=False, soft_wrap=True)
    if len(errors) > 20:
        err_console.print(f"  … and {len(errors) - 20} more")
    err_console.print(f"[dim]{advice}[/]")
    raise typer.Exit(1)


def _table(rows: list[Any]) -> Table:
    t = Table("object_name", "v", "media_type", "size", "w×h", "tags", "id")
    for d in rows:
        wh = f"{d.width}×{d.height}" if d.width else ""
        t.add_row(d.object_name, str(d.version), d.media_type or "", str(d.size), wh, ",".join(d.tags), d.id[:12])
    return t


def _metadata_by_name(path: Path, raw: dict[str, dict[str, Any]], names: list[str], prefix: str | None) -> list[Any]:
    """One metadata per file from an ``{object_name: {...}}`` file; a key that names none of the
    uploaded objects (with or without ``--object-prefix``) is refused before anything is written."""
    pre = prefix.strip("/") + "/" if prefix and prefix.strip("/") else ""
    metas = []
    used = set()
    for n in names:
        key = n if n in raw else (pre + n if pre and pre + n in raw else None)
        metas.append(raw[key] if key is not None else None)
        used.add(key)
    unmatched = [k for k in raw if k not in used]
    if unmatched:
        shown = ", ".join(repr(k) for k in unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
        fail(
            f"metadata file {path}: {len(unmatched)} key(s) match no uploaded object: {shown}; nothing was uploaded",
            hint="Keys of an {object_name: {...}} file are the uploaded files' object names (e.g. 'scan-001.png', or with "
            '--object-prefix \'trial/basel/scan-001.png\'); to give every file the same metadata use a flat object, e.g. {"site": "basel"}.',
        )
    return metas


@lake_app.command("upload")
@handle_errors
def upload(
    paths: list[Path] = typer.Argument(..., help="Files or directories (directories are walked)."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="Tag to give the data (repeatable)."),
    source: str | None = typer.Option(None, "--source", "-s", help="Data source name."),
    metadata_file: Path | None = typer.Option(None, "--metadata-file", help="JSON object applied to every file, or {object_name: {...}}."),
    fill_metadata: bool = typer.Option(False, "--fill-metadata", help="Read EXIF / TIFF / DICOM tags into metadata."),
    object_prefix: str | None = typer.Option(None, "--object-prefix", help="Logical folder for the object names, e.g. trial/basel."),
    runner: str = typer.Option(
        "local", "--runner", help="local (threads in this process) or dask (hash and write on a Dask cluster, one commit here)."
    ),
    dask_address: str | None = typer.Option(
        None, "--dask-address", envvar="PINLAKE_DASK_ADDRESS", help="Scheduler of --runner dask, e.g. tcp://127.0.0.1:8786."
    ),
    tasks: int | None = typer.Option(None, "--tasks", min=1, help="Hash tasks of a dask upload (default: 4 per worker)."),
    library: Path | None = LibraryOption,
) -> None:
    """Upload files into the lake (re-uploads of identical bytes are no-ops; new bytes make a new version).

    Example: pinlake lake upload scans/ --tag mri --source basel --object-prefix trial/basel

    Example (on a Dask cluster whose workers see the same paths: `dask scheduler &` then `dask worker tcp://127.0.0.1:8786 &`):
    pinlake lake upload /shared/scans --tag mri --runner dask --dask-address tcp://127.0.0.1:8786
    """
    from pinlake.lake import ErrorManager, MultiData  # lazy: CLI startup

    files: list[Path] = []
    names: list[str] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                files.append(f)
                names.append(f.relative_to(p).as_posix())
        else:
            files.append(p)
            names.append(p.name)
    if not files:
        fail("no files to upload", hint="Give files or directories, e.g. `pinlake lake upload images/`.")
    metas: Any = None
    if metadata_file is not None:
        try:
            raw = json.loads(metadata_file.read_text())
        except (OSError, ValueError) as exc:
            fail(f"cannot read metadata file {metadata_file}: {exc}", hint='Give a JSON object, e.g. {"site": "basel"}.')
        if isinstance(raw, dict) and raw and all(isinstance(v, dict) for v in raw.values()):
            metas = _metadata_by_name(metadata_file, raw, names, object_prefix)
        else:
            metas = raw
    lake = _lake(library)
    before = _latest_by_name(lake, names, object_prefix)
    em = ErrorManager()
    with _progress(len(files), "uploading") as bar:
        task = bar.add_task("upload", total=len(files))
        md = lake.upload_data(
            [str(f) for f in files],
            tags=tag or None,
            source=source,
            error_manager=em,
            metadata=metas,
            fill_metadata=fill_metadata,
            object_names=names,
            object_prefix=object_prefix,
            progress=lambda n: bar.advance(task, n),
            runner=runner,
            dask_address=dask_address,
            tasks=tasks,
        )
    assert isinstance(md, MultiData)  # a list of files gives a MultiData
    _report(
        f"uploaded {len(md)} file(s); lake version {lake.version}: {_upload_counts(before, md)}"
        + (" (hashed and written on dask)" if runner == "dask" else ""),
        em.errors,
        "Fix or remove the failing files and run the same command again (landed files are deduplicated).",
    )


def _latest_by_name(lake: Any, names: list[str], prefix: str | None) -> dict[str, tuple[str, tuple[str, ...], Any]]:
    """``{object_name: (id, tags, source)}`` of the latest version of each object about to be uploaded."""
    import posixpath

    pre = prefix.strip("/") if prefix else ""
    full = sorted({posixpath.join(pre, n) if pre else n for n in names})
    if not full or not lake.version:
        return {}
    return {d.object_name: (d.id, tuple(sorted(d.tags)), d.source) for d in lake.list_data(object_names=full)}


def _upload_counts(before: dict[str, tuple[str, tuple[str, ...], Any]], uploaded: Any) -> str:
    """What an upload stored: new objects, new versions of existing ones, and files already stored
    (identical bytes and metadata: nothing new; some may have been given new tags or a source)."""
    new = versions = same = relabelled = 0
    for d in uploaded:
        prev = before.get(d.object_name)
        if prev is None:
            new += 1
        elif prev[0] != d.id:
            versions += 1
        else:
            same += 1
            relabelled += (tuple(sorted(d.tags)), d.source) != prev[1:]
    out = f"{new} new, {versions} new version(s), {same} already stored"
    if relabelled:
        out += f" ({relabelled} given new tags or a source)"
    return out + (" (nothing new stored)" if not new and not versions and not relabelled and same else "")


@lake_app.command("ls")
@handle_errors
def ls(
    tag: list[str] = typer.Option([], "--tag", "-t", help="Only data with one of these tags."),
    q: str | None = typer.Option(None, "--q", "-q", help="SQL predicate over the columns."),
    limit: int | None = typer.Option(50, "--limit", "-n", help="At most this many rows."),
    all_versions: bool = typer.Option(False, "--all-versions", help="Every version, not only the latest."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    library: Path | None = LibraryOption,
) -> None:
    """List the latest version of each resource.

    Example: pinlake lake ls --tag microscope --q "width > 100 AND media_type = 'image/png'" --limit 20
    """
    lake = _lake(library)
    _check_tags(lake, tag)
    md = lake.list_data(limit=limit, tags=tag or None, q=q, all_versions=all_versions)
    if as_json:
        echo_json([d.to_dict() for d in md])
    else:
        console.print(_table(list(md)))
        if not len(md) and (tag or q):
            err_console.print("[dim]No data matches; `pinlake lake ls` lists everything, `pinlake lake tags` the tags.[/]")


def _check_tags(lake: Any, tags: list[str]) -> None:
    """A tag the lake does not have is a typo or a missing `lake tag`: an error naming the tags it has."""
    if not tags:
        return
    known = [t.name for t in lake.list_data_tags()]
    unknown = [t for t in tags if t not in known]
    if unknown:
        fail(
            f"the lake has no tag {', '.join(repr(t) for t in unknown)}",
            hint=f"Tags: {', '.join(known) or 'none yet'}. Tag data with: pinlake lake tag TAG --q \"filename LIKE '%.png'\"",
        )


@lake_app.command("find")
@handle_errors
def find(
    object_name: str | None = typer.Argument(None, help="Object name, e.g. trial/basel/t2.dcm."),
    filename: str | None = typer.Option(None, "--filename", help="Find by file name instead."),
    id: str | None = typer.Option(None, "--id", help="Find by id instead."),
    version: int | None = typer.Option(None, "--version", "-v", help="A given resource version."),
    library: Path | None = LibraryOption,
) -> None:
    """Show one data as JSON.

    Example: pinlake lake find health/test/microscope-test-001.png --version 1
    """
    d = _lake(library).find_data(filename=filename, object_name=object_name, id=id, version=version)

    echo_json(d.to_dict())


@lake_app.command("tag")
@handle_errors
def tag_cmd(
    tags: list[str] = typer.Argument(..., help="Tags to add (or remove with --remove)."),
    q: str | None = typer.Option(None, "--q", "-q", help="Tag the data matching this predicate."),
    object_name: list[str] = typer.Option([], "--object-name", "-o", help="Tag these object names."),
    remove: bool = typer.Option(False, "--remove", help="Remove the tags instead."),
    library: Path | None = LibraryOption,
) -> None:
    """Add (or remove) tags on selected data; one new lake version.

    Example: pinlake lake tag huge-car --q "width > 1000"
    """
    if q is None and not object_name:
        fail("select data with --q or --object-name", hint="Example: pinlake lake tag car --q \"filename LIKE '%.png'\"")
    lake = _lake(library)
    md = lake.list_data(q=q, object_names=object_name or None)
    (md.remove_tags if remove else md.add_tags)(tags)
    console.print(f"{'untagged' if remove else 'tagged'} {len(md)} data; lake version {lake.version}")


@lake_app.command("import")
@handle_errors
def import_cmd(
    prefixes: list[str] = typer.Argument(..., help="s3://bucket/prefix or local directories."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="Tag to give the data (repeatable)."),
    source: str | None = typer.Option(None, "--source", "-s", help="Data source name."),
    library: Path | None = LibraryOption,
) -> None:
    """Import objects by reference (hashed, not copied). S3 settings: PINLAKE_S3_ENDPOINT, AWS_*.

    Example: PINLAKE_S3_ENDPOINT=http://localhost:9000 pinlake lake import s3://scans/basel/ --source basel
    """
    from pinlake.lake import ErrorManager  # lazy: CLI startup

    lake = _lake(library)
    em = ErrorManager()
    with _progress(2, "importing") as bar:
        task = bar.add_task("import", total=None)
        md = lake.import_bucket_objects(
            prefixes, tags=tag or None, source=source, error_manager=em, progress=lambda n: bar.advance(task, n)
        )
    _report(
        f"imported {len(md)} object(s); lake version {lake.version}", em.errors, "Check the failing objects and run the same import again."
    )


@lake_app.command("tags")
@handle_errors
def tags_cmd(library: Path | None = LibraryOption) -> None:
    """List the lake's data tags.

    Example: pinlake lake tags --library ./library
    """
    for t in _lake(library).list_data_tags():
        console.print(t.name, highlight=False)


@lake_app.command("sources")
@handle_errors
def sources_cmd(library: Path | None = LibraryOption) -> None:
    """List the lake's data sources.

    Example: pinlake lake sources
    """
    for s in _lake(library).list_datasources():
        console.print(s.name, highlight=False)


@lake_app.command("process")
@handle_errors
def process(
    name: str = typer.Argument(..., help="Processing name: image-stats, auto-tag, or a registered one."),
    q: str | None = typer.Option(None, "--q", "-q", help="Run on the data matching this predicate."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="Run on the data with one of these tags."),
    params: str | None = typer.Option(None, "--params", "-p", help="Parameters as JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Run a processing over selected data; outputs become metadata and tags (one lake version).

    Example: pinlake lake process auto-tag --params '{"tag": "big", "where": "width > 100"}'
    """
    try:
        parameters = json.loads(params) if params else None
    except ValueError as exc:
        fail(f"--params is not JSON: {exc}", hint='Example: --params \'{"tag": "big", "where": "width > 100"}\'')
    lake = _lake(library)
    _check_tags(lake, tag)
    r = lake.launch_processing(name, lake.list_data(q=q, tags=tag or None), parameters)
    console.print(
        f"{r.processing}: {r.status}; processed {r.processed}, updated {r.updated}, failed {r.failed}; lake version {r.lake_version}"
    )
    for obj, reason in r.errors[:20]:
        err_console.print(f"  {obj}: {reason}", highlight=False)
    if r.failed:
        raise typer.Exit(1)


app.add_typer(lake_app, name="lake")
