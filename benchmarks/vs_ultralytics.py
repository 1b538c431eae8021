"""Head to head with Ultralytics' own tuner: the same YOLO training, data, epochs and trials.

For each seed, Ultralytics' ``model.tune()`` (its genetic tuner over its default
space) and ``hyperseal tune --command`` (its default optimizer and pruner) tune
the same YOLO training: one model initialisation built from ``yolov8n.yaml``
(no downloaded weights), the same synthetic scenes exported to YOLO format, the
same epochs per trial, image size, batch, optimizer and training seed, and the
same number of trials. hyperseal searches Ultralytics' default space (read
from the installed package: the same parameters and ranges, linear, each
default from Ultralytics' ``default.yaml`` clamped into its range, so that
trial 0 of both is the same default config). Each trial's score is the
mAP50-95 of its last epoch on the validation split (Ultralytics' tuner reads
it from the trial's checkpoint, hyperseal from ``results.csv``: the same
validation; ``save=False`` in both). Reported per seed: the best mAP50-95 each
reached, wall time, who won; then the medians and a two-sided sign test.

Everything Ultralytics writes (its settings, runs, the dataset) goes to a
temporary folder (``YOLO_CONFIG_DIR`` points there), removed at the end unless
``--keep``. Nothing is downloaded: ``YOLO_OFFLINE=1``, proxies that lead
nowhere, and a run whose log mentions a download stops with one line.

    python -m benchmarks.vs_ultralytics                    # the CPU default, ~30 min on 2 cores
    python -m benchmarks.vs_ultralytics --device 0 --trials 30 --epochs 30 \
        --images 2000 --imgsz 320 --seeds 5                 # a GPU: a meaningful size
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import median, pythonpath, results_dir, sign_test, table, write_json

#: The per-trial score of both tuners (Ultralytics' detection fitness is this metric alone).
METRIC = "metrics/mAP50-95(B)"
#: A log line that means Ultralytics tried to fetch something.
_DOWNLOAD = re.compile(r"download", re.IGNORECASE)
#: Where any HTTP(S) request from the children goes: a closed local port, so it fails at once.
_NOWHERE = "http://127.0.0.1:9"
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class BenchError(RuntimeError):
    """The benchmark cannot run (missing extra, a download attempt, a failed child)."""


# -- the search space ------------------------------------------------------------------


def ultralytics_space(source: str | None = None) -> dict[str, tuple[float, ...]]:
    """Ultralytics' default tune space, ``{name: (low, high[, gain])}``, read from the
    installed ``ultralytics/engine/tuner.py`` (the dict literal in ``Tuner.__init__``)."""
    if source is None:
        import ultralytics.engine.tuner as module

        source = Path(module.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Dict)
            and node.keys
            and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys)
        ):
            try:
                space = ast.literal_eval(node)
            except ValueError:
                continue
            if "lr0" in space and all(
                isinstance(v, tuple) and len(v) in (2, 3) for v in space.values()
            ):
                return {k: tuple(float(x) for x in v) for k, v in space.items()}
    raise BenchError("no default search space found in ultralytics/engine/tuner.py")


def hyperseal_space(
    space: Mapping[str, Sequence[float]],
    defaults: Mapping[str, Any],
    int_keys: frozenset[str] | set[str] = frozenset(),
) -> dict[str, dict[str, Any]]:
    """The same space as a hyperseal space spec: same names and ranges, linear (as
    Ultralytics mutates them), ints where Ultralytics rounds to ints; the default is
    Ultralytics' own, constrained the way its tuner constrains its first trial
    (clamped into the range, floats rounded to 5 decimals). Mutation gains have no
    counterpart and are dropped."""
    spec: dict[str, dict[str, Any]] = {}
    for name, bounds in space.items():
        low, high = float(bounds[0]), float(bounds[1])
        if name in int_keys:
            lo, hi = math.ceil(low), math.floor(high)
            if lo > hi:
                raise BenchError(f"search space for {name!r} holds no integer")
            default = min(max(round(float(defaults[name])), lo), hi)
            spec[name] = {"type": "int", "low": lo, "high": hi, "default": default}
        else:
            if not high > low:
                raise BenchError(f"search space for {name!r} is empty ({low} to {high})")
            default = min(max(round(float(defaults[name]), 5), low), high)
            spec[name] = {"type": "float", "low": low, "high": high, "default": default}
    return spec


def space_yaml(spec: Mapping[str, Mapping[str, Any]]) -> str:
    """The spec as hyperseal's YAML: one flow mapping a line, floats written with a dot."""

    def num(v: Any) -> str:
        if isinstance(v, int):
            return str(v)
        text = repr(float(v))  # YAML reads 1e-05 as a string: the mantissa needs a dot
        mantissa, _, exponent = text.partition("e")
        if exponent and "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}e{exponent}" if exponent else text

    lines = []
    for name, s in spec.items():
        fields = ", ".join(f"{k}: {s[k] if k == 'type' else num(s[k])}" for k in s)
        lines.append(f"{name}: {{{fields}}}")
    return "\n".join(lines) + "\n"


