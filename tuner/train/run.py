"""``run_training``: data in, released model folder out. What ``hyperseal train`` calls."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tuner.detectors.spec import ModelSpec
from tuner.progress import Progress
from tuner.train.config import TrainConfig
from tuner.train.loop import TrainResult, train_detector

if TYPE_CHECKING:
    from tuner.data.resolve import DataSplits

METRICS_FILE = "metrics.json"


def load_datasets(splits: DataSplits) -> tuple:
    """Training and validation ``DetectionDataset`` of resolved splits."""
    from tuner.data.dataset import DetectionDataset

    return DetectionDataset(splits.train), DetectionDataset(splits.val)


def run_training(
    data: str | Path,
    config: TrainConfig,
    out: Path,
    *,
    arch: str = "fcos",
    backbone: str = "tiny",
    image_size: int = 128,
    device: str | None = None,
    synthetic_images: int = 500,
    synthetic_seed: int = 0,
    progress: Progress | None = None,
) -> TrainResult:
    """Train on ``data`` (``"synthetic"`` or a COCO folder) and write a release to ``out``.

    ``out`` receives ``weights.safetensors``, ``manifest.json`` (architecture only)
    and ``metrics.json`` (the validation metrics only: nothing that counts the epochs).

    Raises:
        ConfigError: ``out`` already holds files (nothing is overwritten), or cannot be
            written (a file in the way, no permission).
        DataError, ModelError, TrainingError: from the steps they name.
    """
    from tuner.data.resolve import resolve_data
    from tuner.errors import OutputError
    from tuner.outputs import check_output_folder
    from tuner.plaintext import dumps
    from tuner.release import save_release
    from tuner.vault.atomic import atomic_write

    out = Path(out)
    check_output_folder(out, "output folder", if_not_empty="choose a new --out folder")
    splits = resolve_data(
        data, images=synthetic_images, size=image_size, seed=synthetic_seed, progress=progress
    )
    train_set, val_set = load_datasets(splits)
    spec = ModelSpec(arch, backbone, image_size, tuple(splits.train.class_names))
    result = train_detector(
        config, train_set, val_set, spec, device=device, eval_every=config.epochs, progress=progress
    )
    save_release(result.model, spec, out)
    # validation metrics only: no field that counts the epochs (tuner.plaintext)
    metrics = dumps("release metrics.json", result.summary())
    atomic_write(out / METRICS_FILE, metrics, error=OutputError)
    return result
