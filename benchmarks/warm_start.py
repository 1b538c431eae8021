"""Warm start on a changed dataset: does it reach the cold run's best with half the epochs?

For each pair of problems (the earlier run's data, the new data) and each seed:

1. an earlier search on the first problem, as ``hyperseal tune`` runs it
   (default optimizer, ASHA, ``--budget TRIALS``);
2. a cold search on the new problem, the same way;
3. a warm search on the new problem: the same, with the earlier search's best
   configs run first (``--warm-start``: :func:`tuner.engine.warm.warm_configs`,
   projected onto the new space, right after the default config).

Both new searches train with the seed (as does the earlier one, on its own
data). Read per seed: the epochs the cold search spent until it first found
its best (full trials only), the epochs the warm search spent until a full
trial was at least that good (never: counted as infinite), their ratio, and
both searches' best at the cold search's total spend. Goal: median ratio ≤ 0.5.

Pairs: ``mlp9``: the digits MLP (9-epoch trials) on one split of the digits,
then on another (``split_seed`` 0 → 1); ``scene``: the demo's tiny FCOS on
synthetic scene 0, then on scene 1 (other images, same size and classes).

    python -m benchmarks.warm_start [--pairs mlp9 scene] [--seeds 24] [--trials 20]
        [--workers 2] [--json OUT] [--quick]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks._common import (
    importable,
    machine,
    one_thread,
    shared_cache,
    sign_test,
    table,
    won_lost,
    write_json,
)
from benchmarks.peers import PROBLEMS, best_at
from benchmarks.problem_signal import SignalProblem

GOAL = 0.5
COLUMNS = (
    "pair",
    "seeds",
    "cold epochs to best",
    "warm epochs to it",
    "median ratio",
    "seeds <= 0.5",
    "never",
    "cold best",
    "warm best",
    "warm won",
    "lost",
    "p (sign)",
)


@dataclass(frozen=True)
class Pair:
    """An earlier run's problem and the new one."""

    name: str
    earlier: SignalProblem
    new: SignalProblem
    split_seeds: tuple[int, int] = (0, 0)  # the MLP's digits split, earlier and new


def _mlp9(split: int) -> SignalProblem:
    return replace(PROBLEMS["mlp9"], detail=f"digits split {split}")


PAIRS = {
    "mlp9": Pair("mlp9", _mlp9(0), _mlp9(1), split_seeds=(0, 1)),
    "scene": Pair(
        "scene", PROBLEMS["demo"], replace(PROBLEMS["demo"], name="scene1", scene_seed=1)
    ),
}


def _build(problem: SignalProblem, seed: int, split: int) -> tuple[Any, Any]:
    if problem.kind == "mlp":
        from benchmarks._objectives import MLPObjective, mlp_space

        return MLPObjective(epochs=problem.epochs, seed=seed, split_seed=split), mlp_space()
    return problem.build(seed)


def _search(
    problem: SignalProblem, seed: int, split: int, trials: int, enqueued: list[dict[str, Any]]
) -> list[Any]:
    from tuner.search.study import Study, StudySettings

    objective, space = _build(problem, seed, split)
    settings = StudySettings(
        budget=trials,
        seed=seed,
        fitness=problem.fitness,
        pruner="asha",
        max_epochs=problem.epochs,
        enqueued=enqueued,
    )
    return Study(objective, space, settings).run().trials


def _events(trials: Sequence[Any], epochs: int) -> list[tuple[int, float, float | None]]:
    """A search's trials as :class:`benchmarks._peers.Ledger` events: (epochs so far,
    seconds so far, fitness of a full trial or None)."""
    out, spent, seconds = [], 0, 0.0
    for t in sorted(trials, key=lambda t: t.number):
        spent += t.epochs_run
        seconds += t.seconds
        full = t.status == "ok" and t.epochs_run >= epochs
        out.append((spent, seconds, t.fitness if full else None))
    return out


