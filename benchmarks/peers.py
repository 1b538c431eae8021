"""Equal compute, pruning on: hyperseal's default against the tuners a user would otherwise pick.

What a user pays for is training, so every method gets the same number of
training epochs. For each problem and seed (the seed of the search and of the
training: every trial of one search trains with it):

1. ``hyperseal`` runs as ``hyperseal tune`` does, with ``--budget TRIALS`` (20,
   the demo's) and with twice that, pruning on (ASHA); what it spends in epochs
   is the budget of that seed: E1 and E2.
2. Every peer (random search with the same ASHA, Optuna's TPE with its
   Hyperband and successive-halving pruners, SMAC3's multi-fidelity facade; see
   :mod:`benchmarks._peers`) runs on the same problem and seed until it has
   spent E2 epochs, and is read at E1 and at E2.

The best found at E epochs is the best fitness of a trial that ran all its
epochs and had finished when the search had spent E epochs. Per problem and
budget we print each method's median best, its wins and losses against
``hyperseal`` seed by seed (ties dropped) and the two-sided sign test's p;
the median seconds it took (its wall time; trials run one at a time, two
searches side by side) and its best at ``hyperseal``'s wall time. A plot shows
the median best against epochs spent.

``--candidates NAME[:key=value,...]`` adds optimizers measured like the peers
(the tuner's loop and ASHA, trials until the default's epochs are spent): how a
candidate for the default is put against the default and the peers.
``--reference METHOD`` compares every method with that one (a candidate, say)
instead of ``hyperseal``, all still read at ``hyperseal``'s epochs.
``--default-optimizer NAME`` makes ``hyperseal`` run another optimizer than the
tuner's default (the previous default, to read the runs logged with it).

Runs go to a JSON-lines log as they finish; a rerun with the same log reuses
them (``--runs``): ``hyperseal``'s only while it runs the optimizer they ran,
any other method's also for a smaller budget; only those logged on the same CPU
model with the same versions (another machine's runs run again here, so that
a comparison never pairs two machines' searches).

    python -m benchmarks.peers [--problems mlp9 demo] [--seeds 24] [--first-seed 0]
        [--trials 20] [--methods ...] [--candidates NAME[:k=v,...] ...] [--workers 2]
        [--runs LOG] [--json OUT] [--per-seed] [--reference METHOD]
        [--default-optimizer NAME] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks._common import (
    OKABE_ITO,
    append_logged,
    importable,
    load_logged,
    machine,
    one_thread,
    results_dir,
    shared_cache,
    sign_test,
    table,
    won_lost,
    write_json,
)
from benchmarks._peers import METHODS, PEER_METHODS, Search, run_method
from benchmarks.problem_signal import PROBLEMS as SIGNAL_PROBLEMS
from benchmarks.problem_signal import SignalProblem

#: The problems: those of ``problem_signal`` and the digits MLP with trials of 9 epochs.
PROBLEMS: dict[str, SignalProblem] = {
    **SIGNAL_PROBLEMS,
    "mlp9": replace(
        SIGNAL_PROBLEMS["mlp"], name="mlp9", epochs=9, detail="digits MLP, 9 epochs, accuracy"
    ),
}
DEFAULT = "hyperseal"


def quick(problem: SignalProblem) -> SignalProblem:
    """A tiny version of ``problem`` (for the test): 3 epochs (rungs and budgets 1 and 3); a
    detector on 16 small images."""
    if problem.kind == "mlp":
        return replace(problem, epochs=3)
    return replace(problem, images=16, image_size=64, epochs=3)


COLUMNS = (
    "problem",
    "budget",
    "method",
    "epochs",
    "median best",
    "won",
    "lost",
    "p (sign)",
    "median s",
    "at equal s: won",
    "lost ",
)


@dataclass(frozen=True)
class Job:
    """One search: a method on a problem with a seed; ``trials`` for ``hyperseal``, the
    epoch budget for the others; ``optimizer``: the one ``hyperseal`` runs, when not the
    tuner's default."""

    problem: SignalProblem
    method: str
    seed: int
    trials: int = 0
    epochs: int = 0
    optimizer: str = ""

    def ident(self) -> str:
        fields: list[Any] = [self.problem.key(), self.method, self.seed, self.trials, self.epochs]
        if self.method == DEFAULT:  # a changed default never reuses the old one's runs
            fields.append(self.optimizer or default_optimizer())
        return json.dumps(fields, sort_keys=True)