# -- the summary -------------------------------------------------------------------------


def best_of(trials: Sequence[Mapping[str, Any]]) -> float:
    """The best score of a run: over trials that ran to the end, else the pruned ones
    (hyperseal's own rule for its best trial); NaN when none scored."""
    for status in ("ok", "pruned"):
        scores = [t["score"] for t in trials if t["status"] == status and t["score"] == t["score"]]
        if scores:
            return max(scores)
    return float("nan")


def summarize(rows: Sequence[Mapping[str, Any]], tol: float = 0.0) -> dict[str, Any]:
    """Per-seed rows (``ultralytics``, ``hyperseal``: best scores) into medians, won/lost
    per seed (a difference within ``tol`` is a tie) and the sign test's p."""
    wins = losses = ties = 0
    for r in rows:
        diff = r["hyperseal"] - r["ultralytics"]
        if math.isnan(diff) or abs(diff) <= tol:
            ties += 1
        elif diff > 0:
            wins += 1
        else:
            losses += 1
    return {
        "seeds": len(rows),
        "median_ultralytics": median(r["ultralytics"] for r in rows),
        "median_hyperseal": median(r["hyperseal"] for r in rows),
        "median_diff": median(r["hyperseal"] - r["ultralytics"] for r in rows),
        "hyperseal_won": wins,
        "hyperseal_lost": losses,
        "ties": ties,
        "sign_test_p": sign_test(wins, losses),
        "median_wall_ultralytics": median(r.get("wall_ultralytics", float("nan")) for r in rows),
        "median_wall_hyperseal": median(r.get("wall_hyperseal", float("nan")) for r in rows),
    }


# -- running -----------------------------------------------------------------------------


def child_env(work: Path) -> dict[str, str]:
    """The environment of every child: Ultralytics' settings in ``work``, offline."""
    env = dict(os.environ)
    env.update(YOLO_CONFIG_DIR=str(work / "settings"), YOLO_OFFLINE="1", MPLBACKEND="Agg")
    env.update(dict.fromkeys(_PROXIES, _NOWHERE), NO_PROXY="", no_proxy="")
    return env


def run_logged(cmd: list[str], log: Path, env: Mapping[str, str], cwd: Path, what: str) -> float:
    """Run ``cmd`` with its output in ``log``; its wall time. A failure or a download
    attempt (anything in the log that mentions one) stops the benchmark with one line."""
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd)
    wall = time.monotonic() - start
    text = log.read_text(errors="replace")
    hits = [line.strip() for line in text.splitlines() if _DOWNLOAD.search(line)]
    if hits:
        raise BenchError(f"{what} tried to download (offline run): {hits[0][:200]} (log: {log})")
    if proc.returncode != 0:
        tail = " | ".join(text.strip().splitlines()[-3:])[:400]
        raise BenchError(f"{what} exited with code {proc.returncode}: {tail} (log: {log})")
    return wall


