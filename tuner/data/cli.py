"""``hyperseal data ...``: draw the built-in synthetic scenes, check COCO folders.

Only parsing and printing live here; the work is done by :mod:`tuner.data.synth`
and :mod:`tuner.data.resolve`. Heavy imports stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tuner.cli_support import count, new_app

if TYPE_CHECKING:
    from tuner.data.coco import CocoSplit

app = new_app(
    "Datasets: draw the built-in synthetic driving scenes, check COCO folders, export them."
)


@app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Folder to write the dataset to."),
    images: int = typer.Option(500, "--images", "-n", help="Number of images."),
    size: int = typer.Option(128, "--size", "-s", help="Image side in pixels (square)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives the same files."),
    val_fraction: float = typer.Option(
        0.2, "--val-fraction", help="Share of images in the validation split."
    ),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder."),
) -> None:
    """Draw synthetic road scenes (cars, pedestrians, traffic signs) as a COCO dataset.

    Writes OUT/images/*.png and OUT/annotations/instances_{train,val}.json.
    """
    from tuner.cli_support import RichProgress
    from tuner.data.synth import CLASSES, generate_synthetic
    from tuner.outputs import check_output_folder

    advice = (
        "pass --force to write into it (files of the same names are overwritten)"
        " or choose another folder"
    )
    check_output_folder(out, "dataset folder", if_not_empty=None if force else advice)
    summary = generate_synthetic(
        out,
        images=images,
        size=size,
        seed=seed,
        val_fraction=val_fraction,
        progress=RichProgress(transient=True),
    )
    lines = [
        f"wrote {summary.images} images of {size}x{size} px to {out} "
        f"in {summary.seconds:.1f} s (seed {seed})",
        f"  train: {summary.train_images} images  {_counts(summary.train_counts, CLASSES)}",
        f"  val:   {summary.val_images} images  {_counts(summary.val_counts, CLASSES)}",
        f"  occluded objects: {summary.occluded}  truncated: {summary.truncated}  "
        f"images without objects: {summary.empty_images}",
    ]
    for path in summary.annotation_files:
        lines.append(f"  {path}")
    typer.echo("\n".join(lines))


@app.command("export-yolo")
def export_yolo(
    folder: Path = typer.Argument(..., help="COCO dataset folder (annotations/ plus images)."),
    out: Path = typer.Option(..., "--out", "-o", help="New folder for the YOLO dataset."),
) -> None:
    """Export a COCO dataset folder to the YOLO layout (images/, labels/, data.yaml).

    For training code such as Ultralytics YOLO: pass OUT/data.yaml as its data.
    """
    from tuner.data.yolo import export_yolo as export

    done = export(folder, out)
    typer.echo(
        f"wrote {done.train_images} train and {done.val_images} val images"
        f" ({count(done.objects, 'object')}, {len(done.classes)} classes) to {out}"
    )
    typer.echo(f"  {done.data_yaml}")


@app.command("check")
def check(
    folder: Path = typer.Argument(..., help="Dataset folder (annotations/ plus images)."),
) -> None:
    """Validate a COCO dataset folder and summarise it.

    Expects annotations/instances_train.json and annotations/instances_val.json, and
    the images in images/ (or train/ and val/, or train2017/ and val2017/).
    """
    from tuner.data.resolve import load_folder

    splits = load_folder(folder)
    names = splits.class_names
    lines = [f"{folder}: valid COCO detection dataset, {len(names)} classes: {', '.join(names)}"]
    for name, split in (("train", splits.train), ("val", splits.val)):
        lines.append(f"  {name + ':':6} {_describe(split)}")
        lines.append(f"         {split.annotation_file}  images in {split.images_dir}")
    typer.echo("\n".join(lines))


def _describe(split: CocoSplit) -> str:
    counts = split.counts()
    crowd = split.num_annotations - sum(counts.values())
    empty = sum(not anns for anns in split.annotations.values())
    n_images, n_objects = len(split.images), sum(counts.values())
    text = f"{count(n_images, 'image')}, {count(n_objects, 'object')} ({_counts(counts)})"
    text += f", {empty} without objects"
    if crowd:
        text += f", {crowd} crowd regions"
    return text


def _counts(counts: dict[str, int], order: tuple[str, ...] | None = None) -> str:
    keys = order if order is not None else tuple(counts)
    return " ".join(f"{k}={counts.get(k, 0)}" for k in keys)
