"""GPU benchmark: training images/s with AMP, packing small trials on one GPU, a step's profile.

On a CUDA machine, in one script that fits in 8 minutes:

1. **Training throughput** of the tiny FCOS and of ``fasterrcnn_mobilenet_v3``
   at 320 px with automatic mixed precision (``train_detector`` turns AMP on
   by itself on CUDA), batch 16, on synthetic scenes decoded in memory, in
   both memory formats (NCHW and channels-last) side by side. Each model
   trains two warm-up epochs per format (cuDNN autotuning, allocator), then
   ``--rounds`` rounds of ``--epochs`` epochs in each format; the median
   images/s is kept, the median per-round channels-last gain, and the peak
   GPU memory.
2. **Packing**: trials per hour of small tiny-FCOS trials (128 px, 2 epochs)
   run 1, 2 and 4 at a time on the same GPU, each in its own worker process
   (what ``hyperseal tune --workers K --trials-per-gpu K`` does), through the
   tuner's own ``Study``; gain = trials per hour with K at once / with 1.
   Each pool is warmed up first (one trial per worker).

3. **Profile**: where a step of the tiny FCOS (part 1's setting) spends its
   time, one epoch under ``torch.profiler`` after a warm-up one: each part of
   the step on the host (batch, forward, loss read, backward, update), the
   device's busy time, the costliest operators (:mod:`benchmarks._profile`);
   ``--trace FILE`` also writes the Chrome trace.

A time guard skips what would not fit in ``--time-limit`` seconds (default
450) and says so in the JSON. ``--parts`` runs some of the three (e.g.
``--parts profile``, a minute). ``--smoke`` runs a tiny version on the CPU
(for the tests); its numbers mean nothing.

    python -m benchmarks.gpu [--smoke] [--parts throughput packing profile]
        [--trace FILE] [--json benchmarks/results/gpu.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks._common import (
    RESULTS_DIR,
    cuda_sync,
    importable,
    machine,
    median,
    synthetic_training,
    table,
    write_json,
)
from benchmarks._profile import profile_epoch, profile_lines
from benchmarks._search import warm_up

#: Detectors of part 1: (architecture, backbone).
MODELS = (("fcos", "tiny"), ("fasterrcnn", "mobilenet_v3"))
#: The benchmark's parts, in the order they run.
PARTS = ("throughput", "packing", "profile")


class Clock:
    """Seconds left before the time limit."""

    def __init__(self, limit: float) -> None:
        self.start = time.perf_counter()
        self.limit = limit

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.limit - self.elapsed()


def throughput(
    arch: str,
    backbone: str,
    size: int,
    images: int,
    epochs: int,
    rounds: int,
    batch: int,
    device: str,
    clock: Clock,
) -> dict[str, Any]:
    """Training images/s of one detector, in both memory formats, side by side.

    Two warm-up epochs in each format, then ``rounds`` rounds of ``epochs``
    epochs in each (the order alternating); ``images_per_second`` is the
    median of what ``train_detector`` does by default on ``device``, and
    ``channels_last_gain`` the median over rounds of NHWC/NCHW images/s.
    """
    import torch

    from tuner.train import TrainConfig, TrainResult, train_detector

    train_set, spec, config = synthetic_training(arch, backbone, size, images, batch, device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    def run(cfg: TrainConfig, nhwc: bool) -> TrainResult:
        result = train_detector(cfg, train_set, None, spec, device=device, channels_last=nhwc)
        cuda_sync()
        return result

    started = time.perf_counter()
    # two warm-up epochs in each format: the first autotunes, the second gives the pace
    steady = max(run(config.replace(epochs=2), nhwc).history[-1].seconds for nhwc in (False, True))
    warm = (time.perf_counter() - started) / 2
    speeds: dict[bool, list[float]] = {False: [], True: []}
    gains: list[float] = []
    skipped = 0
    for r in range(rounds):
        if clock.left() < 2 * 2 * steady * epochs + 5:
            skipped += 1
            continue
        order = (r % 2 == 1, r % 2 == 0)
        pair = {nhwc: run(config.replace(epochs=epochs), nhwc).images_per_second for nhwc in order}
        for nhwc, speed in pair.items():
            speeds[nhwc].append(speed)
        gains.append(pair[True] / pair[False])
    default = not device.startswith("cuda")  # train_detector's own choice on this device
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {
        "model": f"{arch}/{backbone}",
        "image_size": size,
        "batch_size": batch,
        "amp": device.startswith("cuda"),
        "channels_last_by_default": default,
        "images_per_second": median(speeds[default]),
        "runs": speeds[default],
        "nchw_images_per_second": median(speeds[False]),
        "nhwc_images_per_second": median(speeds[True]),
        "channels_last_gain": median(gains),
        "rounds_skipped": skipped,
        "warmup_seconds": warm,
        "steady_epoch_seconds": steady,
        "peak_memory_mib": peak,
    }


def packing(
    packs: list[int],
    budget: int,
    images: int,
    size: int,
    epochs: int,
    device: str,
    clock: Clock,
) -> list[dict[str, Any]]:
    """Trials per hour with K small trials at once on one device, for each K in ``packs``."""
    from benchmarks._objectives import DetectorSettings, detector_problem
    from tuner.data.resolve import resolve_data
    from tuner.search.executors import make_executor
    from tuner.search.study import Study, StudySettings

    resolve_data("synthetic", images=images, size=size, seed=0)  # generate once, before workers
    settings_ = DetectorSettings(images=images, image_size=size, epochs=epochs, fitness="mAP")
    objective, space = detector_problem(settings_, seed=0)
    space = space.freeze({"batch_size": 8})  # equal work per trial
    cores = os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    per_trial = None
    for k in packs:
        need = (per_trial or 0.0) * budget / k * 1.5 + 30
        if rows and clock.left() < need:
            rows.append({"trials_at_once": k, "skipped": "time limit"})
            continue
        executor = make_executor("processes", k)
        threads = max(1, cores // k)
        try:
            warm_up(executor, objective, space, "mAP", device, threads)
            study = Study(
                objective,
                space,
                StudySettings(
                    optimizer="RandomSearch",
                    budget=budget,
                    seed=0,
                    fitness="mAP",
                    pruner="none",
                    max_epochs=epochs,
                ),
                executor=executor,
                devices=[device] * k,
                threads=threads,
            )
            start = time.perf_counter()
            result = study.run()
            wall = time.perf_counter() - start
        except BaseException:
            executor.shutdown(cancel=True)
            raise
        failed = [t.error for t in result.trials if t.status == "failed"]
        trial_s = median(t.seconds for t in result.trials)
        per_trial = per_trial or trial_s
        rows.append(
            {
                "trials_at_once": k,
                "threads_per_trial": threads,
                "trials": len(result.trials),
                "wall_seconds": wall,
                "trials_per_hour": 3600.0 * len(result.trials) / wall,
                "median_trial_seconds": trial_s,
                "failed": len(failed),
                "first_error": failed[0] if failed else None,
            }
        )
    base = next((r["trials_per_hour"] for r in rows if r.get("trials_at_once") == 1), None)
    for r in rows:
        if base and "trials_per_hour" in r:
            r["gain"] = r["trials_per_hour"] / base
    return rows


def all_throughputs(
    args: argparse.Namespace, device: str, clock: Clock, errors: dict[str, str]
) -> list[dict[str, Any]]:
    """Part 1 for each of :data:`MODELS`; a model that fails goes to ``errors``, not up."""
    speeds: list[dict[str, Any]] = []
    for arch, backbone in MODELS:
        try:
            row = throughput(
                arch,
                backbone,
                args.size,
                args.images,
                args.epochs,
                args.rounds,
                batch=args.batch_size,
                device=device,
                clock=clock,
            )
        except Exception as exc:  # record it and go on: the JSON must still be written
            errors[f"{arch}/{backbone}"] = f"{type(exc).__name__}: {exc}"
            print(f"  {arch}/{backbone}: FAILED {errors[f'{arch}/{backbone}']}", flush=True)
            continue
        speeds.append(row)
        print(
            f"  {row['model']} at {args.size} px, batch {args.batch_size}, AMP {row['amp']}: "
            f"{row['images_per_second']:.1f} images/s (channels-last gain "
            f"{row['channels_last_gain']:.3f})",
            flush=True,
        )
    return speeds


def step_profile(
    args: argparse.Namespace,
    device: str,
    clock: Clock,
    speeds: list[dict[str, Any]],
    errors: dict[str, str],
) -> dict[str, Any] | None:
    """Part 3: the tiny FCOS's step profiled in part 1's setting; ``{"skipped": ...}`` when
    it would not fit in the time left (paced on part 1's steady epoch when there is one),
    None when it failed (the error goes to ``errors``)."""
    steady = next((s["steady_epoch_seconds"] for s in speeds if s["model"] == "fcos/tiny"), 0.0)
    if speeds and clock.left() < 6 * steady + 20:
        print("  profile: skipped (time limit)", flush=True)
        return {"skipped": "time limit"}
    try:
        row = profile_epoch(
            "fcos", "tiny", args.size, args.images, args.batch_size, device, trace=args.trace
        )
    except Exception as exc:  # record it and go on: the JSON must still be written
        errors["profile"] = f"{type(exc).__name__}: {exc}"
        print(f"  profile: FAILED {errors['profile']}", flush=True)
        return None
    print("\n".join(profile_lines(row)), flush=True)
    return row


def packing_table(packs: list[dict[str, Any]]) -> str:
    """Part 2's rows as a table (a skipped K shows dashes)."""
    nan = float("nan")
    return table(
        ["trials at once", "trials/h", "median trial s", "gain"],
        [
            [
                r["trials_at_once"],
                r.get("trials_per_hour", nan),
                r.get("median_trial_seconds", nan),
                r.get("gain", nan),
            ]
            for r in packs
        ],
    )


def _parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="Tiny CPU run (for tests).")
    parser.add_argument("--device", default=None, help="Default: cuda, or cpu with --smoke.")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--packs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--pack-budget", type=int, default=8, help="Trials per packing run.")
    parser.add_argument("--pack-images", type=int, default=200)
    parser.add_argument("--pack-size", type=int, default=128)
    parser.add_argument("--pack-epochs", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=450.0, help="Seconds (8 min max).")
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS), help="Which parts to run."
    )
    parser.add_argument("--trace", type=Path, default=None, help="Chrome trace of the profile.")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "gpu.json")
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    import torch

    if args.smoke:
        args.device = args.device or "cpu"
        args.size, args.images, args.batch_size, args.epochs, args.rounds = 64, 8, 2, 1, 1
        args.packs, args.pack_budget, args.pack_images, args.pack_size = [1, 2], 2, 8, 64
        args.pack_epochs = 1
    device = args.device or "cuda"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu.py: no CUDA device here; use --smoke for a CPU check")
    importable()
    warnings.filterwarnings("ignore")
    clock = Clock(args.time_limit)
    print(
        f"GPU benchmark on {device}"
        + (f" ({torch.cuda.get_device_name(0)})" if device.startswith("cuda") else ""),
        flush=True,
    )
    errors: dict[str, str] = {}
    speeds = all_throughputs(args, device, clock, errors) if "throughput" in args.parts else []
    packs: list[dict[str, Any]] = []
    if "packing" in args.parts:
        try:
            packs = packing(
                args.packs,
                args.pack_budget,
                args.pack_images,
                args.pack_size,
                args.pack_epochs,
                device=device,
                clock=clock,
            )
        except Exception as exc:
            errors["packing"] = f"{type(exc).__name__}: {exc}"
            print(f"  packing: FAILED {errors['packing']}", flush=True)
        print(packing_table(packs))
    profiled = None
    if "profile" in args.parts:
        profiled = step_profile(args, device, clock, speeds, errors)
    result = {
        "device": device,
        "smoke": args.smoke,
        "seconds": clock.elapsed(),
        "throughput": speeds,
        "packing": packs,
        "profile": profiled,
        "errors": errors,
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
    }
    write_json(args.json, result)
    print(f"wrote {args.json} ({clock.elapsed():.0f} s)")
    if errors:
        raise SystemExit(f"gpu.py: {len(errors)} part(s) failed: {', '.join(errors)}")
    return {"machine": machine(), **result}


if __name__ == "__main__":
    main(sys.argv[1:])
