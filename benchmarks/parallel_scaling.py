"""Parallel scaling: trials per hour with 1 and 2 workers, local process pool and Dask.

Each configuration runs a search through the tuner's own ``Study`` with
``--budget`` CPU-bound trials of equal work, one torch thread each
(``threads=1``, as ``slot_devices`` gives on 2 cores): by default a torch MLP
trained for ``--epochs`` epochs on scikit-learn's digits (only the learning
rate varies, so every trial does the same arithmetic); ``--detector`` uses
tiny-FCOS trials on synthetic scenes instead. Executors: the local process
pool (``make_executor("processes", n)``) and a Dask ``LocalCluster``
(``make_executor("dask-local", n)``), each with 1 and 2 workers. Every
executor is warmed up first (a short trial per worker: processes started,
torch imported, data decoded), and a search is timed up to its last result,
not through the executor's shutdown (worker processes exiting take 1-2 s once
a search, like start-up), so what is measured is the steady state a long
search sees. Beside them, "bare processes" run the same trial in 1 or 2
plain processes with no tuner at all: the machine's own scaling, the ceiling
the tuner can reach on it. Configurations are interleaved over ``--rounds``
rounds, each measuring 1 and 2 workers back to back; the speed-up is the
median of these paired ratios. Goal: 2 workers ≥ 1.8× the trials per hour
of 1 on 2 cores (other load on the machine lowers it; the load average is
printed).

    python -m benchmarks.parallel_scaling [--quick] [--budget 12] [--rounds 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from typing import Any

from benchmarks._common import importable, median, parse_with_quick, table, write_json
from benchmarks._objectives import DetectorSettings, MLPObjective, detector_problem
from benchmarks._search import default_task, warm_up
from tuner.search.executors import make_executor
from tuner.search.space import Param, SearchSpace
from tuner.search.study import Study, StudySettings

GOAL = 1.8
EXECUTORS = ("processes", "dask-local")
BARE = "bare processes"  # the same trials without the tuner: the machine's own scaling


def equal_work_space() -> SearchSpace:
    """Only the learning rate varies: every trial trains the same network for as long."""
    return SearchSpace(
        (
            Param("lr", "log", 0.01, 1e-3, 0.1),
            Param("optimizer", "fixed", "sgd"),
            Param("momentum", "fixed", 0.9),
            Param("weight_decay", "fixed", 1e-4),
            Param("batch_size", "fixed", 32),
            Param("hidden", "fixed", 256),
        )
    )


def problem(detector: bool, epochs: int) -> tuple[Any, SearchSpace, str]:
    """Objective, space and fitness of the scaling trials."""
    if detector:
        objective, space = detector_problem(DetectorSettings(), seed=0)
        return objective, space.freeze({"batch_size": 8}), "mAP50"
    return MLPObjective(epochs=epochs), equal_work_space(), "accuracy"


def measure(
    kind: str, workers: int, budget: int, detector: bool, epochs: int, seed: int
) -> dict[str, float]:
    """Trials per hour of one search on a warmed-up executor."""
    objective, space, fitness = problem(detector, epochs)
    executor = make_executor(kind, workers)
    try:
        warm_up(executor, problem(detector, 1)[0], space, fitness)  # a 1-epoch trial
        settings = StudySettings(
            optimizer="RandomSearch", budget=budget, seed=seed, fitness=fitness, pruner="none"
        )
        study = Study(objective, space, settings, executor=executor, threads=1)
        last = [0.0]
        start = time.perf_counter()
        result = study.run(on_trial=lambda *_: last.__setitem__(0, time.perf_counter()))
        wall = last[0] - start  # up to the last result, not the executor's shutdown
        shutdown = time.perf_counter() - last[0]
    except BaseException:
        executor.shutdown(cancel=True)
        raise
    failed = [t.error for t in result.trials if t.status == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} scaling trials failed, e.g. {failed[0]}")
    return {
        "wall": wall,
        "trials_per_hour": 3600.0 * len(result.trials) / wall,
        "trial_seconds": median(t.seconds for t in result.trials),
        "shutdown_seconds": shutdown,
    }


def _bare_worker(objective: Any, warm: Any, task: Any, trials: int, barrier: Any, out: Any) -> None:
    """One bare process: a warm-up trial, wait for the others, then ``trials`` timed trials."""
    from tuner.search.trial import run_trial

    run_trial(warm, task)
    barrier.wait()
    start = time.perf_counter()
    for _ in range(trials):
        run_trial(objective, task)
    out.put(time.perf_counter() - start)


def bare(workers: int, trials_each: int, detector: bool, epochs: int) -> dict[str, float]:
    """The machine's own scaling: the same trial in ``workers`` plain processes, no tuner.

    Each process runs ``trials_each`` trials of the default config after a warm-up, all
    starting together; trials per hour counts until the slowest process is done.
    """
    import multiprocessing

    objective, space, fitness = problem(detector, epochs)
    task = default_task(space, fitness)
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(workers), context.Queue()
    procs = [
        context.Process(
            target=_bare_worker,
            args=(objective, problem(detector, 1)[0], task, trials_each, barrier, out),
        )
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    wall = max(out.get() for _ in procs)
    for proc in procs:
        proc.join()
    return {"wall": wall, "trials_per_hour": 3600.0 * workers * trials_each / wall}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=int, default=12, help="Trials per measurement (bare processes: half each)."
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60, help="MLP epochs per trial.")
    parser.add_argument("--detector", action="store_true", help="Tiny-FCOS trials instead.")
    parser.add_argument("--executors", nargs="+", default=list(EXECUTORS), choices=EXECUTORS)
    args = parse_with_quick(
        parser, argv, "Tiny run for tests: 4 short trials, one round, process pool."
    )
    if args.quick:
        args.budget, args.rounds, args.epochs, args.executors = 4, 1, 2, ["processes"]
    importable()  # workers import the objective's module by name
    warnings.filterwarnings("ignore")
    logging.getLogger("distributed").setLevel(logging.ERROR)  # shutdown chatter
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    kinds = [*args.executors, BARE]
    for r in range(args.rounds):
        configs = [(k, w) for k in kinds for w in (1, 2)]
        for kind, workers in configs if r % 2 == 0 else configs[::-1]:
            if kind == BARE:
                row = bare(workers, args.budget // 2, args.detector, args.epochs)
            else:
                row = measure(kind, workers, args.budget, args.detector, args.epochs, seed=r)
            results.setdefault((kind, workers), []).append(row)
    rows, ratios = [], {}
    for kind in kinds:
        one = median(x["trials_per_hour"] for x in results[(kind, 1)])
        two = median(x["trials_per_hour"] for x in results[(kind, 2)])
        # each round measures 1 and 2 workers back to back: the median of the paired
        # ratios is less exposed to the machine's speed drifting between rounds
        ratios[kind] = median(
            b["trials_per_hour"] / a["trials_per_hour"]
            for a, b in zip(results[(kind, 1)], results[(kind, 2)], strict=True)
        )
        rows.append([kind, one, two, ratios[kind]])
    what = "tiny FCOS trials" if args.detector else f"MLP trials ({args.epochs} epochs)"
    print(
        f"parallel scaling: {what}, one thread each, {args.budget} trials per measurement, "
        f"median of {args.rounds} rounds; {os.cpu_count()} CPUs, "
        f"load {load_before:.1f} before"
    )
    print(
        table(
            ["executor", "trials/h, 1 worker", "trials/h, 2 workers", "speed-up (paired median)"],
            rows,
        )
    )
    tuned = ", ".join(f"{k} {ratios[k]:.2f}x" for k in args.executors)
    print(f"goal: speed-up >= {GOAL}; {tuned}; the machine itself: {ratios[BARE]:.2f}x")
    summary = {
        "ratios": ratios,
        "rows": rows,
        "load_before": load_before,
        "runs": {f"{k}/{w}": v for (k, w), v in results.items()},
    }
    write_json(args.json, summary)
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
