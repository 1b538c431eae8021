"""Search efficiency: best fitness found at a fixed budget, each optimizer against Optuna's TPE.

For each problem, each method and each budget (20 and 40 trials), one search
per seed runs through the tuner's own ``Study`` (trial 0 the default config, as
``hyperseal tune`` does; pruning off unless ``--pruner`` says otherwise); we
keep its best-so-far curve, in which only trials that ran to the end count.
Methods: every recommended Nevergrad optimizer (with hyperseal's budget-sized
populations), random search, configured candidates, and Optuna's TPE sampler
(the peer; Optuna's defaults: 10 random start-up trials, univariate).

Problems:
  mlp        a real cheap tuning problem: a torch MLP on scikit-learn's digits,
             3 epochs a trial, validation accuracy (6 hyperparameters, mixed)
  detector   tiny FCOS on synthetic scenes (128 images at 64 px, 3 epochs,
             fitness mAP50), fewer seeds and methods: trials cost seconds
  sphere, rastrigin   Nevergrad's ArtificialFunction(block_dimension=5) behind
             a mixed space (log, float, int, choice), fitness = -f

On mlp and the detector, the methods whose asks ignore the budget (BUDGET_FREE)
run budget 40 only and budget 20 is read from its first 20 trials: the same
search, trial for trial (--separate-budgets runs both).

Regret of a search = (best fitness any search found on that problem and seed)
minus (its own best). We print the median best, the median regret and the
ratio of each method's median regret to TPE's (below 1: better than TPE), and
write a long CSV of curves, a summary CSV and a plot of median best-so-far.

    python -m benchmarks.search_efficiency [--quick] [--problems mlp detector sphere]
        [--seeds 10] [--first-seed 0] [--detector-seeds 3] [--budgets 20 40]
        [--detector-budgets 20 40]
        [--separate-budgets] [--pruner none|asha|median] [--mlp-epochs 3]
        [--workers 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import (
    LINESTYLES,
    OKABE_ITO,
    importable,
    machine,
    median,
    one_thread,
    results_dir,
    table,
    write_json,
)
from benchmarks._search import TPE
from tuner.search.optimizers import DEFAULT_OPTIMIZER, EXPLORING, PAIR, RECOMMENDED


@dataclass(frozen=True)
class Method:
    """An optimizer as the benchmark runs it: a label, a name, options."""

    label: str
    optimizer: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)


PEER = Method("Optuna TPE", TPE)
RANDOM = Method("RandomSearch", "RandomSearch")
#: Every recommended optimizer by its plain name (the families are listed as candidates).
RECOMMENDED_METHODS = tuple(
    Method(name, name)
    for names in RECOMMENDED.values()
    for name in names
    if name in {"OnePlusOne", "DE", "TwoPointsDE", "CMA", "PSO", "NGOpt", "BO"}
)
#: Measured beside the recommended ones: the default, when it is not among them, and the
#: runner-up (docs/benchmarks.md), an earlier default: one of the default's two strategies.
RUNNER_UP = "RecombiningDiscreteLognormalOnePlusOne"
CANDIDATES: tuple[Method, ...] = tuple(
    Method(name, name)
    for name in dict.fromkeys((DEFAULT_OPTIMIZER, RUNNER_UP))
    if name not in {m.optimizer for m in RECOMMENDED_METHODS}
)
#: Further candidates of that exploration, on the cheap problems only.
MLP_CANDIDATES = tuple(
    Method(name, name)
    for name in ("RecombiningPortfolioDiscreteOnePlusOne", "PortfolioDiscreteOnePlusOne")
)
ALL_METHODS = (*RECOMMENDED_METHODS, *CANDIDATES, *MLP_CANDIDATES, RANDOM, PEER)


@dataclass(frozen=True)
class Problem:
    """A tuning problem: how to build its objective and space for a seed."""

    name: str
    fitness: str
    seeds: int
    budgets: tuple[int, ...]
    methods: tuple[Method, ...]
    detail: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    nested: bool = False
    """Cut the smaller budgets from the largest budget's searches (budget-free methods)."""
    pruner: str = "none"
    """Early stopping in each search, as ``hyperseal tune --pruner`` (none, asha, median)."""