def make_dataset(work: Path, images: int, imgsz: int, env: Mapping[str, str]) -> Path:
    """Synthetic scenes (seed 0) at ``imgsz`` px, exported to YOLO; the data.yaml path."""
    hyperseal = str(Path(sys.executable).with_name("hyperseal"))
    scenes, yolo = work / "scenes", work / "yolo-data"
    run_logged(
        [hyperseal, "data", "synth", str(scenes), "--images", str(images), "--size", str(imgsz)],
        work / "synth.log",
        env,
        work,
        "hyperseal data synth",
    )
    run_logged(
        [hyperseal, "data", "export-yolo", str(scenes), "--out", str(yolo)],
        work / "export.log",
        env,
        work,
        "hyperseal data export-yolo",
    )
    return yolo / "data.yaml"


def train_args(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """The per-trial training both tuners run (besides the searched values)."""
    return {
        "epochs": args.epochs,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "device": args.device,
        "workers": 0,
        "optimizer": args.optimizer,
        "seed": seed,
        "deterministic": True,
        "plots": False,
        "save": False,
        "val": True,
    }


def base_model(spec: dict[str, Any]) -> Any:
    """The seed's model, built from its YAML; its initial weights written to ``spec["base"]``
    exactly as Ultralytics' tuner writes its own copy (MultiTrainer: a half-precision
    deepcopy), so that both tuners train every trial from the same start."""
    from copy import deepcopy

    import torch
    from ultralytics import YOLO
    from ultralytics.utils.patches import torch_save
    from ultralytics.utils.torch_utils import qat_state, strip_qat

    torch.manual_seed(spec["seed"])
    model = YOLO(spec["model"])
    base = deepcopy(model.model).half()
    strip_qat(base)
    torch_save(
        {
            "model": base,
            "modelopt": qat_state(model.model),
            "train_args": getattr(model.model, "args", {}),
        },
        spec["base"],
    )
    return model


def ultralytics_child(spec: dict[str, Any]) -> None:
    """In a child process: build the model, save its initial weights for hyperseal, tune
    (or only save the weights, with ``spec["tune"]`` false)."""
    import numpy as np
    import ultralytics.engine.tuner as tuner_module

    seed = spec["seed"]
    # Ultralytics' tuner mutates with np.random.default_rng() (unseeded): seed it so
    # that a run is repeatable; the mutation itself is untouched.
    tuner_module.np = _SeededNumpy(seed)
    model = base_model(spec)
    if not spec.get("tune", True):
        return
    np.random.seed(seed)
    model.tune(
        data=spec["data"],
        iterations=spec["trials"],
        project=spec["project"],
        name="tune",
        **spec["train"],
    )


class _SeededNumpy:
    """numpy for Ultralytics' tuner module, whose ``random.default_rng()`` (no seed)
    draws from one seeded stream instead of the OS's entropy."""

    def __init__(self, seed: int) -> None:
        import numpy as np

        self._np = np
        self.random = _SeededRandom(np, np.random.SeedSequence(seed))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._np, name)


class _SeededRandom:
    def __init__(self, np: Any, seq: Any) -> None:
        self._np, self._seq = np, seq

    def default_rng(self, seed: Any = None) -> Any:
        return self._np.random.default_rng(self._seq.spawn(1)[0] if seed is None else seed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._np.random, name)


