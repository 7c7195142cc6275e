"""`pinlake build`: build a dataset from an image folder, or from a lock (`--lock DIR`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pinlake.cli.app import LibraryOption, app, console, fail, handle_errors, library_path
from pinlake.errors import DatasetExistsError
from pinlake.library import Library

FOLDER_MODES = ("create", "overwrite", "add")
LOCK_MODES = ("auto", "create", "overwrite")
#: the create-mode refusal's hint in command-line words (the Python API's says mode="overwrite")
EXISTS_HINT = {
    "folder": "Use --mode overwrite (a new version replacing the rows) or --mode add (append new items).",
    "lock": "Use --mode overwrite (a new version replacing the rows) or --mode auto (incremental; the default).",
}


def _cli_hint(exc: DatasetExistsError, kind: str) -> DatasetExistsError:
    """The same refusal with a hint naming the --mode option (when the hint named a Python mode=)."""
    if exc.hint and "mode=" in exc.hint:
        return DatasetExistsError(exc.message, hint=EXISTS_HINT[kind], partial=exc.partial)
    return exc


@app.command("build")
@handle_errors
def build(
    source: Path | None = typer.Argument(
        None,
        help="Folder ROOT with ROOT/<split>/*.jpg and ROOT/<split>/metadata.jsonl; with --format: the COCO JSON, "
        "the YOLO data.yaml (or its folder), the VOC folder (Annotations/, JPEGImages/, ImageSets/Main/).",
    ),
    format: str | None = typer.Option(
        None,
        "--format",
        help="Import annotations: coco (instances or person keypoints JSON), yolo (Ultralytics data.yaml), voc (Pascal VOC folder).",
    ),
    images: Path | None = typer.Option(
        None, "--images", help="With --format coco: the folder holding the images the file names (yolo and voc find their images)."
    ),
    split: str = typer.Option(
        "train",
        "--split",
        help="With --format coco: the split of the file's images (build the next split with --mode add); voc: the split when "
        "there is no ImageSets/Main (yolo and voc take their splits from the dataset).",
    ),
    lenient: bool = typer.Option(
        False, "--lenient", help="With --format: skip bad annotations (listed, counted in the lineage) instead of stopping."
    ),
    lock: Path | None = typer.Option(None, "--lock", help="Build from this lock directory (resources.<split>.jsonl + lock.json) instead."),
    name: str | None = typer.Option(None, "--name", "-n", help="Dataset name in the library (with --lock: default the recipe name)."),
    item: str | None = typer.Option(
        None,
        "--item",
        help="DatasetItem class as FILE.py:Class or module:Class (default: inferred; with --lock: pinlake.demo.data:HealthDatasetItem).",
    ),
    mode: str | None = typer.Option(
        None, "--mode", "-m", help="create | overwrite | add (folder, default create); auto | create | overwrite (--lock, default auto)."
    ),
    description: str = typer.Option("", "--description", "-d"),
    url_prefix: str | None = typer.Option(None, "--url-prefix", help="Prefix of view urls (default: /<folder name>)."),
    embed: bool = typer.Option(False, "--embed", help="Copy image bytes into the dataset."),
    flush_every: int | None = typer.Option(None, "--flush-every", help="Samples per flush (memory vs speed)."),
    runner: str = typer.Option("local", "--runner", help="With --lock: local (this process) or dask (shards on a Dask cluster)."),
    dask_address: str | None = typer.Option(
        None, "--dask-address", envvar="PINLAKE_DASK_ADDRESS", help="Scheduler of --runner dask, e.g. tcp://127.0.0.1:8786."
    ),
    shards: int | None = typer.Option(
        None, "--shards", min=1, help="Shards of a dask build (default: 2 per worker, or one per ~5000 resources)."
    ),
    library: Path | None = LibraryOption,
) -> None:
    """Build a dataset from an image folder or a lock (a new dataset version).

    Example: pinlake build ./assets/health_images --name health_images --mode create

    Example: pinlake build annotations/instances_train.json --format coco --images images/train --name shapes

    Example: pinlake build annotations/instances_val.json --format coco --images images/val --split val --name shapes --mode add

    Example: pinlake build datasets/shapes/data.yaml --format yolo --name shapes

    Example: pinlake build VOCdevkit/VOC2007 --format voc --name voc2007

    Example: pinlake build --lock library/_locks/<hash> --name basel_trial   (incremental when it exists)

    Example (on a Dask cluster: `dask scheduler &` then `dask worker tcp://127.0.0.1:8786 &`):
    pinlake build --lock library/_locks/<hash> --name basel_trial --runner dask --dask-address tcp://127.0.0.1:8786
    """
    kind = "lock" if lock is not None else "folder"
    modes = LOCK_MODES if lock is not None else FOLDER_MODES
    if mode is not None and mode not in modes:
        fail(f"unknown --mode {mode!r}" + (" with --lock" if lock is not None else ""), hint=f"Use --mode {', '.join(modes)}.")
    if runner != "local" and lock is None:
        fail(
            f"--runner {runner} builds from a lock only",
            hint="pinlake build --lock DIR --name NAME --runner dask --dask-address tcp://HOST:8786",
        )
    if lock is not None:
        if source is not None:
            fail("give either SOURCE or --lock, not both", hint="pinlake build --lock DIR --name NAME")
        from pinlake.library.build import build_from_lock  # lazy: CLI startup

        try:
            res = build_from_lock(
                Library(library_path(library)),
                lock,
                name,
                dataset_item=item,
                mode=mode or "auto",  # type: ignore[arg-type]  # build_from_lock checks the mode
                embed=embed,
                description=description,
                flush_every_n_samples=flush_every,
                runner=runner,
                dask_address=dask_address,
                shards=shards,
            )
        except DatasetExistsError as exc:
            raise _cli_hint(exc, kind) from None
        ds = res.dataset
        if res.unchanged:
            console.print(f"[yellow]Unchanged[/] {ds.name} version {ds.version}: lock {res.lock_hash[:12]} is already built")
            return
        console.print(
            f"[green]Built[/] {ds.name} version {ds.version} from lock {res.lock_hash[:12]} ({res.mode}): "
            f"+{len(res.added)} ~{len(res.updated)} -{len(res.deleted)}; {ds.num_items} items"
            + (f"; {res.shards} shards on dask" if res.runner == "dask" else "")
        )
        console.print(f"  dataset: {ds.path}", soft_wrap=True)
        return
    if format is not None:
        if lock is not None:
            fail("give either --format or --lock, not both", hint="pinlake build FILE --format coco --images DIR --name NAME")
        if source is None or not name:
            fail(
                f"--format {format} needs the annotations (file or folder) and --name",
                hint=f"pinlake build SOURCE --format {format}" + (" --images DIR" if format == "coco" else "") + " --name NAME",
            )
        from pinlake.library.build import build_annotations  # lazy: CLI startup

        try:
            result = build_annotations(
                Library(library_path(library)),
                source,
                name,
                format=format,
                images=images,
                split=split,
                mode=mode or "create",
                description=description,
                url_prefix=url_prefix,
                embed=embed,
                lenient=lenient,
                flush_every_n_samples=flush_every,
            )
        except DatasetExistsError as exc:
            raise _cli_hint(exc, kind) from None
        ds = result.dataset
        console.print(f"[green]Built[/] {ds.name} version {ds.version} from {format} {source}: {result.samples} items", highlight=False)
        if result.skipped:
            console.print(f"[yellow]skipped {len(result.skipped)} bad annotation(s)[/] (counted in the lineage):", highlight=False)
            for message in result.skipped[:10]:
                console.print(f"  {message}", highlight=False, soft_wrap=True)
        console.print(f"  dataset: {ds.path}", soft_wrap=True)
        return
    if source is None:
        fail("missing SOURCE folder (or --lock DIR)", hint="Example: pinlake build ./assets/health_images --name health_images")
    if not name:
        fail("missing --name", hint="Example: pinlake build ./assets/health_images --name health_images")
    from pinlake.library.build import build_folder  # lazy: CLI startup

    with Progress(
        TextColumn("[bold]building[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(name, total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = build_folder(
                Library(library_path(library)),
                source,
                name,
                item=item,
                mode=mode or "create",
                description=description,
                url_prefix=url_prefix,
                embed=embed,
                flush_every_n_samples=flush_every,
                progress=progress,
            )
        except DatasetExistsError as exc:
            raise _cli_hint(exc, kind) from None
    ds = result.dataset
    console.print(f"[green]Built[/] {ds.name} version {ds.version}: {ds.num_items} items, tables {ds.state.rows}")
    console.print(f"  dataset: {ds.path}\n  stats:   {ds.path / 'stats.json'}\n  preview: {ds.preview_path}", soft_wrap=True)
