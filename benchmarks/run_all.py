"""Run every benchmark except the GPU one and print one summary table of ratios.

Each benchmark runs as its own process, from the repository root (``python -m
benchmarks.NAME ... --json benchmarks/results/NAME.json``), its output shown
and kept in ``benchmarks/results/NAME.log``; then the headline figure of each
is read back and printed in one table with its goal, and written to
``benchmarks/results/summary.csv`` and ``summary.json``. The CSVs and plot of
the search-efficiency benchmark land in the same folder. ``benchmarks.gpu``
needs CUDA and runs separately. Sized for under 30 minutes on 2 cores (see
docs/benchmarks.md); ``--quick`` runs a tiny version of each (for tests: its
numbers mean nothing).

    python -m benchmarks.run_all [--quick] [--only NAME ...] [--out DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import BENCH_DIR, REPO_ROOT, machine, results_dir, table, write_json

Row = tuple[str, str, float, str, bool | None]  # benchmark, measure, value, goal, met


@dataclass(frozen=True)
class Step:
    """One benchmark script: its arguments in a full and in a quick run, and how to read it."""

    name: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    read: Callable[[dict[str, Any], str], list[Row]]
    json: bool = True


def _get(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        data = data[key]
    return data


def read_train_throughput(data: dict[str, Any], log: str) -> list[Row]:
    ratio = float(data["ratio"])
    return [
        (
            "train_throughput",
            "ours / torchvision-reference loop, images/s",
            ratio,
            ">= 1.0",
            ratio >= 1.0,
        )
    ]


def read_early_stopping(data: dict[str, Any], log: str) -> list[Row]:
    ratio = float(_get(data, "summary", "median_ratio"))
    return [
        (
            "early_stopping",
            "epochs to reach best, pruned / unpruned",
            ratio,
            "<= 0.33",
            ratio <= 1 / 3 + 1e-9 if ratio == ratio else None,
        )
    ]


def read_audit_cost(data: dict[str, Any], log: str) -> list[Row]:
    ratio = float(data["ratio"])
    whole = float(data["portfolio_ratio"])
    return [
        ("audit_cost", "one attack variant / plain gradient pass", ratio, "<= 1.2", ratio <= 1.2),
        ("audit_cost", "the audit's portfolio / one variant", whole, "<= 3", whole <= 3.0),
    ]


def read_audit_calibration(data: dict[str, Any], log: str) -> list[Row]:
    goals = data["goals"]
    coverage = float(goals["coverage_normalised"])
    worst = float(goals["worst_within_3x_normalised"])
    plain = float(goals["pick_within_25pct_plain"])
    return [
        (
            "audit_calibration",
            "95% interval coverage, normalised nets (worst family)",
            coverage,
            ">= 0.90",
            coverage >= 0.9,
        ),
        (
            "audit_calibration",
            "owner's worst case within 3x, normalised (worst family)",
            worst,
            ">= 0.80",
            worst >= 0.8,
        ),
        (
            "audit_calibration",
            "pick median |log10 error|, unnormalised (worst family)",
            plain,
            "<= 0.097 (25%)",
            plain <= 0.097,
        ),
    ]


def read_vault(data: dict[str, Any], log: str) -> list[Row]:
    """vault.py prints lines only; the first 'median X s' is the passphrase open."""
    rows: list[Row] = []
    opened = re.search(r"median ([0-9.]+) s", log)
    if opened:
        value = float(opened.group(1))
        rows.append(
            (
                "vault",
                "passphrase vault open, s (scrypt cost)",
                value,
                "0.2 - 1",
                0.2 <= value <= 1.0,
            )
        )
    append = re.search(r"key file: ([0-9.]+) ms/record", log)
    if append:
        value = float(append.group(1))
        rows.append(("vault", "journal append (no fsync), ms/record", value, "< 1", value < 1.0))
    return rows


def read_tuner_overhead(data: dict[str, Any], log: str) -> list[Row]:
    default, worst = 100 * float(data["default_share"]), 100 * float(data["worst_share"])
    return [
        (
            "tuner_overhead",
            "default optimizer ask+tell, % of a trial",
            default,
            "< 1",
            default < 1.0,
        ),
        (
            "tuner_overhead",
            f"costliest ({data['worst_optimizer']}), % of a trial",
            worst,
            "< 1",
            worst < 1.0,
        ),
    ]


def read_parallel_scaling(data: dict[str, Any], log: str) -> list[Row]:
    """One row per executor, then the machine's own scaling (bare processes, no tuner).

    Where the bare processes were measured, each executor's speed-up is also shown as
    a fraction of the machine's: what the tuner itself keeps of what the machine gives.
    """
    ratios = {k: float(v) for k, v in data["ratios"].items()}
    machine = ratios.pop("bare processes", None)
    rows: list[Row] = [
        ("parallel_scaling", f"trials/h, 2 workers / 1, {kind}", v, ">= 1.8", v >= 1.8)
        for kind, v in ratios.items()
    ]
    if machine is not None:
        rows.append(
            ("parallel_scaling", "trials/h, 2 / 1, bare processes (the machine)", machine, "", None)
        )
        rows += [
            ("parallel_scaling", f"{kind} speed-up / the machine's", v / machine, "(info)", None)
            for kind, v in ratios.items()
        ]
    return rows


def read_search_efficiency(data: dict[str, Any], log: str) -> list[Row]:
    """The default's median regret / TPE's per problem and budget.

    The goal is the issue's: the default's median best fitness at least TPE's
    (on the tuning problems; the artificial function is for scale). The ratio of
    median regrets is the figure printed; the measure names the median-best gap.
    """
    default = data["headline"]["default"]
    rows: list[Row] = []
    cells = sorted(
        (s for s in data["summary"] if s["method"] == default and s["regret_vs_tpe"] is not None),
        key=lambda s: (
            s["problem"] != "mlp",
            s["problem"] != "detector",
            s["problem"],
            s["budget"],
        ),
    )
    for s in cells:
        tuning = s["problem"] in ("mlp", "detector")
        gap = float(s["best_minus_tpe"])
        rows.append(
            (
                "search_efficiency",
                f"{default} median regret / TPE's, {s['problem']} @{s['budget']} "
                f"(median best {gap:+.4f} vs TPE)",
                float(s["regret_vs_tpe"]),
                "best >= TPE" if tuning else "(scale)",
                gap >= 0 if tuning else None,
            )
        )
    return rows


STEPS = (
    Step(
        "train_throughput",
        ("--images", "240", "--rounds", "12"),
        ("--images", "24", "--rounds", "1"),
        read_train_throughput,
    ),
    Step("early_stopping", (), ("--seeds", "2", "--budget", "10"), read_early_stopping),
    Step("audit_cost", (), ("--images", "16", "--rounds", "1"), read_audit_cost),
    Step("audit_calibration", (), ("--quick", "--fcos", "0"), read_audit_calibration),
    Step("vault", (), ("--records", "50", "--repeat", "1"), read_vault, json=False),
    Step("tuner_overhead", (), ("--quick",), read_tuner_overhead),
    Step("parallel_scaling", (), ("--quick",), read_parallel_scaling),
    Step(
        "search_efficiency",
        ("--seeds", "20", "--slow-seeds", "3", "--slow-problems", "mlp"),
        ("--quick", "--problems", "mlp", "sphere", "--slow-seeds", "1"),
        read_search_efficiency,
    ),
)


def run_step(step: Step, quick: bool, folder: Path, timeout: float) -> tuple[list[Row], float, str]:
    """Run one benchmark; return its rows, its seconds and an error (empty when fine)."""
    if not (BENCH_DIR / f"{step.name}.py").exists():
        return [], 0.0, "not present"
    json_path = folder / f"{step.name}.json"
    json_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", f"benchmarks.{step.name}", *(step.quick if quick else step.full)]
    if step.json:
        cmd += ["--json", str(json_path)]
    if step.name == "search_efficiency":
        cmd += ["--out", str(folder)]
    print(f"\n=== {step.name}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    lines: list[str] = []
    error = ""
    with subprocess.Popen(
        cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                print("  " + line.rstrip(), flush=True)
                lines.append(line)
                if time.perf_counter() - start > timeout:
                    proc.kill()
                    error = f"stopped after {timeout:.0f} s"
                    break
        finally:
            code = proc.wait()
    seconds = time.perf_counter() - start
    log = "".join(lines)
    (folder / f"{step.name}.log").write_text(log)
    if code != 0 and not error:
        error = f"exit code {code}"
    if error:
        return [], seconds, error
    try:
        data = json.loads(json_path.read_text()) if step.json else {}
        return step.read(data, log), seconds, ""
    except (OSError, KeyError, ValueError, TypeError) as exc:
        return [], seconds, f"could not read its result ({type(exc).__name__}: {exc})"


def print_summary(rows: list[Row], title: str, problems: dict[str, str], folder: Path) -> None:
    """Print the one summary table and write ``summary.csv``."""
    import csv

    print("\n" + "=" * 100)
    print(f"SUMMARY ({title})")
    verdict = {True: "met", False: "MISSED", None: ""}
    print(
        table(
            ["benchmark", "measure", "value", "goal", ""],
            [[b, m, v, g, verdict[ok]] for b, m, v, g, ok in rows],
        )
    )
    for name, error in problems.items():
        print(f"{name}: {error}")
    print(f"results, logs, CSVs and plots in {folder}")
    with open(folder / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["benchmark", "measure", "value", "goal", "met"])
        writer.writerows(rows)


def reread(folder: Path, only: list[str] | None = None) -> dict[str, Any]:
    """The summary of the run whose results are in ``folder``, read back from its files."""
    rows: list[Row] = []
    problems: dict[str, str] = {}
    for step in STEPS:
        if only and step.name not in only:
            continue
        log_path, json_path = folder / f"{step.name}.log", folder / f"{step.name}.json"
        if not log_path.exists() or (step.json and not json_path.exists()):
            problems[step.name] = "no result in this folder"
            continue
        data = json.loads(json_path.read_text()) if step.json else {}
        rows.extend(step.read(data, log_path.read_text()))
    last = folder / "summary.json"
    title = "read back"
    if last.exists():
        old = json.loads(last.read_text())
        title += f"; that run took {old['wall_seconds'] / 60:.1f} min, {old['machine']['date']}"
    print_summary(rows, title, problems, folder)
    return {"rows": rows, "problems": problems}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A tiny run of each (for tests).")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in STEPS], default=None)
    parser.add_argument("--out", type=Path, default=None, help="Results folder.")
    parser.add_argument("--timeout", type=float, default=1500.0, help="Seconds per benchmark.")
    parser.add_argument(
        "--reread", action="store_true", help="Print the table of the last run again (no run)."
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    folder = results_dir(args.out)
    if args.reread:
        return reread(folder, args.only)
    info = machine()
    print(
        f"benchmarks on {info.get('cpu', '?')}, {info['cpus']} CPUs, load "
        f"{info.get('load_1_5_15', '?')}, {info['date']}",
        flush=True,
    )
    start = time.perf_counter()
    rows: list[Row] = []
    timings: dict[str, float] = {}
    problems: dict[str, str] = {}
    for step in STEPS:
        if args.only and step.name not in args.only:
            continue
        got, seconds, error = run_step(step, args.quick, folder, args.timeout)
        timings[step.name] = seconds
        if error:
            problems[step.name] = error
        rows.extend(got)
    wall = time.perf_counter() - start
    kind = "quick run, figures meaningless" if args.quick else "full run"
    print_summary(rows, f"{kind}; {wall / 60:.1f} min on {info['cpus']} CPUs", problems, folder)
    summary = {
        "quick": args.quick,
        "wall_seconds": wall,
        "seconds": timings,
        "problems": problems,
        "rows": [
            dict(zip(("benchmark", "measure", "value", "goal", "met"), r, strict=True))
            for r in rows
        ],
    }
    write_json(folder / "summary.json", summary)
    write_json(args.json, summary)
    return summary


if __name__ == "__main__":
    result = main(sys.argv[1:])
    sys.exit(1 if result["problems"] and set(result["problems"].values()) != {"not present"} else 0)