def default_optimizer() -> str:
    """The optimizer ``hyperseal`` runs: the tuner's default."""
    from tuner.search.optimizers import DEFAULT_OPTIMIZER

    return DEFAULT_OPTIMIZER


def reusable(done: dict[str, dict[str, Any]], job: Job) -> dict[str, Any] | None:
    """A logged run that answers ``job``: its own, or, for any method but ``hyperseal``, a
    run of the same search with a budget at least ``job``'s. Such a method asks the same
    trials whatever its budget (the budget only stops it), so a longer run's events up to
    ``job.epochs`` are those ``job`` would log."""
    if job.ident() in done or job.method == DEFAULT:
        return done.get(job.ident())
    search = json.loads(job.ident())[:3]  # problem, method, seed
    same = [
        row
        for row in done.values()
        if json.loads(row["id"])[:3] == search and row["budget"] >= job.epochs
    ]
    return min(same, key=lambda row: row["budget"], default=None)


def execute(job: Job) -> dict[str, Any]:
    """Run one search (in a worker process); its ledger as a log row."""
    one_thread()
    shared_cache()
    import warnings

    warnings.filterwarnings("ignore")
    objective, space = job.problem.build(job.seed)
    search = Search(objective, space, job.problem.fitness, job.problem.epochs, job.seed)
    ledger = run_method(job.method, search, job.epochs, job.trials, job.optimizer)
    return {
        "id": job.ident(),
        "problem": job.problem.name,
        "method": job.method,
        "seed": job.seed,
        "trials": job.trials,
        "budget": job.epochs,
        "events": ledger.events,
    }


# -- reading a search -------------------------------------------------------------------
def best_at(events: Sequence[Sequence[Any]], epochs: float, index: int = 0) -> float:
    """Best full-trial fitness among trials finished by ``epochs`` (index 0) or by that
    many seconds (index 1); -inf when none."""
    found = [e[2] for e in events if e[2] is not None and e[index] <= epochs]
    return max(found, default=float("-inf"))


def spent(events: Sequence[Sequence[Any]]) -> tuple[int, float]:
    """Epochs and seconds a search spent in all."""
    return (int(events[-1][0]), float(events[-1][1])) if events else (0, 0.0)


def seconds_at(events: Sequence[Sequence[Any]], epochs: float) -> float:
    """Seconds a search took to spend ``epochs`` (the end of the trial that reached them)."""
    return next((float(e[1]) for e in events if e[0] >= epochs), spent(events)[1])


def by_seed(
    rows: Sequence[dict[str, Any]], problem: str, method: str, trials: int = 0
) -> dict[int, dict[str, Any]]:
    """``method``'s runs on ``problem`` by seed (``hyperseal``'s: those with ``trials``
    trials)."""
    return {
        r["seed"]: r
        for r in rows
        if r["problem"] == problem
        and r["method"] == method
        and (method != DEFAULT or r["trials"] == trials)
    }


def compare(
    rows: Sequence[dict[str, Any]],
    problem: str,
    trials: int,
    method: str,
    reference: str = DEFAULT,
) -> dict[str, Any] | None:
    """``method`` against ``reference`` (by default ``hyperseal`` with ``trials`` trials),
    both read at the epochs ``hyperseal`` spent with ``trials`` trials, seed by seed."""
    ours, theirs, base = (by_seed(rows, problem, m, trials) for m in (DEFAULT, method, reference))
    seeds = sorted(set(ours) & set(theirs) & set(base))
    if not seeds:
        return None
    mine, other, other_s, epochs, seconds = [], [], [], [], []
    for seed in seeds:
        e = spent(ours[seed]["events"])[0]
        s = seconds_at(base[seed]["events"], e)
        mine.append(best_at(base[seed]["events"], e))
        other.append(best_at(theirs[seed]["events"], e))
        other_s.append(best_at(theirs[seed]["events"], s, index=1))
        epochs.append(e)
        seconds.append(seconds_at(theirs[seed]["events"], e))
    won, lost = won_lost(other, mine)
    won_s, lost_s = won_lost(other_s, mine)
    return {
        "problem": problem,
        "trials": trials,
        "method": method,
        "reference": reference,
        "seeds": len(seeds),
        "epochs": statistics.median(epochs),
        "median_best": statistics.median(other),
        "won": won,
        "lost": lost,
        "p": sign_test(won, lost),
        "median_seconds": statistics.median(seconds),
        "won_at_equal_seconds": won_s,
        "lost_at_equal_seconds": lost_s,
        "p_at_equal_seconds": sign_test(won_s, lost_s),
    }


