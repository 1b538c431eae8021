"""The training loop: one function from config and data to a trained detector.

``train_detector`` builds the detector a :class:`ModelSpec` describes, trains
it with a :class:`TrainConfig` (CUDA with AMP when present, CPU otherwise),
evaluates validation mAP after each epoch and hands an :class:`EpochReport`
to ``on_epoch``, which may stop the run early (the tuner prunes weak trials
through it). It is seeded and repeatable on CPU.

Reading order: :func:`train_detector` calls :func:`_setup` (model, optimizer,
schedule), then per epoch :func:`_train_one_epoch` (which sets the learning rate
``config.lr`` times the schedule's factor and calls :func:`_optimizer_step`),
:func:`_evaluate_if_due` and :func:`_stop_requested`, and :func:`_result` at the end.

A step's parts (:data:`STEP_PARTS`) are marked for ``torch.profiler``
(``benchmarks/gpu.py --parts profile`` reads them); outside a profiler the
marks cost microseconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch.profiler import record_function

from tuner.detectors import ModelSpec, build_detector
from tuner.errors import DivergedError, TrainingError
from tuner.evaluate import evaluate_model
from tuner.progress import Progress, or_null
from tuner.train.augment import augment
from tuner.train.config import TrainConfig
from tuner.train.device import resolve_device
from tuner.train.params import build_optimizer
from tuner.train.schedule import lr_factor, schedule_for

if TYPE_CHECKING:
    from torch import nn

    from tuner.data.dataset import DetectionDataset

__all__ = [
    "STEP_MARK",
    "STEP_PARTS",
    "EpochReport",
    "OnEpoch",
    "TrainResult",
    "resolve_device",
    "train_detector",
]

#: The parts of a training step, in the order they run, each marked for ``torch.profiler``
#: as ``STEP_MARK + part``.
STEP_PARTS = ("batch", "forward", "loss_read", "backward", "update")
STEP_MARK = "hyperseal."


def _mark(part: str) -> Any:
    """A ``torch.profiler`` range around one part of the step (microseconds outside one)."""
    return record_function(STEP_MARK + part)


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
    run = _setup(config, spec, len(train_set), resolve_device(device), channels_last, progress)
    run.progress.start("training", total=run.total_steps)
    history: list[EpochReport] = []
    started = time.perf_counter()
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            train_loss = _train_one_epoch(run, train_set, epoch)
            run.train_seconds += time.perf_counter() - epoch_start
            last = epoch == config.epochs
            metrics = _evaluate_if_due(run, val_set, epoch, last, eval_every)
            seconds = time.perf_counter() - epoch_start
            history.append(EpochReport(epoch, config.epochs, train_loss, metrics, seconds))
            if _stop_requested(on_epoch, history[-1], last):
                run.stopped_early = True
                break
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(
            "out of GPU memory; lower batch_size, the image size or the trials per GPU"
        ) from None
    finally:
        run.progress.finish()
    return _result(run, spec, val_set, history, started)


@dataclass
class _Run:
    """What a run carries from one step to the next."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    generator: torch.Generator  # shuffling and augmentation
    device: torch.device
    batch: int  # images per step
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    progress: Progress
    step: int = 0  # optimisation steps done so far
    train_seconds: float = 0.0  # time in the training passes, evaluation left out
    stopped_early: bool = False


