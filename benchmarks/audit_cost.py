"""What the weight-decay audit costs: the portfolio, one variant, one plain pass of gradients.

One attack variant (:func:`audit.steal_weight_decay` with ``portfolio=False``)
needs the loss gradient over the known training data at the released weights:
one forward and backward pass per batch. Everything else it does (three dot
products per parameter tensor per batch, the scale-invariance test, the
solves, the bootstraps, the DataFrames) should be small beside it: goal at
most 1.2x the plain pass. The whole portfolio (two random batchings in train
mode, an eval-mode pass with BatchNorm's running statistics, four solves per
view, the calibration) runs three passes: goal at most 3x one variant.

Both run on the same model (tiny FCOS), the same batches of synthetic scenes,
the same device, in this process, interleaved for several rounds after a
warm-up round (image decoding cached, imports done); medians are compared.

    python -m benchmarks.audit_cost [--images 96] [--size 128] [--batch-size 8]
                                    [--rounds 5] [--threads 1] [--device auto] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from audit.deep.detector import DetectorBatches, detector_loss
from audit.deep.steal import steal_weight_decay
from benchmarks._common import cuda_sync, shared_cache
from tuner.data.dataset import DetectionDataset
from tuner.data.resolve import resolve_data
from tuner.detectors import ModelSpec, build_detector
from tuner.train.loop import resolve_device


def plain_pass(model: torch.nn.Module, batches: DetectorBatches, device: torch.device) -> float:
    """One full pass of loss gradients (zero, forward, backward per batch); seconds."""
    model.train()
    cuda_sync(device)
    start = time.perf_counter()
    for images, targets in batches:
        images = [img.to(device) for img in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        model.zero_grad(set_to_none=True)
        detector_loss(model, (images, targets)).backward()
    cuda_sync(device)
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return seconds


def audit_pass(
    model: torch.nn.Module, batches: DetectorBatches, device: torch.device, portfolio: bool
) -> tuple[float, float]:
    """The whole attack (one variant, or the portfolio); returns (seconds, estimate)."""
    cuda_sync(device)
    start = time.perf_counter()
    result = steal_weight_decay(model, detector_loss, batches, device=device, portfolio=portfolio)
    cuda_sync(device)
    return time.perf_counter() - start, result.estimate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=96, help="Synthetic scenes (80%% train).")
    parser.add_argument("--size", type=int, default=128, help="Image size in pixels.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None, help="Also write the numbers here.")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    shared_cache()
    splits = resolve_data("synthetic", images=args.images, size=args.size, seed=0)
    train = DetectionDataset(splits.train)
    batches = DetectorBatches(train, args.batch_size)
    torch.manual_seed(0)
    spec = ModelSpec("fcos", "tiny", args.size, tuple(splits.class_names))
    model = build_detector(spec).to(device)
    n_params = sum(p.numel() for p in model.parameters())

    plain_pass(model, batches, device)  # warm-up: decode and cache images, allocator, imports
    audit_pass(model, batches, device, True)
    plain: list[float] = []
    audit: list[float] = []
    whole: list[float] = []
    for _ in range(args.rounds):
        plain.append(plain_pass(model, batches, device))
        audit.append(audit_pass(model, batches, device, False)[0])
        whole.append(audit_pass(model, batches, device, True)[0])
    p, a, w = statistics.median(plain), statistics.median(audit), statistics.median(whole)
    ratio = a / p
    portfolio_ratio = w / a
    print(
        f"tiny FCOS ({n_params:,} parameters), {batches.images} images at {args.size} px in "
        f"{len(batches)} batches of {args.batch_size}, {device}"
        + (f", {args.threads} thread(s)" if device.type == "cpu" else "")
    )
    print(f"plain loss-gradient pass  median {p:.3f} s  ({', '.join(f'{t:.3f}' for t in plain)})")
    print(f"one attack variant        median {a:.3f} s  ({', '.join(f'{t:.3f}' for t in audit)})")
    print(f"the audit's portfolio     median {w:.3f} s  ({', '.join(f'{t:.3f}' for t in whole)})")
    verdict = "met" if ratio <= 1.2 else "MISSED"
    print(f"ratio one variant / plain pass  {ratio:.3f}   (goal <= 1.2: {verdict})")
    verdict = "met" if portfolio_ratio <= 3.0 else "MISSED"
    print(f"ratio portfolio / one variant   {portfolio_ratio:.3f}   (goal <= 3: {verdict})")
    if args.json is not None:
        numbers = {
            "device": str(device),
            "threads": args.threads,
            "images": batches.images,
            "size": args.size,
            "batch_size": args.batch_size,
            "parameters": n_params,
            "plain_seconds": plain,
            "audit_seconds": audit,
            "portfolio_seconds": whole,
            "ratio": ratio,
            "portfolio_ratio": portfolio_ratio,
        }
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