def per_seed(rows: Sequence[dict[str, Any]], problem: str, trials: int) -> list[dict[str, Any]]:
    """Seed by seed, at the epochs ``hyperseal`` spent with ``trials`` trials: every
    method's best (None where it has no run for that seed) and the gain of ``hyperseal``'s
    best over its trial 0, the default config (None when trial 0 did not run to the end)."""
    ours = by_seed(rows, problem, DEFAULT, trials)
    others = {m: by_seed(rows, problem, m) for m in methods_of(rows) if m != DEFAULT}
    out = []
    for seed in sorted(ours):
        events = ours[seed]["events"]
        epochs = spent(events)[0]
        best: dict[str, float | None] = {DEFAULT: best_at(events, epochs)}
        for method, runs in others.items():
            best[method] = best_at(runs[seed]["events"], epochs) if seed in runs else None
        first = events[0][2] if events else None
        gain = None if first is None else best[DEFAULT] - first
        out.append({"seed": seed, "epochs": epochs, "best": best, "gain": gain})
    return out


def per_seed_table(seeds: Sequence[dict[str, Any]]) -> str:
    """:func:`per_seed` as a plain table (``-``: no run)."""
    methods = list(seeds[0]["best"]) if seeds else [DEFAULT]

    def cell(value: float | None) -> Any:
        return "-" if value is None else round(value, 4)

    rows = [
        [s["seed"], s["epochs"], *(cell(s["best"][m]) for m in methods), cell(s["gain"])]
        for s in seeds
    ]
    return table(["seed", "epochs", *methods, "gain over trial 0"], rows)


def methods_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The methods in ``rows``: the standard ones in their order, then candidates."""
    present = dict.fromkeys(r["method"] for r in rows)
    return [m for m in METHODS if m in present] + [m for m in present if m not in METHODS]


def summarise(
    rows: Sequence[dict[str, Any]],
    problems: Sequence[str],
    budgets: Sequence[int],
    reference: str = DEFAULT,
) -> list[dict[str, Any]]:
    """Every method against ``reference`` (``won``: the method beat it on that seed)."""
    out = []
    for problem in problems:
        for trials in budgets:
            for method in methods_of(rows):
                found = compare(rows, problem, trials, method, reference)
                if found is not None:
                    out.append(found)
    return out


def table_rows(summary: Sequence[dict[str, Any]]) -> list[list[Any]]:
    def cell(s: dict[str, Any], key: str) -> Any:
        return "-" if s["method"] == s["reference"] else s[key]

    return [
        [
            s["problem"],
            f"{s['trials']} trials",
            s["method"],
            f"{s['epochs']:.0f}",
            f"{s['median_best']:.4g}",
            cell(s, "won"),
            cell(s, "lost"),
            "-" if s["method"] == s["reference"] else f"{s['p']:.3g}",
            f"{s['median_seconds']:.0f}",
            cell(s, "won_at_equal_seconds"),
            cell(s, "lost_at_equal_seconds"),
        ]
        for s in summary
    ]


# -- the plot ---------------------------------------------------------------------------
def curve(events: Sequence[Sequence[Any]], grid: Sequence[int]) -> list[float]:
    return [best_at(events, e) for e in grid]


def plotted(
    rows: Sequence[dict[str, Any]], problem: str, trials: int
) -> tuple[dict[str, dict[int, dict[str, Any]]], set[int]]:
    """The searches a curve is drawn from, method -> seed -> run (``hyperseal``'s with twice
    ``trials``), and the seeds every method ran, which the curves take the median over (as
    the tables pair seeds)."""
    searches = {m: by_seed(rows, problem, m, 2 * trials) for m in methods_of(rows)}
    searches = {m: runs for m, runs in searches.items() if runs}
    paired = set.intersection(*map(set, searches.values())) if searches else set()
    return searches, paired


def legend_names(methods: Sequence[str], optimizer: str = "") -> dict[str, str]:
    """Each method's label in the plot's legend: a candidate's options on lines of their
    own; ``hyperseal`` names its optimizer when it runs another than the tuner's default."""
    names = {m: m.replace(":", "\n  ") for m in methods}
    if DEFAULT in names and optimizer and optimizer != default_optimizer():
        names[DEFAULT] = f"{DEFAULT} with\n  {optimizer}"
    return names


