"""Problems with signal: is a benchmark problem's fitness spread across its search space
larger than its training noise?

A search can only tell configs apart when their fitness differs by more than a
training seed moves it. For each problem we measure both:

- **noise**: three configs, each trained with ``--seeds`` training seeds (the
  seed of initialisation, shuffling and augmentation; the data stay the same):
  the default config, and the default with ``lr`` x3 and ``lr`` /3. Those two
  are the neighbours a search that starts at the default (as ``hyperseal tune``
  does, trial 0) compares it with first, and they stay in the region where
  training works: random draws often land on configs that learn nothing
  (fitness ~0 on every seed) and would understate the noise. Per config, the
  sample std over seeds; the problem's noise is the **largest** of the three
  (the pooled std, the root mean of the three variances, is reported beside it).
- **signal**: ``--configs`` configs drawn uniformly at random from the
  problem's default search space (log-uniform on log axes, uniform on the
  others and on choices; a fixed draw, ``--draw-seed``), one training seed each
  (seed 0, as in ``hyperseal tune``): the sample std and the interquartile range
  of their fitness, best and median. Every draw runs its full epochs (no
  pruning); the epochs each ran are recorded (fewer only when training diverged:
  such a config has no fitness, is left out of the spread and counted as failed).

A problem is **admissible** when signal std >= 5 x noise (``FACTOR``).

Problems (``--problems``):
  demo      the demo's setting (``hyperseal tune`` with its defaults): tiny FCOS,
            500 synthetic images at 128 px (scene seed 0), full trials of 4 epochs,
            fitness mAP (mAP@[.5:.95]), the built-in space, trained through
            ``DetectorObjective`` as the tuner does
  scene96   the same with another scene (scene seed 1) at 96 px
  demo9     the demo's setting with trials of 9 epochs (the issue's upper end)
  demo1000  the demo's setting with 1,000 images
  mlp       the benchmarks' digits MLP (3 epochs, validation accuracy), for scale

Every run's metrics are kept per epoch, so the JSON also gives the ratio for the
detector's other metrics (mAP50, mAP75, AR100) as fitness and at every epoch of
the trial (the ASHA rungs; a cosine schedule set for the full trial).

``--draw-noise`` problems (default: the MLP, whose trials take milliseconds)
also train every draw with every seed: the noise across the space, beside the
rule's noise at the default and its two neighbours.

Runs are appended to ``--runs`` (JSON lines) as they finish; a rerun with the
same file skips those already done on the same CPU model with the same versions
(``--fresh`` starts over; a run logged elsewhere runs again).

    python -m benchmarks.problem_signal [--quick] [--problems demo scene96 mlp]
        [--seeds 8] [--configs 16] [--draw-seed 2026] [--draw-noise mlp ...]
        [--runs FILE] [--fresh]
        [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks._common import (
    append_logged,
    load_logged,
    machine,
    one_thread,
    results_dir,
    shared_cache,
    table,
    write_json,
)

#: Admissible when the signal std is at least this many times the noise.
FACTOR = 5.0
#: The noise configs: the default and the default with its learning rate times these.
LR_FACTORS = (1.0, 3.0, 1.0 / 3.0)
COLUMNS = (
    "problem",
    "noise std",
    "signal std",
    "IQR",
    "ratio",
    "admissible",
    "best",
    "median",
    "s/trial",
)
DETECTOR_METRICS = ("mAP", "mAP50", "mAP75", "AR100")


@dataclass(frozen=True)
class SignalProblem:
    """A tuning problem: the detector on synthetic scenes, or the digits MLP."""

    name: str
    kind: str  # "detector" or "mlp"
    fitness: str
    epochs: int
    images: int = 500
    image_size: int = 128
    scene_seed: int = 0
    arch: str = "fcos"
    backbone: str = "tiny"
    detail: str = ""

    def key(self) -> str:
        """What makes two runs comparable (a run file may hold several settings)."""
        return json.dumps(asdict(self) | {"detail": ""}, sort_keys=True)

    def build(self, seed: int) -> tuple[Any, Any]:
        """The objective (training seed ``seed``) and the default search space."""
        if self.kind == "mlp":
            from benchmarks._objectives import MLPObjective, mlp_space

            return MLPObjective(epochs=self.epochs, seed=seed), mlp_space()
        from tuner.objectives.detector_trial import DataRef, DetectorObjective
        from tuner.search.space import default_space

        objective = DetectorObjective(  # as tuner.objectives.detector builds it, seed set
            DataRef("synthetic", self.images, self.image_size, self.scene_seed),
            arch=self.arch,
            backbone=self.backbone,
            image_size=self.image_size,
            base={"seed": seed},
            keep_weights=False,
        )
        return objective, default_space(self.epochs)


DEMO = SignalProblem(
    "demo",
    "detector",
    "mAP",
    4,
    detail="tiny FCOS, 500 synthetic images at 128 px (scene 0), 4 epochs, mAP: `make demo`",
)
PROBLEMS: dict[str, SignalProblem] = {
    p.name: p
    for p in (
        DEMO,
        replace(
            DEMO,
            name="scene96",
            image_size=96,
            scene_seed=1,
            detail="tiny FCOS, 500 synthetic images at 96 px (scene 1), 4 epochs, mAP",
        ),
        replace(DEMO, name="demo9", epochs=9, detail="the demo's setting, trials of 9 epochs"),
        replace(DEMO, name="demo1000", images=1000, detail="the demo's setting, 1,000 images"),
        SignalProblem(
            "mlp", "mlp", "accuracy", 3, detail="digits MLP, 3 epochs, validation accuracy"
        ),
    )
}
DEFAULT_PROBLEMS = ("demo", "scene96", "mlp")


def quick(problem: SignalProblem) -> SignalProblem:
    """A tiny version of ``problem`` (for the test): a few small images, one epoch."""
    if problem.kind == "mlp":
        return replace(problem, epochs=1)
    return replace(problem, images=16, image_size=64, epochs=1)


# -- the rule ---------------------------------------------------------------------------
def std(values: Sequence[float]) -> float:
    """Sample standard deviation (NaN for fewer than two values)."""
    return statistics.stdev(values) if len(values) >= 2 else float("nan")


def iqr(values: Sequence[float]) -> float:
    """Interquartile range (linear interpolation between order statistics)."""
    if len(values) < 2:
        return float("nan")
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q3 - q1


def robust_std(values: Sequence[float]) -> float:
    """1.4826 x the median absolute deviation: the std of a normal sample, blind to outliers
    (a seed whose training collapses)."""
    if len(values) < 2:
        return float("nan")
    mid = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - mid) for v in values)


def interaction_std(table_: dict[str, dict[int, float]]) -> float:
    """The noise left once each seed's shared effect is taken out (config x seed table, one
    run a cell; seeds every config has): the residual std of the additive two-way model.

    Within one search every trial trains with the same seed (``hyperseal tune``: seed 0),
    so a seed that is bad for every config moves them all alike and cannot reorder them;
    this is the part of the noise that can.
    """
    labels = list(table_)
    seeds = sorted(set.intersection(*(set(v) for v in table_.values()))) if labels else []
    if len(labels) < 2 or len(seeds) < 2:
        return float("nan")
    grand = statistics.fmean(table_[c][s] for c in labels for s in seeds)
    row = {c: statistics.fmean(table_[c][s] for s in seeds) for c in labels}
    col = {s: statistics.fmean(table_[c][s] for c in labels) for s in seeds}
    ss = sum((table_[c][s] - row[c] - col[s] + grand) ** 2 for c in labels for s in seeds)
    return math.sqrt(ss / ((len(labels) - 1) * (len(seeds) - 1)))


def noise_of(seed_stds: Sequence[float]) -> dict[str, float]:
    """The noise of a problem from its configs' seed stds: the largest (the rule's) and pooled."""
    finite = [s for s in seed_stds if s == s]
    if not finite:
        return {"max": float("nan"), "pooled": float("nan")}
    return {
        "max": max(finite),
        "pooled": math.sqrt(sum(s * s for s in finite) / len(finite)),
    }


def admissible(signal_std: float, noise_std: float, factor: float = FACTOR) -> bool:
    """Whether the fitness spread across the space is at least ``factor`` x the noise.

    No signal is never admissible; no noise with some signal is.
    """
    if not (signal_std == signal_std and noise_std == noise_std) or signal_std <= 0:
        return False
    return signal_std >= factor * noise_std


def ratio(signal_std: float, noise_std: float) -> float:
    if noise_std == 0:
        return float("inf") if signal_std > 0 else float("nan")
    return signal_std / noise_std


# -- configs ----------------------------------------------------------------------------
def noise_configs(space: Any) -> list[tuple[str, dict[str, Any]]]:
    """The default and the default with lr x3 and lr /3 (clipped to the space)."""
    lr = space["lr"]
    out = []
    for f in LR_FACTORS:
        value = min(max(float(lr.default) * f, lr.low), lr.high)
        label = "default" if f == 1.0 else (f"lr x{f:g}" if f > 1 else f"lr /{1 / f:g}")
        out.append((label, space.complete({**space.defaults(), "lr": value})))
    return out


def random_configs(space: Any, count: int, draw_seed: int) -> list[dict[str, Any]]:
    """``count`` configs drawn uniformly over the space's box (log-uniform on log axes)."""
    rng = random.Random(draw_seed)
    out = []
    for _ in range(count):
        values: dict[str, Any] = {}
        for p in space.searched:
            if p.kind == "log":
                values[p.name] = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
            elif p.kind == "float":
                values[p.name] = rng.uniform(p.low, p.high)
            elif p.kind == "int":
                values[p.name] = rng.randint(int(p.low), int(p.high))
            else:
                values[p.name] = rng.choice(p.choices)
        out.append(space.complete(values))
    return out


