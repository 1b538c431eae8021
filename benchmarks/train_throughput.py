"""Training throughput: hyperseal's loop against a torchvision-reference-style loop.

Same model (tiny FCOS), same data (synthetic scenes at 128 px), same batch
size, same optimizer; the reference loop is written the way torchvision's
detection reference ``train_one_epoch`` is (DataLoader + per-sample
transforms, loss-dict reduction, ``math.isfinite`` check, warm-up scheduler,
metric logging). Both run in this process: one untimed epoch of each first
(allocator, oneDNN kernels), then ``--rounds`` rounds of one epoch of each,
back to back, the order alternating. This machine's speed drifts by tens of
percent within a minute, so each round's pair gives a ratio and the median of
those ratios is the result; the medians of images/s are printed beside it.

    python -m benchmarks.train_throughput [--images 240] [--rounds 12] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from tuner.data.dataset import DetectionDataset, collate
from tuner.data.resolve import resolve_data
from tuner.detectors import ModelSpec, build_detector
from tuner.train import TrainConfig, split_decayed, train_detector


class _ReferenceStyle(torch.utils.data.Dataset):
    """Per-sample transforms as the reference does: to float, random horizontal flip."""

    def __init__(self, base: DetectionDataset, seed: int) -> None:
        self.base = base
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image, target = self.base[i]
        image = image.float() / 255.0
        if torch.rand((), generator=self.generator) < 0.5:
            image = image.flip(-1)
            boxes = target["boxes"].clone()
            boxes[:, [0, 2]] = image.shape[-1] - target["boxes"][:, [2, 0]]
            target = {**target, "boxes": boxes}
        return image, target


def reference_epoch(
    model: torch.nn.Module, dataset: DetectionDataset, config: TrainConfig
) -> float:
    """One epoch the torchvision-reference way; returns images per second."""
    loader = torch.utils.data.DataLoader(
        _ReferenceStyle(dataset, config.seed),
        batch_size=config.batch_size,
        shuffle=True,
        collate_fn=collate,
        drop_last=True,
    )
    # The reference builds plain SGD with torch's defaults (per-tensor updates on CPU).
    decayed, plain = split_decayed(model, config.decay_norm_and_bias)
    optimizer = torch.optim.SGD(
        [
            {"params": [p for _, p in decayed], "weight_decay": config.weight_decay},
            {"params": [p for _, p in plain], "weight_decay": 0.0},
        ],
        lr=config.lr,
        momentum=config.momentum,
    )
    warmup_iters = max(1, round(config.warmup_epochs * len(loader)))
    scheduler = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=0.001, total_iters=warmup_iters
    )
    meter: dict[str, list[float]] = {}
    model.train()
    images_seen, start = 0, time.perf_counter()
    for images, targets in loader:
        images = [img for img in images]
        targets = [{k: v for k, v in t.items() if k in ("boxes", "labels")} for t in targets]
        loss_dict = model(images, targets)
        losses = sum(loss for loss in loss_dict.values())
        loss_dict_reduced = {k: v.detach() for k, v in loss_dict.items()}  # reduce_dict, 1 process
        loss_value = sum(loss_dict_reduced.values()).item()
        if not math.isfinite(loss_value):
            raise SystemExit(f"loss is {loss_value}, stopping training")
        optimizer.zero_grad()
        losses.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        for k, v in loss_dict_reduced.items():
            meter.setdefault(k, []).append(float(v))
        images_seen += len(images)
    return images_seen / (time.perf_counter() - start)


def ours_epoch(dataset: DetectionDataset, spec: ModelSpec, config: TrainConfig) -> float:
    """One epoch of ``train_detector`` (no evaluation); returns images per second."""
    result = train_detector(config.replace(epochs=1), dataset, None, spec, device="cpu")
    return result.images_per_second


def _quartiles(values: list[float]) -> tuple[float, float]:
    """First and third quartiles (both the median for fewer than two values)."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (math.nan, math.nan)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240, help="Synthetic images (an epoch).")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    splits = resolve_data("synthetic", images=args.images, size=128, seed=0)
    dataset = DetectionDataset(splits.train)
    dataset.preload()
    spec = ModelSpec("fcos", "tiny", 128, tuple(splits.train.class_names))
    config = TrainConfig(epochs=1, batch_size=8, hflip=0.5)

    def reference() -> float:
        torch.manual_seed(config.seed)
        return reference_epoch(build_detector(spec), dataset, config)

    ours_epoch(dataset, spec, config)  # warm-up, not timed
    reference()
    ours, ref = [], []
    for i in range(args.rounds):
        # Alternate which loop goes first, so neither always gets the warmer caches.
        if i % 2 == 0:
            ours.append(ours_epoch(dataset, spec, config))
            ref.append(reference())
        else:
            ref.append(reference())
            ours.append(ours_epoch(dataset, spec, config))
    ratios = [o / r for o, r in zip(ours, ref, strict=True)]
    result = {
        "ours_images_per_s": statistics.median(ours),
        "reference_images_per_s": statistics.median(ref),
        "ratio": statistics.median(ratios),
        "ratio_quartiles": _quartiles(ratios),
        "rounds": args.rounds,
    }
    low, high = result["ratio_quartiles"]
    print(
        f"training throughput, tiny FCOS, 128 px, batch 8, {torch.get_num_threads()} threads, "
        f"{args.images} images an epoch, {args.rounds} rounds"
    )
    print(f"  hyperseal loop        {result['ours_images_per_s']:8.1f} images/s (median)")
    print(f"  reference-style loop  {result['reference_images_per_s']:8.1f} images/s (median)")
    print(
        f"  ratio (goal >= 1.0)   {result['ratio']:8.2f}  median of the rounds' ratios "
        f"(quartiles {low:.2f}-{high:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