def plot(
    rows: Sequence[dict[str, Any]],
    problems: Sequence[str],
    trials: int,
    path: Path,
    optimizer: str = "",
) -> None:
    """Median best (over the seeds every method ran) against epochs spent, one panel per
    problem; the dotted lines mark ``hyperseal``'s median spend at ``trials`` and twice that.
    ``optimizer``: the one ``hyperseal`` ran, when not the tuner's default."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = legend_names(methods_of(rows), optimizer)
    longest = max((len(line) for t in names.values() for line in t.split("\n")), default=0)
    legend = max(2.2, 0.07 * longest)
    fig, axes = plt.subplots(
        1, len(problems), figsize=(5 * len(problems) + legend + 0.2, 3.8), squeeze=False
    )
    for ax, problem in zip(axes[0], problems, strict=True):
        searches, paired = plotted(rows, problem, trials)
        mine = [
            r
            for r in rows
            if r["problem"] == problem and r["method"] == DEFAULT and r["seed"] in paired
        ]
        marks = {
            t: statistics.median(spent(r["events"])[0] for r in mine if r["trials"] == t)
            for t in (trials, 2 * trials)
            if any(r["trials"] == t for r in mine)
        }
        top = int(max(marks.values(), default=1))
        grid = list(range(1, top + 1))
        for i, method in enumerate(methods_of(rows)):
            runs = [r for seed, r in searches.get(method, {}).items() if seed in paired]
            if not runs:
                continue
            values = np.median(np.array([curve(r["events"], grid) for r in runs]), axis=0)
            values[~np.isfinite(values)] = np.nan
            style = {"linewidth": 2.8} if method == DEFAULT else {"linewidth": 1.4}
            color = OKABE_ITO[i % len(OKABE_ITO)]
            ax.plot(grid, values, label=names[method], color=color, **style)
        for mark in marks.values():
            ax.axvline(mark, color="#999999", linestyle=":", linewidth=1)
        ax.set_title(f"{problem} ({len(paired)} seeds)")
        ax.set_xlabel("epochs trained")
        ax.set_ylabel(f"median best {PROBLEMS[problem].fitness}")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - legend / fig.get_figwidth(), 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- running ----------------------------------------------------------------------------
def warm_worker() -> None:
    """Imports and the digits loaded before any search starts, so that no method's wall
    time pays a worker's start-up."""
    one_thread()
    import optuna  # noqa: F401
    import smac  # noqa: F401

    from benchmarks._objectives import _digits
    from tuner.search.study import Study  # noqa: F401

    _digits(0)


def run_all(
    problems: Sequence[SignalProblem],
    seeds: Sequence[int],
    trials: int,
    methods: Sequence[str],
    workers: int,
    log: Path | None,
    default: str = "",
) -> list[dict[str, Any]]:
    """Every search, seed by seed (so that a run cut short leaves whole seeds): a seed's two
    ``hyperseal`` runs (with ``default``, when given, instead of the tuner's default), then
    its peers, which run to the larger of the two spends."""
    done = load_logged(log, "id")
    rows: list[dict[str, Any]] = []
    queue = [
        Job(p, DEFAULT, s, trials=t, optimizer=default)
        for s in seeds
        for p in problems
        for t in (trials, 2 * trials)
    ]
    order = {(p.name, s): i for i, (s, p) in enumerate((s, p) for s in seeds for p in problems)}
    spends: dict[tuple[str, int], list[int]] = {}

    def finished(job: Job, row: dict[str, Any]) -> None:
        rows.append(row)
        if job.method != DEFAULT:
            return
        budgets = spends.setdefault((job.problem.name, job.seed), [])
        budgets.append(spent(row["events"])[0])
        if len(budgets) == 2:
            queue.extend(
                Job(job.problem, m, job.seed, epochs=max(budgets)) for m in methods if m != DEFAULT
            )
            queue.sort(key=lambda j: (order[(j.problem.name, j.seed)], j.method != DEFAULT))

    started = time.perf_counter()
    if workers <= 1:  # in this process, one search at a time
        warm_worker()
        while queue:
            job = queue.pop(0)
            row = reusable(done, job)
            if row is None:
                row = _logged(execute(job), log)
                _progress(job, row, time.perf_counter() - started)
            finished(job, row)
        return rows
    importable()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, workers), mp_context=context, initializer=warm_worker) as pool:
        pending: dict[Future[dict[str, Any]], Job] = {}
        while queue or pending:
            while queue and len(pending) < max(1, workers):
                job = queue.pop(0)
                row = reusable(done, job)
                if row is not None:
                    finished(job, row)
                else:
                    pending[pool.submit(execute, job)] = job
            if not pending:
                continue
            ready, _ = wait(list(pending), return_when="FIRST_COMPLETED")
            for future in ready:
                job = pending.pop(future)
                row = _logged(future.result(), log)
                _progress(job, row, time.perf_counter() - started)
                finished(job, row)
    return rows