# -- runs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    problem: SignalProblem
    role: str  # "noise" or "signal"
    config: str  # label: "default", "lr x3", "lr /3", "draw 0", ...
    params: dict[str, Any] = field(hash=False, compare=False)
    seed: int = 0

    def ident(self) -> str:
        return json.dumps([self.problem.key(), self.role, self.config, self.seed])


def plan(
    problem: SignalProblem, seeds: int, configs: int, draw_seed: int, draw_noise: bool = False
) -> list[Run]:
    """Noise runs (seeds outer, so a cut run still has every config), then signal runs, then
    (``draw_noise``) every draw again with the other seeds: the noise across the space."""
    _, space = problem.build(0)
    noisy = noise_configs(space)
    runs = [
        Run(problem, "noise", label, params, seed)
        for seed in range(seeds)
        for label, params in noisy
    ]
    runs += [
        Run(problem, "signal", f"draw {i}", params, 0)
        for i, params in enumerate(random_configs(space, configs, draw_seed))
    ]
    if draw_noise:
        runs += [
            Run(problem, "draw-noise", r.config, r.params, seed)
            for r in runs
            if r.role == "signal"
            for seed in range(1, seeds)
        ]
    return runs


def execute(run: Run) -> dict[str, Any]:
    """Train one config with one seed; its final metrics, per-epoch history and wall time."""
    import warnings

    from tuner.errors import TrainingError
    from tuner.search.fitness import Fitness
    from tuner.search.trial import TrialContext

    warnings.filterwarnings("ignore")
    objective, _ = run.problem.build(run.seed)
    context = TrialContext(0, fitness=Fitness.parse(run.problem.fitness))
    start = time.perf_counter()
    status, metrics = "ok", {}
    try:
        metrics = dict(objective(run.params, context))
    except TrainingError as exc:  # diverged: no fitness
        status = f"failed: {type(exc).__name__}"
    seconds = time.perf_counter() - start
    return {
        "problem": run.problem.name,
        "role": run.role,
        "config": run.config,
        "seed": run.seed,
        "params": run.params,
        "status": status,
        "fitness": context.fitness(metrics) if status == "ok" else None,
        "metrics": metrics,
        "history": context.history,
        "epochs_ran": len(context.history),
        "seconds": seconds,
        "ident": run.ident(),
    }


