"""What the weight-decay audit costs, against one plain pass of loss gradients.

The audit (:func:`audit.steal_weight_decay` with the detector's loss) needs
the loss gradient summed over the known training data at the released weights:
one forward and backward pass per batch. Everything else it does (two dot
products per parameter tensor per batch, the scale-invariance test, per-group
solves, a 1000-replicate bootstrap, the DataFrame) should be small beside it.
The goal is at most 1.2x the plain pass.

Both run on the same model (tiny FCOS), the same batches of synthetic scenes,
the same device, in this process, interleaved for several rounds after a
warm-up round (image decoding cached, imports done); medians are compared.

    python benchmarks/audit_cost.py [--images 96] [--size 128] [--batch-size 8]
                                    [--rounds 5] [--threads 1] [--device auto] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from audit.deep.detector import DetectorBatches, detector_loss
from audit.deep.steal import steal_weight_decay
from tuner.data.dataset import DetectionDataset
from tuner.data.resolve import resolve_data
from tuner.detectors import ModelSpec, build_detector
from tuner.train.loop import resolve_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_pass(model: torch.nn.Module, batches: DetectorBatches, device: torch.device) -> float:
    """One full pass of loss gradients (zero, forward, backward per batch); seconds."""
    model.train()
    _sync(device)
    start = time.perf_counter()
    for images, targets in batches:
        images = [img.to(device) for img in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        model.zero_grad(set_to_none=True)
        detector_loss(model, (images, targets)).backward()
    _sync(device)
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return seconds


def audit_pass(
    model: torch.nn.Module, batches: DetectorBatches, device: torch.device
) -> tuple[float, float]:
    """The whole attack; returns (seconds, estimate)."""
    _sync(device)
    start = time.perf_counter()
    result = steal_weight_decay(model, detector_loss, batches, device=device)
    _sync(device)
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
    os.environ.setdefault("HYPERSEAL_CACHE", str(Path(tempfile.gettempdir()) / "hyperseal-bench"))
    splits = resolve_data("synthetic", images=args.images, size=args.size, seed=0)
    train = DetectionDataset(splits.train)
    batches = DetectorBatches(train, args.batch_size)
    torch.manual_seed(0)
    spec = ModelSpec("fcos", "tiny", args.size, tuple(splits.class_names))
    model = build_detector(spec).to(device)
    n_params = sum(p.numel() for p in model.parameters())

    plain_pass(model, batches, device)  # warm-up: decode and cache images, allocator, imports
    audit_pass(model, batches, device)
    plain: list[float] = []
    audit: list[float] = []
    for _ in range(args.rounds):
        plain.append(plain_pass(model, batches, device))
        audit.append(audit_pass(model, batches, device)[0])
    p, a = statistics.median(plain), statistics.median(audit)
    ratio = a / p
    print(
        f"tiny FCOS ({n_params:,} parameters), {batches.images} images at {args.size} px in "
        f"{len(batches)} batches of {args.batch_size}, {device}"
        + (f", {args.threads} thread(s)" if device.type == "cpu" else "")
    )
    print(f"plain loss-gradient pass  median {p:.3f} s  ({', '.join(f'{t:.3f}' for t in plain)})")
    print(f"weight-decay audit        median {a:.3f} s  ({', '.join(f'{t:.3f}' for t in audit)})")
    verdict = "met" if ratio <= 1.2 else "MISSED"
    print(f"ratio audit / plain pass  {ratio:.3f}   (goal <= 1.2: {verdict})")
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
            "ratio": ratio,
        }
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