def _setup(
    config: TrainConfig,
    spec: ModelSpec,
    images: int,
    device: torch.device,
    channels_last: bool | None,
    progress: Progress | None,
) -> _Run:
    """Seeded model on ``device``, its optimizer and the step schedule of ``images`` images."""
    torch.manual_seed(config.seed)
    model = build_detector(spec).to(device)
    if channels_last is None:
        # oneDNN's convolutions run about 10 % faster on NHWC weights (the same training
        # up to float rounding): benchmarks/train_throughput.py. CUDA: benchmarks/gpu.py.
        channels_last = device.type == "cpu"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    batch = min(config.batch_size, images)
    steps_per_epoch = max(1, images // batch)  # drop the last partial batch
    total_steps, warmup_steps = schedule_for(config, steps_per_epoch)
    return _Run(
        config=config,
        model=model,
        optimizer=build_optimizer(model, config),
        scaler=torch.amp.GradScaler(device.type, enabled=device.type == "cuda"),
        generator=torch.Generator().manual_seed(config.seed),
        device=device,
        batch=batch,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        progress=or_null(progress),
    )


def _train_one_epoch(run: _Run, train_set: DetectionDataset, epoch: int) -> float:
    """One shuffled pass over the training split; returns the mean training loss.

    Raises:
        DivergedError: A loss became NaN or infinite (no update is made with it).
    """
    config = run.config
    order = torch.randperm(len(train_set), generator=run.generator).tolist()
    losses: list[float] = []
    for b in range(run.steps_per_epoch):
        factor = lr_factor(run.step, run.total_steps, run.warmup_steps, config.schedule)
        _set_lr(run.optimizer, config.lr * factor)
        indices = order[b * run.batch : (b + 1) * run.batch]
        with _mark("batch"):
            images, targets = _batch(train_set, indices, config, run.generator, run.device)
        loss = _optimizer_step(run.model, run.optimizer, run.scaler, images, targets, config)
        if not math.isfinite(loss):
            raise DivergedError(
                f"training loss became {loss} at epoch {epoch}, step {b + 1}; "
                "lower the learning rate or enable gradient clipping (grad_clip)"
            )
        losses.append(loss)
        run.step += 1
        run.progress.advance(1, epoch=epoch, loss=loss)
    return sum(losses) / len(losses)


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The learning rate of the next step, for every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def _batch(
    dataset: DetectionDataset,
    indices: list[int],
    config: TrainConfig,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """The augmented images (floats in [0, 1]) and targets of ``indices``, on ``device``."""
    images: list[torch.Tensor] = []
    targets: list[dict[str, torch.Tensor]] = []
    for i in indices:
        image, target = dataset[i]
        # uint8 to the device first (a quarter of the bytes), then augment there: on a GPU
        # the per-image work leaves the CPU (boxes stay on the CPU until the end)
        image = image.to(device, non_blocking=True).float().div_(255)
        image, target = augment(
            image,
            target,
            hflip=config.hflip,
            scale_jitter=config.scale_jitter,
            color_jitter=config.color_jitter,
            generator=generator,
        )
        images.append(image)
        targets.append({"boxes": target["boxes"].to(device), "labels": target["labels"].to(device)})
    return images, targets


def _optimizer_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    images: list[torch.Tensor],
    targets: list[dict[str, torch.Tensor]],
    config: TrainConfig,
) -> float:
    """Forward, backward, clip and update; returns the loss (no update when it is not finite)."""
    device_type = images[0].device.type
    with (
        _mark("forward"),
        torch.autocast(device_type, enabled=device_type == "cuda"),
    ):
        loss_dict = model(images, targets)
        loss = sum(loss_dict.values())
    with _mark("loss_read"):  # waits for the device's forward
        value = float(loss.detach())
    if not math.isfinite(value):
        return value
    with _mark("backward"):
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
    with _mark("update"):
        if config.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
    return value


def _evaluate_if_due(
    run: _Run, val_set: DetectionDataset | None, epoch: int, last: bool, eval_every: int
) -> dict[str, float]:
    """Validation metrics after ``epoch`` when it is due (the last one always is), else ``{}``."""
    if val_set is None or not (last or epoch % max(1, eval_every) == 0):
        return {}
    metrics = evaluate_model(run.model, val_set, run.device)
    run.model.train()
    return metrics


def _stop_requested(on_epoch: OnEpoch | None, report: EpochReport, last: bool) -> bool:
    """Whether ``on_epoch`` stops the run before its last epoch (it sees the last one too)."""
    return on_epoch is not None and bool(on_epoch(report)) and not last


def _result(
    run: _Run,
    spec: ModelSpec,
    val_set: DetectionDataset | None,
    history: list[EpochReport],
    started: float,
) -> TrainResult:
    """The finished run: weights checked, metrics of the final weights, model in eval mode."""
    _check_finite_weights(run.model)
    metrics = history[-1].metrics
    if val_set is not None and not metrics:  # stopped early on an epoch not evaluated
        metrics = evaluate_model(run.model, val_set, run.device)
    run.model.eval()
    images_seen = len(history) * run.steps_per_epoch * run.batch
    return TrainResult(
        model=run.model,
        spec=spec,
        metrics=metrics,
        history=history,
        epochs_run=len(history),
        seconds=time.perf_counter() - started,
        images_per_second=images_seen / run.train_seconds if run.train_seconds > 0 else 0.0,
        stopped_early=run.stopped_early,
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