def ultralytics_trials(tune_dir: Path) -> list[dict[str, Any]]:
    """Each iteration of Ultralytics' tuner: its score (last epoch's mAP50-95) and status."""
    trials = []
    lines = (tune_dir / "tune_results.ndjson").read_text().splitlines()
    for line in filter(str.strip, lines):
        record = json.loads(line)
        metrics = next(iter(record.get("datasets", {}).values()), None) or {}
        failed = bool(record.get("failed_datasets")) or METRIC not in metrics
        trials.append(
            {
                "trial": record["iteration"] - 1,
                "status": "failed" if failed else "ok",
                "score": float("nan") if failed else float(metrics[METRIC]),
                "epochs": 0 if failed else None,
            }
        )
    return trials


@dataclass(frozen=True)
class SeedRun:
    """What both tuners get for one seed: the options, the seed, the dataset, hyperseal's
    space file, the seed's folder and the children's environment."""

    args: argparse.Namespace
    seed: int
    data: Path
    space: Path
    folder: Path
    env: Mapping[str, str]


def run_ultralytics(job: SeedRun, tune: bool = True) -> dict[str, Any]:
    """Ultralytics' tuner for this seed (with ``tune`` false: only the initial weights)."""
    args, seed, data, folder = job.args, job.seed, job.data, job.folder
    spec = {
        "tune": tune,
        "seed": seed,
        "model": args.model,
        "data": str(data),
        "trials": args.trials,
        "project": str(folder / "ultralytics"),
        "base": str(folder / "base.pt"),
        "train": train_args(args, seed),
    }
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.vs_ultralytics",
        "--ultralytics-child",
        json.dumps(spec),
    ]
    env = {**job.env, "PYTHONPATH": pythonpath(job.env.get("PYTHONPATH", ""))}  # runs in ``folder``
    wall = run_logged(cmd, folder / "ultralytics.log", env, folder, "Ultralytics' model.tune()")
    if not tune:
        return {}
    trials = ultralytics_trials(folder / "ultralytics" / "tune")
    for t in trials:
        if t["epochs"] is None:
            t["epochs"] = args.epochs
    return {"trials": trials, "wall": wall, "best": best_of(trials)}


def hyperseal_command(args: argparse.Namespace, seed: int, data: Path, base: Path) -> str:
    """The per-trial command: Ultralytics' own CLI entry point (the one its tuner runs)."""
    words = [sys.executable, "-m", "ultralytics.cfg.__init__", "train", "cfg={config.yaml}"]
    words += [f"data={data}", f"model={base}"]
    words += [f"{k}={v}" for k, v in train_args(args, seed).items()]
    words += ["project={trial_dir}/yolo", "name=train", "exist_ok=True"]
    return shlex.join(words)


def run_hyperseal(job: SeedRun) -> dict[str, Any]:
    from tuner import load_results

    args, seed, folder = job.args, job.seed, job.folder
    run = folder / "hyperseal-run"
    passphrase = secrets.token_urlsafe(24)
    cmd = [
        str(Path(sys.executable).with_name("hyperseal")),
        "tune",
        "--command",
        hyperseal_command(args, seed, job.data, folder / "base.pt"),
        "--metrics-file",
        "yolo/train/results.csv",
        "--metric",
        METRIC,
        "--space",
        str(job.space),
        "--epochs",
        str(args.epochs),
        "--budget",
        str(args.trials),
        "--seed",
        str(seed),
        "--out",
        str(run),
    ]
    if args.pruner is not None:
        cmd += ["--pruner", args.pruner]
    wall = run_logged(
        cmd,
        folder / "hyperseal.log",
        {**job.env, "HYPERSEAL_PASSPHRASE": passphrase},
        folder,
        "hyperseal tune",
    )
    frame = load_results(run, passphrase)
    trials = [
        {
            "trial": int(r["number"]),
            "status": str(r["status"]),
            "score": float(r["fitness"]) if r["status"] in ("ok", "pruned") else float("nan"),
            "epochs": int(r["epochs_run"]),
        }
        for _, r in frame.iterrows()
    ]
    return {"trials": trials, "wall": wall, "best": best_of(trials)}


