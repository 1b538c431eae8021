"""Early stopping: epochs a pruned search spends to reach the best an unpruned one finds.

Random search visits the same configs whatever it is told, so a search with
pruning (ASHA, reduction 3) and one without see the same trials; the only
difference is the epochs pruning spares. For each seed, we count the epochs
each search spent until its best completed trial came within 0.01 of the
unpruned search's final best, and report the median ratio (goal <= 1/3).

Objective: ``tuner.testing.CurveObjective`` (crossing, noisy learning curves:
a larger learning rate leads early and ends lower, so early rungs mislead) by
default, with full trials of 27 epochs (about the default training recipe's
30; ASHA's rungs at epochs 1, 3 and 9) and, for comparison, of 9 epochs (rungs
1 and 3 only, where η = 3 cannot spare as much). The goal is judged on the
first ``--epochs`` value. ``--detector`` uses real tiny-FCOS training on
synthetic scenes instead (slow: minutes per seed; 6 epochs).

    python -m benchmarks.early_stopping [--seeds 10] [--budget 40] [--epochs 27 9] [--detector]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from tuner.search.study import Study, StudySettings
from tuner.search.trial import OK
from tuner.testing import CurveObjective, quadratic_space

TOLERANCE = 0.01


def epochs_to_reach(trials: list, target: float) -> int | None:  # type: ignore[type-arg]
    """Cumulative epochs (trial order) until a completed trial reaches ``target``."""
    spent = 0
    for trial in sorted(trials, key=lambda t: t.number):
        spent += trial.epochs_run
        if trial.status == OK and trial.fitness >= target:
            return spent
    return None


def run(
    seed: int, budget: int, detector: bool, reduction: int = 3, epochs: int = 27
) -> dict[str, float]:
    if detector:
        from tuner.objectives.detector_trial import DataRef, DetectorObjective
        from tuner.search.space import default_space

        epochs = 6
        objective = DetectorObjective(DataRef("synthetic", 200, 128, 0), keep_weights=False)
        space = default_space(epochs)
    else:
        objective = CurveObjective(epochs=epochs)
        space = quadratic_space().freeze({"epochs": epochs})
    results = {}
    for pruner in ("none", "asha"):
        settings = StudySettings(
            optimizer="RandomSearch",
            budget=budget,
            seed=seed,
            pruner=pruner,
            max_epochs=epochs,
            reduction=reduction,
        )
        results[pruner] = Study(objective, space, settings).run()
    best = results["none"].best.fitness
    target = best - TOLERANCE
    full = epochs_to_reach(results["none"].trials, target)
    pruned = epochs_to_reach(results["asha"].trials, target)
    return {
        "seed": seed,
        "unpruned_epochs": float(full or 0),
        "pruned_epochs": float(pruned) if pruned is not None else float("nan"),
        "ratio": (pruned / full) if pruned is not None and full else float("nan"),
        "pruned_total_epochs": float(sum(t.epochs_run for t in results["asha"].trials)),
        "unpruned_total_epochs": float(sum(t.epochs_run for t in results["none"].trials)),
    }


def _summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    reached = [r["ratio"] for r in rows if r["ratio"] == r["ratio"]]
    return {
        "median_ratio": statistics.median(reached) if reached else float("nan"),
        "reached": len(reached),
        "seeds": len(rows),
        "median_total_ratio": statistics.median(
            r["pruned_total_epochs"] / r["unpruned_total_epochs"] for r in rows
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        default=[27, 9],
        help="Full trial lengths of the curve objective; the first is judged.",
    )
    parser.add_argument("--detector", action="store_true")
    parser.add_argument("--reduction", type=int, default=3, help="ASHA reduction factor.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    lengths = [6] if args.detector else args.epochs
    runs = {
        e: [run(seed, args.budget, args.detector, args.reduction, e) for seed in range(args.seeds)]
        for e in lengths
    }
    kind = "tiny FCOS" if args.detector else "crossing noisy curves"
    print(
        f"early stopping ({kind}), random search, budget {args.budget}, {args.seeds} seeds, "
        f"ASHA reduction {args.reduction}"
    )
    print(f"  epochs to reach the unpruned best (-{TOLERANCE}), pruned / unpruned:")
    summaries = {e: _summarise(rows) for e, rows in runs.items()}
    for e, summary in summaries.items():
        print(
            f"    trials of {e:>2} epochs: median ratio {summary['median_ratio']:.2f}; "
            f"reached in {summary['reached']}/{summary['seeds']} seeds; whole-budget "
            f"epochs {summary['median_total_ratio']:.2f}"
        )
    summary = {
        **summaries[lengths[0]],
        "epochs": lengths[0],
        "by_epochs": {str(e): v for e, v in summaries.items()},
    }
    print(
        f"  goal (trials of {lengths[0]} epochs): <= 0.33; "
        f"{'met' if summary['median_ratio'] <= 1 / 3 else 'NOT met'}"
    )
    if args.json:
        out = {"summary": summary, "rows": {str(e): rows for e, rows in runs.items()}}
        args.json.write_text(json.dumps(out, indent=2))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