#: Methods whose asks do not depend on the budget: with the same seed, a search of budget
#: 20 is the first 20 trials of one of budget 40, so a nested problem runs only the longer.
#: (Nevergrad's portfolio and lognormal (1+1) strategies, the pair of them and the default
#: and exploring compositions built on it, and random search never read the budget; TPE has
#: none. tests/benchmarks checks it.)
BUDGET_FREE = frozenset(
    {
        DEFAULT_OPTIMIZER,
        PAIR,
        EXPLORING,
        "RecombiningDiscreteLognormalOnePlusOne",
        "RecombiningPortfolioDiscreteOnePlusOne",
        "PortfolioDiscreteOnePlusOne",
        "RandomSearch",
        TPE,
    }
)


def build(problem: str, seed: int, settings: dict[str, Any]) -> tuple[Any, Any]:
    """Objective and space of ``problem`` for ``seed`` (built inside the worker)."""
    from benchmarks import _objectives as obj

    if problem == "mlp":
        return obj.MLPObjective(epochs=int(settings.get("epochs", 3)), seed=seed), obj.mlp_space()
    if problem == "detector":
        det = obj.DetectorSettings(**settings)
        return obj.detector_problem(det, seed)
    return obj.ArtificialObjective(problem, seed), obj.artificial_space()


@dataclass(frozen=True)
class Job:
    problem: str
    fitness: str
    settings: tuple[tuple[str, Any], ...]
    method: Method
    budget: int
    seed: int
    pruner: str = "none"


def run_job(job: Job) -> dict[str, Any]:
    """One search: returns its best-so-far curve and timings."""
    one_thread()
    import warnings

    from benchmarks._search import BenchStudy
    from tuner.search.study import StudySettings

    warnings.filterwarnings("ignore")
    settings_of_problem = dict(job.settings)
    objective, space = build(job.problem, job.seed, settings_of_problem)
    settings = StudySettings(
        optimizer=job.method.optimizer,
        optimizer_options=job.method.kwargs,
        budget=job.budget,
        seed=job.seed,
        fitness=job.fitness,
        pruner=job.pruner,
        max_epochs=int(settings_of_problem.get("epochs", 1)),
    )
    start = time.perf_counter()
    study = BenchStudy(objective, space, settings)
    result = study.run()
    seconds = time.perf_counter() - start
    fitness = [t.fitness if t.status == "ok" else float("-inf") for t in result.trials]
    curve, best = [], float("-inf")
    for value in fitness:
        best = max(best, value)
        curve.append(best)
    return {
        "problem": job.problem,
        "method": job.method.label,
        "budget": job.budget,
        "seed": job.seed,
        "curve": curve,
        "fitness": fitness,
        "seconds": seconds,
        "optimizer_seconds": study.optimizer_seconds,
        "failed": sum(t.status == "failed" for t in result.trials),
    }


def expand_nested(rows: list[dict[str, Any]], problems: Sequence[Problem]) -> list[dict[str, Any]]:
    """Add the smaller budgets' rows of nested problems, cut from the largest budget's search.

    Seconds are prorated; each cut row says ``cut_from``.
    """
    nested = {p.name: p.budgets for p in problems if p.nested}
    free = {m.label for p in problems for m in p.methods if m.optimizer in BUDGET_FREE}
    out = list(rows)
    for r in rows:
        budgets = nested.get(r["problem"], ())
        if r["method"] not in free or not budgets or r["budget"] != max(budgets):
            continue
        for b in (b for b in budgets if b < r["budget"]):
            share = b / r["budget"]
            out.append(
                {
                    **r,
                    "budget": b,
                    "curve": r["curve"][:b],
                    "fitness": r["fitness"][:b],
                    "seconds": r["seconds"] * share,
                    "cut_from": r["budget"],
                    "optimizer_seconds": r["optimizer_seconds"] * share,
                }
            )
    return out


def _cost(job: Job) -> float:
    """Rough relative cost, to start the long jobs first."""
    per_trial = {"detector": 100.0, "mlp": 1.0}.get(job.problem, 0.01)
    bo = 0.02 * job.budget if job.method.optimizer in ("BO", "ParametrizedBO") else 0.0
    return job.budget * (per_trial + bo)