def run_seed(
    job: SeedRun, earlier: Mapping[int, dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both tuners on one seed, in ``job.folder`` (created): the seed's row and its two runs.

    With ``earlier`` (Ultralytics' runs of an earlier JSON), Ultralytics' side is read
    from there and only its initial weights are made again (hyperseal trains from them).
    """
    seed = job.seed
    job.folder.mkdir()
    if earlier:
        run_ultralytics(job, tune=False)  # the weights only
        ultra = earlier[seed]
    else:
        ultra = run_ultralytics(job)
    source = f", from {job.args.ultralytics_from}" if earlier else ""
    print(
        f"seed {seed}: Ultralytics' tuner  best mAP50-95 {ultra['best']:.4f}"
        f"  ({ultra['wall']:.0f} s{source})",
        flush=True,
    )
    hs = run_hyperseal(job)
    print(
        f"seed {seed}: hyperseal tune      best mAP50-95 {hs['best']:.4f}  ({hs['wall']:.0f} s)",
        flush=True,
    )
    row = {
        "seed": seed,
        "ultralytics": ultra["best"],
        "hyperseal": hs["best"],
        "wall_ultralytics": ultra["wall"],
        "wall_hyperseal": hs["wall"],
        "epochs_ultralytics": sum(t["epochs"] for t in ultra["trials"]),
        "epochs_hyperseal": sum(t["epochs"] for t in hs["trials"]),
    }
    return row, {"seed": seed, "ultralytics": ultra, "hyperseal": hs}


def _parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="Trials per tuning run (both).")
    parser.add_argument("--epochs", type=int, default=6, help="Epochs per trial (both).")
    parser.add_argument("--images", type=int, default=300, help="Synthetic images (80 %% train).")
    parser.add_argument("--imgsz", type=int, default=128, help="Image size in pixels.")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=3, help="Seeds 0..N-1 (tuner and training).")
    parser.add_argument("--device", default="cpu", help="Ultralytics' device: cpu, 0, 0,1, ...")
    parser.add_argument(
        "--model", default="yolov8n.yaml", help="A model YAML (built, not downloaded)."
    )
    parser.add_argument("--optimizer", default="AdamW", help="model.tune()'s default: AdamW.")
    parser.add_argument(
        "--pruner",
        default=None,
        choices=["asha", "median", "none"],
        help="hyperseal's pruner (default: hyperseal's default, ASHA).",
    )
    parser.add_argument(
        "--ultralytics-from",
        type=Path,
        default=None,
        help="Ultralytics' side from this earlier JSON (same settings), not run again.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--ultralytics-child", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    if args.ultralytics_child is not None:
        ultralytics_child(json.loads(args.ultralytics_child))
        return {}
    try:
        from ultralytics.cfg import CFG_INT_KEYS, DEFAULT_CFG_DICT
    except ImportError as exc:
        raise SystemExit(
            f"error: Ultralytics is not installed ({exc}); pip install -e '.[examples]'"
        ) from None
    import ultralytics

    json_path = args.json or results_dir() / "vs_ultralytics.json"
    earlier = _earlier_ultralytics(args) if args.ultralytics_from else {}
    work = Path(tempfile.mkdtemp(prefix="hyperseal-vs-ultralytics-"))
    env = child_env(work)
    print(f"working folder {work} (YOLO_CONFIG_DIR={env['YOLO_CONFIG_DIR']}, offline)", flush=True)
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        spec = hyperseal_space(ultralytics_space(), DEFAULT_CFG_DICT, CFG_INT_KEYS)
        space = work / "space.yaml"
        space.write_text(space_yaml(spec))
        data = make_dataset(work, args.images, args.imgsz, env)
        for seed in range(args.seeds):
            job = SeedRun(args, seed, data, space, work / f"seed{seed}", env)
            row, run = run_seed(job, earlier)
            rows.append(row)
            runs.append(run)
            write_json(json_path, _result(args, rows, runs, spec, ultralytics.__version__, started))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result = _result(args, rows, runs, spec, ultralytics.__version__, started)
    write_json(json_path, result)
    print()
    print(report(result))
    print(f"\nJSON: {json_path}")
    return result


#: Settings that must match for Ultralytics' side to be taken from an earlier run.
SAME_TRAINING = ("trials", "epochs", "images", "imgsz", "batch", "device", "model", "optimizer")


def _earlier_ultralytics(args: argparse.Namespace) -> dict[int, dict[str, Any]]:
    """Ultralytics' per-seed runs from an earlier JSON of the same training settings."""
    earlier = json.loads(Path(args.ultralytics_from).read_text())
    settings = earlier.get("settings", {})
    differ = [k for k in SAME_TRAINING if settings.get(k) != getattr(args, k)]
    if differ:
        raise BenchError(
            f"{args.ultralytics_from} was run with other settings ({', '.join(differ)}); "
            "rerun Ultralytics' side instead"
        )
    runs = {r["seed"]: r["ultralytics"] for r in earlier.get("runs", [])}
    missing = [seed for seed in range(args.seeds) if seed not in runs]
    if missing:
        raise BenchError(f"{args.ultralytics_from} has no Ultralytics run for seed(s) {missing}")
    return runs


def _result(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    spec: dict[str, Any],
    version: str,
    started: float,
) -> dict[str, Any]:
    settings = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in vars(args).items()
        if k not in ("json", "ultralytics_child")
    }
    return {
        "settings": settings,
        "ultralytics": version,
        "space": spec,
        "rows": rows,
        "summary": summarize(rows),
        "runs": runs,
        "seconds": time.monotonic() - started,
    }


def report(result: Mapping[str, Any]) -> str:
    """The per-seed table and the summary lines."""
    rows = result["rows"]
    s = result["summary"]
    body = table(
        [
            "seed",
            "Ultralytics",
            "hyperseal",
            "diff",
            "winner",
            "wall U (s)",
            "wall h (s)",
            "epochs U",
            "epochs h",
        ],
        [
            [
                r["seed"],
                r["ultralytics"],
                r["hyperseal"],
                r["hyperseal"] - r["ultralytics"],
                _winner(r),
                round(r["wall_ultralytics"]),
                round(r["wall_hyperseal"]),
                r["epochs_ultralytics"],
                r["epochs_hyperseal"],
            ]
            for r in rows
        ],
    )
    st = result["settings"]
    return "\n".join(
        [
            f"best mAP50-95 per seed ({st['trials']} trials x {st['epochs']} epochs, "
            f"{st['images']} images at {st['imgsz']} px, device {st['device']}; hyperseal's "
            f"pruner {st.get('pruner') or 'default (asha)'}"
            + (
                f"; Ultralytics' side from {st['ultralytics_from']}"
                if st.get("ultralytics_from")
                else ""
            )
            + "):",
            body,
            f"median best: Ultralytics {s['median_ultralytics']:.4f}, hyperseal "
            f"{s['median_hyperseal']:.4f} (median difference {s['median_diff']:+.4f})",
            f"hyperseal won {s['hyperseal_won']}, lost {s['hyperseal_lost']}, tied {s['ties']} "
            f"of {s['seeds']} seeds; two-sided sign test p = {s['sign_test_p']:.3g}",
            f"median wall time per tuning run: Ultralytics {s['median_wall_ultralytics']:.0f} s, "
            f"hyperseal {s['median_wall_hyperseal']:.0f} s; total {result['seconds'] / 60:.1f} min",
        ]
    )


def _winner(row: Mapping[str, Any]) -> str:
    diff = row["hyperseal"] - row["ultralytics"]
    if math.isnan(diff) or diff == 0:
        return "tie"
    return "hyperseal" if diff > 0 else "Ultralytics"


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        raise SystemExit(f"error: {exc}") from None