def _first_reaching(events: Sequence[Sequence[Any]], level: float) -> float:
    return next((e[0] for e in events if e[2] is not None and e[2] >= level), math.inf)


def run_seed(pair: Pair, seed: int, trials: int) -> dict[str, Any]:
    """The three searches of one seed, read."""
    one_thread()
    shared_cache()
    import warnings

    from tuner.engine.warm import warm_configs, warm_start_count

    warnings.filterwarnings("ignore")
    earlier = _search(pair.earlier, seed, pair.split_seeds[0], trials, [])
    _, space = _build(pair.new, seed, pair.split_seeds[1])
    configs = warm_configs(earlier, space, warm_start_count(trials))
    epochs = pair.new.epochs
    cold = _events(_search(pair.new, seed, pair.split_seeds[1], trials, []), epochs)
    warm = _events(_search(pair.new, seed, pair.split_seeds[1], trials, configs), epochs)
    total = cold[-1][0]
    cold_best = best_at(cold, total)
    return {
        "pair": pair.name,
        "seed": seed,
        "warm_configs": len(configs),
        "cold_epochs_to_best": _first_reaching(cold, cold_best),
        "warm_epochs_to_cold_best": _first_reaching(warm, cold_best),
        "cold_best": cold_best,
        "warm_best_at_cold_spend": best_at(warm, total),
        "cold_epochs": total,
        "warm_epochs": warm[-1][0],
    }


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name in dict.fromkeys(r["pair"] for r in rows):
        mine = [r for r in rows if r["pair"] == name]
        ratios = [r["warm_epochs_to_cold_best"] / r["cold_epochs_to_best"] for r in mine]
        won, lost = won_lost(
            [r["warm_best_at_cold_spend"] for r in mine], [r["cold_best"] for r in mine]
        )
        out.append(
            {
                "pair": name,
                "seeds": len(mine),
                "cold_epochs_to_best": statistics.median(r["cold_epochs_to_best"] for r in mine),
                "warm_epochs_to_cold_best": statistics.median(
                    r["warm_epochs_to_cold_best"] for r in mine
                ),
                "median_ratio": statistics.median(ratios),
                "at_most_half": sum(x <= GOAL for x in ratios),
                "never": sum(math.isinf(x) for x in ratios),
                "cold_best": statistics.median(r["cold_best"] for r in mine),
                "warm_best": statistics.median(r["warm_best_at_cold_spend"] for r in mine),
                "won": won,
                "lost": lost,
                "p": sign_test(won, lost),
            }
        )
    return out


def table_rows(summary: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            s["pair"],
            s["seeds"],
            f"{s['cold_epochs_to_best']:.0f}",
            f"{s['warm_epochs_to_cold_best']:.0f}",
            f"{s['median_ratio']:.2f}",
            s["at_most_half"],
            s["never"],
            f"{s['cold_best']:.4g}",
            f"{s['warm_best']:.4g}",
            s["won"],
            s["lost"],
            f"{s['p']:.3g}",
        ]
        for s in summary
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="+", choices=sorted(PAIRS), default=["mlp9", "scene"])
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="the MLP pair, 2 seeds, 8 trials")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.seeds, args.trials = ["mlp9"], min(args.seeds, 2), min(args.trials, 8)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(PAIRS[p], s, args.trials) for p in args.pairs for s in seeds]
    started = time.perf_counter()
    if args.workers <= 1:
        rows = [run_seed(*job) for job in jobs]
    else:
        importable()
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
            rows = list(pool.map(run_seed, *zip(*jobs, strict=True)))
    summary = summarise(rows)
    print(table(COLUMNS, table_rows(summary)))
    print(f"{time.perf_counter() - started:.0f} s")
    out = {
        "machine": machine(),
        "argv": list(sys.argv[1:] if argv is None else argv),
        "summary": summary,
        "runs": rows,
    }
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