def _logged(row: dict[str, Any], log: Path | None) -> dict[str, Any]:
    if log is not None:
        append_logged(log, row)
    return row


def _progress(job: Job, row: dict[str, Any], seconds: float) -> None:
    e, s = spent(row["events"])
    print(
        f"  {job.problem.name} {job.method} seed {job.seed}: {e} epochs, "
        f"best {best_at(row['events'], e):.4g}, {s:.0f} s ({seconds:.0f} s in)",
        flush=True,
    )


def _check_candidate(parser: argparse.ArgumentParser, text: str, option: str) -> None:
    """A candidate the tuner cannot build is an error before anything runs."""
    from benchmarks._peers import parse_candidate
    from tuner.errors import ConfigError
    from tuner.search.optimizers import make_optimizer
    from tuner.search.space import default_space

    name, options = parse_candidate(text)
    try:
        make_optimizer(name, default_space(4).parametrization(seed=0), 40, 1, options)
    except ConfigError as exc:
        parser.error(f"{option} {text}: {exc}")


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", choices=sorted(PROBLEMS), default=["mlp9", "demo"])
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=20, help="hyperseal's --budget (and 2x)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--candidates",
        nargs="+",
        default=[],
        metavar="NAME[:key=value,...]",
        help="optimizers to measure like the peers (trials until the default's epochs are spent), "
        "e.g. ExploringDualRecombiningDiscreteLognormalOnePlusOne:patience=1,every=2",
    )
    parser.add_argument(
        "--reference",
        default=DEFAULT,
        metavar="METHOD",
        help="the method the others are compared with, seed by seed (default: hyperseal; "
        "every method is still read at hyperseal's epochs)",
    )
    parser.add_argument(
        "--default-optimizer",
        default="",
        metavar="NAME",
        help="the optimizer hyperseal runs (default: the tuner's default), e.g. "
        "DualRecombiningDiscreteLognormalOnePlusOne, the default until 2026-12-07",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=None, help="JSON-lines log of runs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument(
        "--per-seed", action="store_true", help="also print each seed's best, method by method"
    )
    parser.add_argument("--quick", action="store_true", help="tiny problems, 2 seeds, 4 trials")
    args = parser.parse_args(argv)
    if DEFAULT not in args.methods:
        parser.error("--methods must include hyperseal (everything is measured against it)")
    for candidate in args.candidates:
        _check_candidate(parser, candidate, "--candidates")
    if args.default_optimizer:
        if ":" in args.default_optimizer:
            parser.error("--default-optimizer takes a name without options; see --candidates")
        _check_candidate(parser, args.default_optimizer, "--default-optimizer")
    args.methods = [*args.methods, *args.candidates]
    if args.reference not in args.methods:
        parser.error(f"--reference {args.reference}: not among --methods or --candidates")
    if args.quick:
        args.seeds, args.trials = min(args.seeds, 2), min(args.trials, 4)
    problems = [quick(PROBLEMS[n]) if args.quick else PROBLEMS[n] for n in args.problems]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    folder = results_dir()
    log = args.runs or (None if args.quick else folder / "peers_runs.jsonl")
    started = time.perf_counter()
    rows = run_all(
        problems, seeds, args.trials, args.methods, args.workers, log, args.default_optimizer
    )
    names = [p.name for p in problems]
    summary = summarise(rows, names, (args.trials, 2 * args.trials), args.reference)
    print(table(COLUMNS, table_rows(summary)))
    by_seed = {
        f"{name} {t}": per_seed(rows, name, t)
        for name in names
        for t in (args.trials, 2 * args.trials)
    }
    if args.per_seed:
        for label, found in by_seed.items():
            print(f"\n{label} trials, best at hyperseal's epochs:\n{per_seed_table(found)}")
    picture = args.plot or folder / ("peers_quick.png" if args.quick else "peers.png")
    plot(rows, names, args.trials, picture, args.default_optimizer)
    print(f"plot: {picture}; {time.perf_counter() - started:.0f} s")
    out = {
        "machine": machine(),
        "argv": list(sys.argv[1:] if argv is None else argv),
        "problems": [asdict(p) for p in problems],
        "peers": list(PEER_METHODS),
        "default_optimizer": args.default_optimizer or default_optimizer(),
        "versions": {name: _version(name) for name in ("optuna", "smac", "ConfigSpace")},
        "summary": summary,
        "per_seed": by_seed,
        "runs": rows,
    }
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