def run_all(
    runs: Sequence[Run], log_path: Path | None, out: Any = sys.stderr
) -> list[dict[str, Any]]:
    """Every run (skipping those ``log_path`` already holds), one at a time in this process."""
    done = load_logged(log_path, "ident")
    rows, spent, fresh = [], 0.0, 0
    todo = sum(r.ident() not in done for r in runs)
    for i, run in enumerate(runs):
        if run.ident() in done:
            rows.append(done[run.ident()])
            continue
        row = execute(run)
        rows.append(row)
        fresh += 1
        spent += row["seconds"]
        if log_path is not None:
            append_logged(log_path, row)
        left = (todo - fresh) * spent / fresh
        fit = "-" if row["fitness"] is None else f"{row['fitness']:.4f}"
        print(
            f"  [{i + 1}/{len(runs)}] {row['problem']} {row['role']} {row['config']} seed "
            f"{row['seed']}: {fit} ({row['epochs_ran']} epochs, {row['seconds']:.1f} s; "
            f"~{left / 60:.0f} min left)",
            file=out,
            flush=True,
        )
    return rows


# -- analysis ---------------------------------------------------------------------------
def _value(row: dict[str, Any], metric: str | None, epoch: int | None) -> float | None:
    """A run's fitness, or another metric, at the end or at ``epoch``; None if it failed."""
    if row["status"] != "ok":
        return None
    if epoch is None:
        return row["fitness"] if metric is None else row["metrics"].get(metric)
    for h in row["history"]:
        if h["epoch"] == epoch:
            return h.get(metric or row_fitness_metric(row))
    return None


