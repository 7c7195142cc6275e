"""`pinlake export`: write a pinned dataset version in an annotation format."""

from __future__ import annotations

from pathlib import Path

import typer

from pinlake.cli.app import LibraryOption, app, console, echo_json, handle_errors, library_path

#: files listed after an export (the rest are counted)
SHOWN = 5


@app.command("export")
@handle_errors
def export(
    pin: str = typer.Argument(..., help="NAME, NAME@VERSION, NAME@TAG or NAME@CHANNEL to export."),
    format: str = typer.Option(
        ...,
        "--format",
        "-f",
        help="coco, yolo (Ultralytics layout), voc (Pascal VOC), hf (a Hugging Face datasets DatasetDict), parquet (every table) or pixano (what pixano data import reads).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty directory to write."),
    media: str = typer.Option("copy", "--media", help="copy the images, link them (hard links where possible) or none."),
    record_use: bool = typer.Option(False, "--record-use", help="Record the export in catalog.consumers."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
    library: Path | None = LibraryOption,
) -> None:
    """Export a dataset version as annotation files (COCO, YOLO or Pascal VOC), with its images and its provenance.

    Example: pinlake export health_by_tag@prod --format coco --out exports/coco

    Example: pinlake export scans@3 --format coco --out exports/scans --media none --record-use

    Example: pinlake export health_by_tag@prod --format hf --out exports/hf   (then datasets.load_from_disk("exports/hf"))

    Example: pinlake export shapes@2 --format yolo --out exports/yolo   (data.yaml, images/<split>, labels/<split>)

    Example: pinlake export shapes@2 --format voc --out exports/voc --media link
    """
    from pinlake.library.export import export_dataset  # lazy: CLI startup

    result = export_dataset(library_path(library), pin, format, out, media=media, record_use=record_use)
    if as_json:
        echo_json(result.to_dict())
        return
    prov = result.provenance
    console.print(f"[green]Exported[/] {prov['dataset']}@{prov['version']} as {result.format} to {result.out}", highlight=False)
    for f in result.files[:SHOWN]:
        console.print(f"  {f}", highlight=False)
    if len(result.files) > SHOWN:
        console.print(f"  … and {len(result.files) - SHOWN} more files (--json lists them all)", highlight=False)
    console.print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(result.counts.items())), highlight=False)
