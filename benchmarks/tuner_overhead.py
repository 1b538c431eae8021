"""Tuner overhead: the optimizer's ask+tell time per trial against the time of a trial.

For each recommended optimizer, on the built-in detector search space at
budgets 20 and 40, a search runs through the tuner's own ``Study`` (the
de-duplicating ``Suggester`` included) with a near-free objective
(``tuner.testing.CurveObjective``: crossing noisy learning curves), so what
is timed is the optimizer alone: the seconds spent in ask and tell, divided by
the trials, median over seeds. That is set against the duration of a real
trial, measured in the same run: the tiny FCOS on synthetic scenes, default
config, one torch thread, with the benchmark's smallest trial (128 images at 64 px, 3 epochs;
``--trial-images/--trial-size/--trial-epochs`` for others). A real tuning
trial is longer (``make demo``: 500 images at 128 px, 4 epochs), so the share
printed is an upper bound. Goal: under 1 %.

    python -m benchmarks.tuner_overhead [--quick] [--seeds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from typing import Any

from benchmarks._common import machine, median, parse_with_quick, table, write_json
from benchmarks._search import BenchStudy
from tuner.search.optimizers import DEFAULT_OPTIMIZER, RECOMMENDED
from tuner.search.space import default_space
from tuner.search.study import StudySettings
from tuner.testing import CurveObjective

GOAL = 0.01
#: Optimizers whose every ask costs seconds: one seed is enough to time them.
SLOW = {"BO", "ParametrizedBO"}


def optimizers() -> list[str]:
    """Every recommended optimizer, the default first."""
    names = [n for family in RECOMMENDED.values() for n in family]
    return [DEFAULT_OPTIMIZER, *(n for n in names if n != DEFAULT_OPTIMIZER)]


def ask_tell_seconds(optimizer: str, budget: int, seed: int, epochs: int = 4) -> dict[str, float]:
    """One search on the default detector space with a near-free objective."""
    warnings.filterwarnings("ignore")
    settings = StudySettings(
        optimizer=optimizer, budget=budget, seed=seed, pruner="none", max_epochs=epochs
    )
    study = BenchStudy(CurveObjective(epochs=epochs), default_space(epochs), settings)
    start = time.perf_counter()
    result = study.run()
    total = time.perf_counter() - start
    asked = len(result.trials)
    return {
        "per_trial": study.optimizer_seconds / asked,
        # the whole search per trial: ask, tell, bookkeeping, the toy trial and the
        # importance estimate at the end (a random forest, once per search)
        "study_per_trial": total / asked,
    }


def trial_seconds(images: int, size: int, epochs: int, repeats: int) -> float:
    """Median duration of one real trial (tiny FCOS, default config) through ``run_trial``."""
    from tuner.objectives.detector_trial import DataRef, DetectorObjective
    from tuner.search.fitness import Fitness
    from tuner.search.pruning import PruneRule
    from tuner.search.trial import TrialTask, run_trial

    objective = DetectorObjective(
        DataRef("synthetic", images, size, 0), image_size=size, keep_weights=False
    )
    space = default_space(epochs)
    # One torch thread, as in a worker of a pool: steadier on a shared machine, where
    # OpenMP threads that wait for a busy core can make a trial many times slower.
    task = TrialTask(
        0, space.complete(space.defaults()), Fitness.parse("mAP"), PruneRule(), "cpu", 1
    )
    run_trial(objective, task)  # decode the data once, as a worker does for its first trial
    times = []
    for _ in range(repeats):
        result = run_trial(objective, task)
        if result.status != "ok":
            raise RuntimeError(f"the reference trial failed: {result.error}")
        times.append(result.seconds)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--slow-seeds", type=int, default=1, help="Seeds for BO (slow asks).")
    parser.add_argument("--budgets", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--trial-images", type=int, default=128)
    parser.add_argument("--trial-size", type=int, default=64)
    parser.add_argument("--trial-epochs", type=int, default=3)
    parser.add_argument("--trial-repeats", type=int, default=2)
    args = parse_with_quick(
        parser, argv, "Tiny run for tests: one seed, budget 8, a 16-image trial."
    )
    if args.quick:
        args.seeds, args.slow_seeds, args.budgets = 1, 1, [8]
        args.trial_images, args.trial_epochs, args.trial_repeats = 16, 1, 1

    trial = trial_seconds(args.trial_images, args.trial_size, args.trial_epochs, args.trial_repeats)
    rows: list[dict[str, Any]] = []
    for name in optimizers():
        for budget in args.budgets:
            seeds = args.slow_seeds if name in SLOW else args.seeds
            runs = [ask_tell_seconds(name, budget, seed) for seed in range(seeds)]
            per_trial = median(r["per_trial"] for r in runs)
            rows.append(
                {
                    "optimizer": name,
                    "budget": budget,
                    "ask_tell_ms": 1e3 * per_trial,
                    "study_ms": 1e3 * median(r["study_per_trial"] for r in runs),
                    "share": per_trial / trial,
                }
            )
    worst = max(rows, key=lambda r: r["share"])
    default = max(
        (r for r in rows if r["optimizer"] == DEFAULT_OPTIMIZER), key=lambda r: r["share"]
    )
    print(
        f"tuner overhead: ask+tell per trial on the default detector space, "
        f"median of {args.seeds} seeds ({args.slow_seeds} for BO); {machine().get('cpu', '?')}"
    )
    print(
        f"reference trial: tiny FCOS, {args.trial_images} images at {args.trial_size} px, "
        f"{args.trial_epochs} epochs, default config, 1 thread: {trial:.2f} s"
    )
    print(
        table(
            ["optimizer", "budget", "ask+tell ms/trial", "whole study ms/trial", "share of trial"],
            [
                [
                    r["optimizer"] + (" (default)" if r["optimizer"] == DEFAULT_OPTIMIZER else ""),
                    r["budget"],
                    r["ask_tell_ms"],
                    r["study_ms"],
                    f"{100 * r['share']:.3f} %",
                ]
                for r in rows
            ],
        )
    )
    print(
        f"default ({DEFAULT_OPTIMIZER}) at most {100 * default['share']:.3f} % of a trial; "
        f"costliest {worst['optimizer']} at budget {worst['budget']}: "
        f"{100 * worst['share']:.2f} %  (goal < {100 * GOAL:.0f} %)"
    )
    summary = {
        "trial_seconds": trial,
        "default_share": default["share"],
        "worst_share": worst["share"],
        "worst_optimizer": worst["optimizer"],
        "rows": rows,
    }
    write_json(args.json, summary)
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
