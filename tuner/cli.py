"""The tuner's commands: ``data``, ``train`` and ``tune``.

Commands only parse, prompt and map errors; the work is done by public
functions in the tuner package. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from tuner.data.cli import app as data_app


def register(app: typer.Typer) -> None:
    """Add the tuner's commands to the root app."""
    app.add_typer(data_app, name="data")
    from tuner.tune_cli import tune

    app.command("train")(train)
    app.command("tune")(tune)


def train(
    data: str = typer.Option(
        "synthetic",
        "--data",
        "-d",
        help="'synthetic' or a COCO folder (annotations/instances_*.json).",
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML/JSON file of TrainConfig fields; defaults otherwise."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="New folder for the released model."),
    arch: str = typer.Option(
        "fcos", "--model", "--arch", help="fcos, retinanet, fasterrcnn or ssdlite."
    ),
    backbone: str = typer.Option("tiny", help="tiny (CPU), mobilenet_v3 or resnet50."),
    image_size: int = typer.Option(128, help="Square input size in pixels."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    images: int = typer.Option(500, help="Number of synthetic images (with --data synthetic)."),
    seed: int = typer.Option(0, help="Seed of the synthetic scenes (with --data synthetic)."),
) -> None:
    """Train one detector and write weights.safetensors, manifest.json and metrics.json."""
    from tuner.cli_support import RichProgress
    from tuner.train import TrainConfig, load_config
    from tuner.train.run import run_training

    cfg = load_config(config) if config is not None else TrainConfig()
    # transient: its epochs and steps (which give the batch size) are the recipe's, so the
    # bar is drawn on a terminal only and never left in a log (tuner.plaintext)
    result = run_training(
        data,
        cfg,
        out,
        arch=arch,
        backbone=backbone,
        image_size=image_size,
        device=device,
        synthetic_images=images,
        synthetic_seed=seed,
        progress=RichProgress(transient=True),
    )
    _print_metrics(result.metrics, result.seconds)
    typer.echo(f"model written to {out}")


def _print_metrics(metrics: dict[str, float], seconds: float) -> None:
    shown = "  ".join(f"{k}={v:.3f}" for k, v in metrics.items())
    typer.echo(f"validation: {shown}  ({seconds:.0f} s)")