def run_jobs(jobs: Sequence[Job], workers: int, log: Any = None) -> list[dict[str, Any]]:
    """Run every job, ``workers`` at a time in spawned processes (inline for 1)."""
    ordered = sorted(jobs, key=_cost, reverse=True)
    out: list[dict[str, Any]] = []
    if workers <= 1:
        for i, job in enumerate(ordered):
            out.append(run_job(job))
            _progress(log, i + 1, len(ordered), out[-1])
        return out
    import multiprocessing

    importable()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_job, job) for job in ordered]
        for i, future in enumerate(as_completed(futures)):
            out.append(future.result())
            _progress(log, i + 1, len(ordered), out[-1])
    return out


def _progress(log: Any, done: int, total: int, row: dict[str, Any]) -> None:
    if log is not None and (done % 25 == 0 or done == total or row["problem"] == "detector"):
        print(
            f"  [{done}/{total}] {row['problem']} {row['method']} budget {row['budget']} "
            f"seed {row['seed']}: best {row['curve'][-1]:.4g} in {row['seconds']:.1f} s",
            file=log,
            flush=True,
        )


# -- analysis ---------------------------------------------------------------------------
def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per problem, budget and method: median best, median regret, ratio to TPE."""
    reference: dict[tuple[str, int], float] = {}
    for r in rows:
        key = (r["problem"], r["seed"])
        reference[key] = max(reference.get(key, float("-inf")), r["curve"][-1])
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["problem"], r["budget"], r["method"]), []).append(r)
    out = []
    for (problem, budget, method), runs in groups.items():
        regrets = [reference[(problem, r["seed"])] - r["curve"][-1] for r in runs]
        out.append(
            {
                "problem": problem,
                "budget": budget,
                "method": method,
                "seeds": len(runs),
                "median_best": median(r["curve"][-1] for r in runs),
                "median_regret": median(regrets),
                "mean_regret": sum(regrets) / len(regrets),
                "median_optimizer_ms_per_trial": median(
                    1e3 * r["optimizer_seconds"] / r["budget"] for r in runs
                ),
                "median_seconds": median(r["seconds"] for r in runs),
            }
        )
    peer = {(s["problem"], s["budget"]): s for s in out if s["method"] == PEER.label}
    for s in out:
        tpe = peer.get((s["problem"], s["budget"]))
        s["regret_vs_tpe"] = _ratio(s["median_regret"], tpe["median_regret"]) if tpe else None
        s["best_minus_tpe"] = (s["median_best"] - tpe["median_best"]) if tpe else None
    return sorted(out, key=lambda s: (s["problem"], s["budget"], s["median_regret"]))


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return 1.0 if a == 0 else float("inf")
    return a / b


def at_least_tpe(summary: list[dict[str, Any]], problems: Sequence[str]) -> list[str]:
    """Methods whose median best is >= TPE's on every given problem and budget."""
    by: dict[str, list[bool]] = {}
    for s in summary:
        if s["problem"] in problems and s["best_minus_tpe"] is not None:
            by.setdefault(s["method"], []).append(s["best_minus_tpe"] >= 0)
    cells = {(s["problem"], s["budget"]) for s in summary if s["problem"] in problems}
    return sorted(m for m, ok in by.items() if len(ok) == len(cells) and all(ok))


def mean_rank(summary: list[dict[str, Any]], problems: Sequence[str]) -> dict[str, float]:
    """Mean rank (1 = lowest median regret) over the given problems and budgets."""
    ranks: dict[str, list[int]] = {}
    cells = sorted({(s["problem"], s["budget"]) for s in summary if s["problem"] in problems})
    for cell in cells:
        group = sorted(
            (s for s in summary if (s["problem"], s["budget"]) == cell),
            key=lambda s: s["median_regret"],
        )
        for rank, s in enumerate(group, start=1):
            ranks.setdefault(s["method"], []).append(rank)
    full = max((len(v) for v in ranks.values()), default=0)
    return {m: sum(v) / len(v) for m, v in ranks.items() if len(v) == full}