def row_fitness_metric(row: dict[str, Any]) -> str:
    """The metric a run's fitness is (the problems' fitnesses are single metrics)."""
    return PROBLEMS[row["problem"]].fitness


def analyse(
    rows: Sequence[dict[str, Any]],
    metric: str | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    """Noise, signal and the verdict of one problem's runs (fitness, or ``metric``)."""
    per_config: dict[str, list[float]] = {}
    cells: dict[str, dict[int, float]] = {}
    for r in rows:
        if r["role"] == "noise":
            v = _value(r, metric, epoch)
            if v is not None:
                per_config.setdefault(r["config"], []).append(v)
                cells.setdefault(r["config"], {})[r["seed"]] = v
    configs = {
        label: {
            "seeds": len(v),
            "mean": statistics.fmean(v),
            "median": statistics.median(v),
            "std": std(v),
            "robust_std": robust_std(v),
            "min": min(v),
            "max": max(v),
        }
        for label, v in per_config.items()
    }
    noise = noise_of([c["std"] for c in configs.values()])
    draws = [r for r in rows if r["role"] == "signal"]
    values = [v for v in (_value(r, metric, epoch) for r in draws) if v is not None]
    signal_std = std(values)
    robust = max(
        (c["robust_std"] for c in configs.values() if c["robust_std"] == c["robust_std"]),
        default=float("nan"),
    )
    default = configs.get("default", {}).get("mean", float("nan"))
    at_draws: dict[str, list[float]] = {}
    for r in rows:
        if r["role"] in ("signal", "draw-noise"):
            v = _value(r, metric, epoch)
            if v is not None:
                at_draws.setdefault(r["config"], []).append(v)
    draw_stds = [std(v) for v in at_draws.values() if len(v) >= 2]
    return {
        "noise_configs": configs,
        "noise_std": noise["max"],
        "noise_pooled_std": noise["pooled"],
        "signal_configs": len(values),
        "signal_failed": len(draws) - len(values),
        "signal_std": signal_std,
        "signal_iqr": iqr(values),
        "ratio": ratio(signal_std, noise["max"]),
        "ratio_pooled": ratio(signal_std, noise["pooled"]),
        "admissible": admissible(signal_std, noise["max"]),
        "noise_robust_std": robust,
        "noise_interaction_std": interaction_std(cells),
        "ratio_robust": ratio(signal_std, robust),
        "draws_above_default_mean": sum(v > default for v in values),
        "best": max(values) if values else float("nan"),
        "median": statistics.median(values) if values else float("nan"),
        "draw_fitness": [_value(r, metric, epoch) for r in draws],
        "draw_epochs_ran": [r["epochs_ran"] for r in draws],
        "draw_seed_stds": draw_stds,
        "draw_noise_median_std": statistics.median(draw_stds) if draw_stds else float("nan"),
        "draw_noise_max_std": max(draw_stds) if draw_stds else float("nan"),
    }


def summarise(problem: SignalProblem, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The problem's verdict, with its timings and (detector) other metrics and epochs."""
    out = {"problem": problem.name, "detail": problem.detail, "settings": asdict(problem)}
    out |= analyse(rows)
    seconds = [r["seconds"] for r in rows if r["status"] == "ok"]
    out["seconds_per_trial"] = statistics.median(seconds) if seconds else float("nan")
    out["seconds_total"] = sum(r["seconds"] for r in rows)
    out["runs"] = len(rows)
    out["signal_runs"] = sum(r["role"] == "signal" for r in rows)
    if problem.kind == "detector":
        out["by_metric"] = {m: _short(analyse(rows, metric=m)) for m in DETECTOR_METRICS}
        out["by_epoch"] = {
            str(e): _short(analyse(rows, metric=problem.fitness, epoch=e))
            for e in range(1, problem.epochs + 1)
        }
    return out


def _short(a: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "noise_std",
        "noise_pooled_std",
        "noise_interaction_std",
        "signal_std",
        "signal_iqr",
        "ratio",
        "admissible",
    )
    return {k: a[k] for k in keys} | {"best": a["best"], "median": a["median"]}


def table_rows(summaries: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            s["problem"],
            s["noise_std"],
            s["signal_std"],
            s["signal_iqr"],
            s["ratio"],
            "yes" if s["admissible"] else "no",
            s["best"],
            s["median"],
            s["seconds_per_trial"],
        ]
        for s in summaries
    ]


def detail_rows(summaries: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Other fitnesses and epochs of the detector problems (same runs)."""
    out = []
    for s in summaries:
        for kind, group in (("metric", s.get("by_metric", {})), ("epoch", s.get("by_epoch", {}))):
            for name, a in group.items():
                out.append(
                    [
                        s["problem"],
                        f"{kind} {name}",
                        a["noise_std"],
                        a["signal_std"],
                        a["signal_iqr"],
                        a["ratio"],
                        "yes" if a["admissible"] else "no",
                        a["best"],
                        a["median"],
                    ]
                )
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny problems, 2 seeds, 3 configs")
    parser.add_argument("--problems", nargs="+", choices=sorted(PROBLEMS), default=None)
    parser.add_argument("--seeds", type=int, default=None, help="training seeds per noise config")
    parser.add_argument("--configs", type=int, default=None, help="random configs for the signal")
    parser.add_argument("--draw-seed", type=int, default=2026)
    parser.add_argument(
        "--draw-noise",
        nargs="*",
        default=["mlp"],
        help="problems whose every draw also runs every seed (default: mlp, it is cheap)",
    )
    parser.add_argument("--runs", type=Path, default=None, help="JSON-lines log of the runs")
    parser.add_argument("--fresh", action="store_true", help="ignore the runs already logged")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    one_thread()
    shared_cache()
    names = args.problems or (("mlp", "demo") if args.quick else DEFAULT_PROBLEMS)
    seeds = args.seeds or (2 if args.quick else 8)
    configs = args.configs or (3 if args.quick else 16)
    problems = [quick(PROBLEMS[n]) if args.quick else PROBLEMS[n] for n in names]
    log_path = args.runs
    if log_path is None and not args.quick:
        log_path = results_dir() / "problem_signal_runs.jsonl"
    if log_path is not None and args.fresh and log_path.exists():
        log_path.unlink()
    json_path = args.json or (None if args.quick else results_dir() / "problem_signal.json")

    print(f"problem signal: {', '.join(names)}; {seeds} seeds x 3 configs, {configs} draws")
    started = time.perf_counter()
    summaries = []
    for problem in problems:
        every = problem.name in args.draw_noise
        rows = run_all(plan(problem, seeds, configs, args.draw_seed, every), log_path)
        summaries.append(summarise(problem, rows) | {"rows": rows})
    wall = time.perf_counter() - started

    print(table(COLUMNS, table_rows(summaries)))
    details = detail_rows(summaries)
    if details:
        print("\nsame runs, other fitness / fitness at each epoch of the trial:")
        print(table(("problem", "fitness", *COLUMNS[1:-1]), details))
    print(f"\nnoise: largest seed std of default, lr x3, lr /3; admissible: ratio >= {FACTOR:g}")
    trained = sum(s["seconds_total"] for s in summaries)
    print(f"wall time {wall / 60:.1f} min; {trained / 60:.1f} min of training in all its runs")
    data = {
        "command": "python -m benchmarks.problem_signal " + " ".join(argv or sys.argv[1:]),
        "seeds": seeds,
        "configs": configs,
        "draw_seed": args.draw_seed,
        "factor": FACTOR,
        "noise_rule": "largest seed std of the three noise configs",
        "wall_seconds": wall,
        "trained_seconds": sum(s["seconds_total"] for s in summaries),
        "problems": summaries,
    }
    write_json(json_path, data)
    if json_path is not None:
        print(f"wrote {json_path}")
    return data | {"machine": machine(), "table": table_rows(summaries)}


if __name__ == "__main__":
    main()
