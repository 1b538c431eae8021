"""The training loop: one function from config and data to a trained detector.

``train_detector`` builds the detector a :class:`ModelSpec` describes, trains
it with a :class:`TrainConfig` (CUDA with AMP when present, CPU otherwise),
evaluates validation mAP after each epoch and hands an :class:`EpochReport`
to ``on_epoch``, which may stop the run early (the tuner prunes weak trials
through it). It is seeded and repeatable on CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from tuner.detectors import ModelSpec, build_detector
from tuner.errors import DivergedError, TrainingError
from tuner.evaluate import evaluate_model
from tuner.progress import Progress, or_null
from tuner.train.augment import augment
from tuner.train.config import TrainConfig
from tuner.train.params import build_optimizer
from tuner.train.schedule import lr_factor, schedule_for

if TYPE_CHECKING:
    from torch import nn

    from tuner.data.dataset import DetectionDataset


@dataclass(frozen=True)
class EpochReport:
    """What one finished epoch looked like.

    ``metrics`` holds validation mAP, mAP50, mAP75 and AR100 when the epoch
    was evaluated, and is empty otherwise.
    """

    epoch: int
    epochs: int
    train_loss: float
    metrics: dict[str, float]
    seconds: float


#: Called after every epoch; return True to stop training early.
OnEpoch = Callable[[EpochReport], "bool | None"]


@dataclass
class TrainResult:
    """A trained detector and how it got there."""

    model: nn.Module
    spec: ModelSpec
    metrics: dict[str, float]
    history: list[EpochReport] = field(default_factory=list)
    epochs_run: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0
    stopped_early: bool = False

    def summary(self) -> dict[str, Any]:
        """``metrics.json`` of the release: the validation metrics, nothing else.

        Not the epochs run, the per-epoch history or the throughput: training ran
        every epoch of the recipe, so each of them counts its epochs (the throughput
        and the time with the size of the data do too). See :mod:`tuner.plaintext`.
        """
        return {k: round(v, 6) for k, v in self.metrics.items()}


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``auto``/``None`` picks CUDA when present, else CPU; otherwise the named device."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):  # meta, mps, xpu...: not what training runs on
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {name!r} asked for, but CUDA is not available here; use cpu")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise TrainingError(
                f"unknown device {name!r}: this machine has GPUs cuda:0 to cuda:{count - 1}"
            )
    return device


def train_detector(
    config: TrainConfig,
    train_set: DetectionDataset,
    val_set: DetectionDataset | None = None,
    spec: ModelSpec | None = None,
    *,
    device: str | torch.device | None = None,
    on_epoch: OnEpoch | None = None,
    eval_every: int = 1,
    progress: Progress | None = None,
    channels_last: bool | None = None,
) -> TrainResult:
    """Train a detector on ``train_set`` and evaluate it on ``val_set``.

    Args:
        config: The hyperparameters.
        train_set: Training images and boxes.
        val_set: Validation split; evaluated every ``eval_every`` epochs and at the end.
        spec: Architecture; defaults to the tiny FCOS at 128 px on the dataset's classes.
        device: ``auto`` (default), ``cpu``, ``cuda`` or ``cuda:N``.
        on_epoch: Receives an :class:`EpochReport` per epoch; returning True stops the run.
        eval_every: Evaluate every this many epochs (the last epoch always is).
        progress: Progress sink; steps are optimisation steps.
        channels_last: Keep the model in channels-last (NHWC) memory format;
            ``None`` (default) does so on the CPU only. Same training up to
            float rounding.

    Returns:
        The trained model (in eval mode) with its final metrics and per-epoch history.

    Raises:
        DivergedError: The loss, or the weights at the end, became NaN or infinite.
        TrainingError: Out of memory, or the data cannot be trained on.
    """
    if len(train_set) == 0:
        raise TrainingError("the training split has no images; add images or check the dataset")
    spec = spec or ModelSpec(classes=tuple(train_set.split.class_names))
    dev = resolve_device(device)
    torch.manual_seed(config.seed)
    model = build_detector(spec).to(dev)
    if channels_last is None:
        # oneDNN's convolutions run about 10 % faster on NHWC weights (the same training
        # up to float rounding): benchmarks/train_throughput.py. CUDA: benchmarks/gpu.py.
        channels_last = dev.type == "cpu"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config)
    scaler = torch.amp.GradScaler(dev.type, enabled=dev.type == "cuda")
    generator = torch.Generator().manual_seed(config.seed)

    batch = min(config.batch_size, len(train_set))
    steps_per_epoch = max(1, len(train_set) // batch)  # drop the last partial batch
    total_steps, warmup_steps = schedule_for(config, steps_per_epoch)
    progress = or_null(progress)
    progress.start("training", total=total_steps)

    history: list[EpochReport] = []
    metrics: dict[str, float] = {}
    step = 0
    train_seconds = 0.0
    started = time.perf_counter()
    stopped_early = False
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            order = torch.randperm(len(train_set), generator=generator).tolist()
            losses: list[float] = []
            for b in range(steps_per_epoch):
                factor = lr_factor(step, total_steps, warmup_steps, config.schedule)
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * factor
                images, targets = _batch(train_set, order[b * batch : (b + 1) * batch], config,
                                         generator, dev)  # fmt: skip
                loss = _step(model, optimizer, scaler, images, targets, config)
                if not math.isfinite(loss):
                    raise DivergedError(
                        f"training loss became {loss} at epoch {epoch}, step {b + 1}; "
                        "lower the learning rate or enable gradient clipping (grad_clip)"
                    )
                losses.append(loss)
                step += 1
                progress.advance(1, epoch=epoch, loss=loss)
            train_seconds += time.perf_counter() - epoch_start
            last = epoch == config.epochs
            epoch_metrics: dict[str, float] = {}
            if val_set is not None and (last or epoch % max(1, eval_every) == 0):
                epoch_metrics = evaluate_model(model, val_set, dev)
                metrics = epoch_metrics
                model.train()
            report = EpochReport(epoch, config.epochs, sum(losses) / len(losses), epoch_metrics,
                                 time.perf_counter() - epoch_start)  # fmt: skip
            history.append(report)
            if on_epoch is not None and on_epoch(report) and not last:
                stopped_early = True
                break
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(
            "out of GPU memory; lower batch_size, the image size or the trials per GPU"
        ) from None
    finally:
        progress.finish()
    _check_finite_weights(model)
    if val_set is not None and not history[-1].metrics:
        metrics = evaluate_model(model, val_set, dev)
    model.eval()
    images_seen = len(history) * steps_per_epoch * batch
    return TrainResult(
        model=model,
        spec=spec,
        metrics=metrics,
        history=history,
        epochs_run=len(history),
        seconds=time.perf_counter() - started,
        images_per_second=images_seen / train_seconds if train_seconds > 0 else 0.0,
        stopped_early=stopped_early,
    )


def _check_finite_weights(model: torch.nn.Module) -> None:
    """The loss is checked before each update; the weights the last update left are checked
    here, so that a model with NaN or infinite weights is never evaluated or saved."""
    tensors = [*model.parameters(), *model.buffers()]
    if not all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point()):
        raise DivergedError(
            "the weights became NaN or infinite in the last update; lower the learning rate"
            " or enable gradient clipping (grad_clip)"
        )


def _batch(
    dataset: DetectionDataset,
    indices: list[int],
    config: TrainConfig,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images: list[torch.Tensor] = []
    targets: list[dict[str, torch.Tensor]] = []
    for i in indices:
        image, target = dataset[i]
        # uint8 to the device first (a quarter of the bytes), then augment there: on a GPU
        # the per-image work leaves the CPU (boxes stay on the CPU until the end)
        image = image.to(device, non_blocking=True).float().div_(255)
        image, target = augment(
            image, target, hflip=config.hflip, scale_jitter=config.scale_jitter,
            color_jitter=config.color_jitter, generator=generator,
        )  # fmt: skip
        images.append(image)
        targets.append({"boxes": target["boxes"].to(device), "labels": target["labels"].to(device)})
    return images, targets


def _step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    images: list[torch.Tensor],
    targets: list[dict[str, torch.Tensor]],
    config: TrainConfig,
) -> float:
    device_type = images[0].device.type
    with torch.autocast(device_type, enabled=device_type == "cuda"):
        loss_dict = model(images, targets)
        loss = sum(loss_dict.values())
    value = float(loss.detach())
    if not math.isfinite(value):
        return value
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if config.grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return value