def write_outputs(rows: list[dict[str, Any]], summary: list[dict[str, Any]], folder: Path) -> None:
    """Curves CSV (long form), summary CSV and the best-so-far plot."""
    import pandas as pd

    long = [
        {
            "problem": r["problem"],
            "method": r["method"],
            "budget": r["budget"],
            "seed": r["seed"],
            "trial": i + 1,
            "fitness": f,
            "best_so_far": b,
        }
        for r in rows
        for i, (f, b) in enumerate(zip(r["fitness"], r["curve"], strict=True))
    ]
    pd.DataFrame(long).to_csv(folder / "search_efficiency_curves.csv", index=False)
    pd.DataFrame(summary).to_csv(folder / "search_efficiency_summary.csv", index=False)
    plot_curves(rows, folder / "search_efficiency.png")


_DEFAULT_COLOR = "#D55E00"  # vermillion


def _style(method: str, index: int) -> dict[str, Any]:
    """Line style: the peer black and dashed, the default thick, random search grey."""
    if method == PEER.label:
        return {"color": OKABE_ITO[0], "linestyle": "--", "linewidth": 2.4}
    if method == RANDOM.label:
        return {"color": "#999999", "linestyle": ":", "linewidth": 1.6}
    if method == DEFAULT_OPTIMIZER:
        return {"color": _DEFAULT_COLOR, "linestyle": "-", "linewidth": 2.8}
    colors = [c for c in OKABE_ITO[1:] if c != _DEFAULT_COLOR]
    return {
        "color": colors[index % len(colors)],
        "linestyle": LINESTYLES[(index // len(colors)) % len(LINESTYLES)],
        "linewidth": 1.3,
    }


def plot_curves(rows: list[dict[str, Any]], path: Path) -> None:
    """Median best-so-far per method, one panel per problem (largest budget's runs).

    The y axis starts where the curves have settled a little (a quarter of the
    budget in), so the differences that matter are visible.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    problems = sorted({r["problem"] for r in rows})
    methods = [m.label for m in ALL_METHODS if any(r["method"] == m.label for r in rows)]
    methods += sorted({r["method"] for r in rows} - set(methods))
    fig, axes = plt.subplots(
        1, len(problems), figsize=(4.3 * len(problems) + 3.6, 3.8), squeeze=False
    )
    others = [m for m in methods if m not in (PEER.label, RANDOM.label, DEFAULT_OPTIMIZER)]
    for ax, problem in zip(axes[0], problems, strict=True):
        budget = max(r["budget"] for r in rows if r["problem"] == problem)
        floor, top = [], []
        for method in methods:
            curves = [
                r["curve"]
                for r in rows
                if (r["problem"], r["budget"], r["method"]) == (problem, budget, method)
            ]
            if not curves:
                continue
            values = np.median(np.array(curves, dtype=float), axis=0)
            index = others.index(method) if method in others else 0
            ax.plot(np.arange(1, len(values) + 1), values, label=method, **_style(method, index))
            floor.append(values[max(0, len(values) // 4 - 1)])
            top.append(values[-1])
        if floor and np.isfinite(min(floor)) and max(top) > min(floor):
            margin = 0.05 * (max(top) - min(floor))
            ax.set_ylim(min(floor) - margin, max(top) + margin)
        ax.set_title(f"{problem} (budget {budget})")
        ax.set_xlabel("trial")
        ax.set_ylabel("median best so far (higher is better)")
        ax.grid(alpha=0.3)
    handles, labels = [], []
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 3.4 / fig.get_figwidth(), 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------
def parse_method(text: str) -> Method:
    """``NAME`` or ``NAME:key=value,key=value`` (values as JSON: numbers, strings, lists)."""
    name, _, spec = text.partition(":")
    options = []
    for item in filter(None, re.split(r",(?![^\[]*\])", spec)):
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--extra {text}: write each option as key=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.append((key.strip(), value))
    return Method(text, name, tuple(options))


def problems_for(args: argparse.Namespace) -> list[Problem]:
    methods = tuple(m for m in ALL_METHODS if not args.methods or m.label in args.methods)
    known = {m.label for m in ALL_METHODS}
    extra = tuple(parse_method(n) for n in dict.fromkeys(args.extra) if n not in known)
    methods += extra
    detector_methods = tuple(m for m in (*ALL_METHODS, *extra) if m.label in args.detector_methods)
    det = {
        "images": args.detector_images,
        "image_size": args.detector_size,
        "epochs": args.detector_epochs,
        "fitness": args.detector_fitness,
    }
    pruning = "" if args.pruner == "none" else f", pruner {args.pruner}"
    catalogue = {
        "mlp": Problem(
            "mlp",
            "accuracy",
            args.seeds,
            tuple(args.budgets),
            methods,
            f"MLP on digits, {args.mlp_epochs} epochs, validation accuracy{pruning}"
            + (" (smaller budgets: the first trials of the largest)" if args.nested else ""),
            {"epochs": args.mlp_epochs},
            nested=args.nested,
            pruner=args.pruner,
        ),
        "detector": Problem(
            "detector",
            args.detector_fitness,
            args.detector_seeds,
            tuple(args.detector_budgets),
            detector_methods,
            f"tiny FCOS, {det['images']} synthetic images at {det['image_size']} px, "
            f"{det['epochs']} epochs, {args.detector_fitness}{pruning}"
            + (" (smaller budgets: the first trials of the largest)" if args.nested else ""),
            det,
            nested=args.nested,
            pruner=args.pruner,
        ),
        "sphere": Problem(
            "sphere",
            "score",
            args.seeds,
            tuple(args.budgets),
            methods,
            "ArtificialFunction('sphere', 5), mixed space, -f",
        ),
        "rastrigin": Problem(
            "rastrigin",
            "score",
            args.seeds,
            tuple(args.budgets),
            methods,
            "ArtificialFunction('rastrigin', 5), mixed space, -f",
        ),
    }
    return [catalogue[name] for name in args.problems]


#: Optimizers whose every ask costs seconds here (see tuner_overhead.py): fewer seeds by default.
SLOW = {"BO", "ParametrizedBO"}


def jobs_for(
    problems: Sequence[Problem],
    slow_seeds: int | None = None,
    slow_problems: Sequence[str] | None = None,
    first_seed: int = 0,
) -> list[Job]:
    """Every (problem, method, budget, seed).

    ``slow_seeds`` caps the seeds of the :data:`SLOW` optimizers, and
    ``slow_problems`` (when given) limits them to those problems.
    """

    def seeds(p: Problem, m: Method) -> int:
        if m.optimizer not in SLOW:
            return p.seeds
        if slow_problems is not None and p.name not in slow_problems:
            return 0
        return min(p.seeds, slow_seeds) if slow_seeds else p.seeds

    def budgets(p: Problem, m: Method) -> tuple[int, ...]:
        return (max(p.budgets),) if p.nested and m.optimizer in BUDGET_FREE else p.budgets

    # seed by seed, so that a run cut short has every method on its first seeds
    return [
        Job(p.name, p.fitness, tuple(sorted(p.settings.items())), m, b, seed, p.pruner)
        for p in problems
        for seed in range(first_seed, first_seed + max((seeds(p, m) for m in p.methods), default=0))
        for m in p.methods
        if seed < first_seed + seeds(p, m)
        for b in budgets(p, m)
    ]


def report(summary: list[dict[str, Any]], problems: Sequence[Problem]) -> dict[str, Any]:
    """Print the tables; return the headline figures."""
    for p in problems:
        print(f"\n{p.name}: {p.detail}")
        rows = []
        for budget in p.budgets:
            for s in (s for s in summary if s["problem"] == p.name and s["budget"] == budget):
                label = s["method"] + (" (default)" if s["method"] == DEFAULT_OPTIMIZER else "")
                rows.append(
                    [
                        f"{budget}",
                        label,
                        s["seeds"],
                        s["median_best"],
                        s["median_regret"],
                        s["regret_vs_tpe"] if s["regret_vs_tpe"] is not None else float("nan"),
                        s["median_optimizer_ms_per_trial"],
                    ]
                )
        print(
            table(
                [
                    "budget",
                    "method",
                    "seeds",
                    "median best",
                    "median regret",
                    "regret / TPE's",
                    "optimizer ms/trial",
                ],
                rows,
            )
        )
    chosen = [p.name for p in problems if p.name in ("mlp", "detector")]
    ok = at_least_tpe(summary, chosen)
    ranks = mean_rank(summary, chosen)
    print(
        f"\nat least as good as TPE (median best) on {', '.join(chosen)} at every budget: "
        f"{', '.join(ok) or 'none'}"
    )
    ranking = sorted(ranks.items(), key=lambda kv: kv[1])
    print(
        "mean rank by median regret on "
        + ", ".join(chosen)
        + ": "
        + ", ".join(f"{m} {r:.1f}" for m, r in ranking)
    )
    default = {
        (s["problem"], s["budget"]): s["regret_vs_tpe"]
        for s in summary
        if s["method"] == DEFAULT_OPTIMIZER
    }
    return {
        "default": DEFAULT_OPTIMIZER,
        "at_least_tpe": ok,
        "mean_rank": dict(ranking),
        "default_regret_vs_tpe": {f"{p}@{b}": v for (p, b), v in sorted(default.items())},
    }


def _parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--problems",
        nargs="+",
        default=["mlp", "detector", "sphere"],
        choices=["mlp", "detector", "sphere", "rastrigin"],
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="Seeds run from this one on (fresh seeds to check a choice made on others).",
    )
    parser.add_argument(
        "--slow-seeds",
        type=int,
        default=None,
        help="Seeds for BO (seconds per ask here); default: as many as --seeds.",
    )
    parser.add_argument(
        "--slow-problems", nargs="+", default=None, help="Run BO on these problems only."
    )
    parser.add_argument("--methods", nargs="+", default=None, help="Only these method labels.")
    parser.add_argument(
        "--extra",
        nargs="+",
        default=[],
        help="More optimizers to measure: NAME or NAME:key=value,... (options).",
    )
    parser.add_argument("--budgets", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--detector-seeds", type=int, default=3)
    parser.add_argument("--detector-budgets", type=int, nargs="+", default=[20, 40])
    parser.add_argument(
        "--separate-budgets",
        dest="nested",
        action="store_false",
        help="Run every budget as its own search (default: on mlp and the detector, cut the "
        "smaller budgets from the largest budget's searches, for the methods whose asks "
        "ignore the budget).",
    )
    parser.add_argument("--mlp-epochs", type=int, default=3)
    parser.add_argument(
        "--pruner",
        default="none",
        choices=["none", "asha", "median"],
        help="Early stopping in the mlp and detector searches, as hyperseal tune's --pruner "
        "(default none: every trial runs to the end). A pruned trial's best-so-far counts "
        "only when it ran to the end, as in hyperseal's own best.",
    )
    parser.add_argument("--detector-images", type=int, default=128)
    parser.add_argument("--detector-epochs", type=int, default=3)
    parser.add_argument("--detector-size", type=int, default=64, help="Image size in pixels.")
    parser.add_argument(
        "--detector-fitness", default="mAP50", help="Metric maximised (hyperseal tune's: mAP)."
    )
    parser.add_argument(
        "--detector-methods",
        nargs="+",
        default=[DEFAULT_OPTIMIZER, RANDOM.label, PEER.label],
        help="Methods run on the detector (trials cost seconds); default: the default "
        "optimizer, random search and TPE.",
    )
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Tiny run for tests: 2 seeds, budgets 6 and 10, no detector.",
    )
    parser.add_argument("--out", type=Path, default=None, help="Results folder.")
    parser.add_argument("--json", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    if args.quick:
        args.seeds, args.budgets = 2, [6, 10]
        args.problems = [p for p in args.problems if p != "detector"]
    problems = problems_for(args)
    jobs = jobs_for(problems, args.slow_seeds, args.slow_problems, args.first_seed)
    info = machine()
    print(
        f"search efficiency: {len(jobs)} searches, {args.workers} processes, "
        f"{info.get('cpu', '?')}, nevergrad {info.get('nevergrad')}, Optuna {info.get('optuna')}",
        flush=True,
    )
    start = time.perf_counter()
    rows = expand_nested(run_jobs(jobs, args.workers, log=sys.stdout), problems)
    summary = summarise(rows)
    folder = results_dir(args.out)
    write_outputs(rows, summary, folder)
    headline = report(summary, problems)
    headline["seconds"] = time.perf_counter() - start
    print(
        f"\nwrote {folder}/search_efficiency_*.csv and search_efficiency.png "
        f"({headline['seconds']:.0f} s)"
    )
    write_json(args.json, {"headline": headline, "summary": summary})
    return {"headline": headline, "summary": summary}


if __name__ == "__main__":
    main(sys.argv[1:])
