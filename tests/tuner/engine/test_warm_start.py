"""Warm start: earlier runs' best configs run first, projected, sealed, resumable without them."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from killed_tune import kill_tune_when  # tests/ is on sys.path
from typer.testing import CliRunner

from tuner.engine.warm import warm_configs, warm_start_count
from tuner.main import app
from tuner.objectives import ObjectiveOptions, tune_objective
from tuner.search.space import parse_space
from tuner.search.study import StudySettings
from tuner.search.trial import FAILED, OK, PRUNED, TrialResult
from tuner.testing import plaintext_values
from tuner.tune import load_journal, load_results
from tuner.vault import KeyFile, generate_key_file

SPACE = """\
lr: {type: log, low: 1.0e-4, high: 1.0, default: 0.0123457}
wd: {type: float, low: 0.0, high: 0.1, default: 0.0456789}
"""

OBJECTIVE_FILE = """\
import math, os, time

def objective(params, trial):
    time.sleep(float(os.environ.get("TRIAL_SLEEP", "0")))
    score = 1 - (math.log10(params["lr"]) + 2) ** 2 / 10 - params["wd"]
    trial.report(1, {"score": score})
    seen = os.environ.get("SEEN_DIR")
    if seen:
        open(os.path.join(seen, f"trial-{trial.number}"), "w").close()
    return {"score": score}
"""


def score(params: dict, trial) -> dict:  # type: ignore[no-untyped-def]
    """Peaks at lr = 0.01, wd = 0."""
    return {"score": 1 - (math.log10(params["lr"]) + 2) ** 2 / 10 - params["wd"]}


def _space(folder: Path, text: str = SPACE) -> Path:
    path = folder / "space.yaml"
    path.write_text(text)
    return path


def _cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _earlier_run(folder: Path, key: KeyFile, budget: int = 12) -> Path:
    run = folder / "earlier"
    options = ObjectiveOptions(
        _space(folder),
        objective=score,
        epochs=1,
        settings=StudySettings(budget=budget, fitness="score", pruner="none", seed=3),
    )
    tune_objective(options, key, run)
    return run


def _expected(run: Path, key: KeyFile, k: int) -> list[dict]:
    """The earlier run's k best configs other than the default (same space: no projection)."""
    trials = [TrialResult.from_record(r) for r in load_journal(run, key) if r["type"] == "trial"]
    ok = sorted((t for t in trials if t.status == OK), key=lambda t: -t.fitness)
    default = next(t for t in trials if t.number == 0).params
    unique: list[dict] = []
    for t in ok:
        if t.params != default and t.params not in unique:
            unique.append(t.params)
    return unique[:k]


def _values(configs: list[dict]) -> dict[str, list]:
    return {name: [c[name] for c in configs] for name in configs[0]}


def test_a_warm_started_run_runs_the_earlier_best_configs_first(hyperseal_env: Path) -> None:
    key = generate_key_file(hyperseal_env / "k.key")
    earlier = _earlier_run(hyperseal_env, key)
    k = warm_start_count(8)
    expected = _expected(earlier, key, k)
    assert k == 2 and len(expected) == k
    run = hyperseal_env / "run"
    options = ObjectiveOptions(
        _space(hyperseal_env),
        objective=score,
        epochs=1,
        settings=StudySettings(budget=8, fitness="score", pruner="none"),
        warm_start=[earlier],
    )
    outcome = tune_objective(options, key, run)
    trials = outcome.result.trials
    assert [t.params for t in trials[1 : k + 1]] == expected  # right after the default
    assert outcome.best is not None
    assert outcome.best.fitness >= max(t.fitness for t in trials[1 : k + 1])
    settings = load_journal(run, key)[0]["settings"]  # sealed
    assert settings["enqueued"] == expected and settings["warm_start_runs"] == 1
    info = json.loads((run / "run.json").read_text())
    assert info["warm_start"] == {"configs": k, "runs": 1}
    assert plaintext_values(run, _values(expected)) == []


def _trial(number: int, params: dict, status: str, fitness: float) -> TrialResult:
    return TrialResult(number, params, status, fitness, {}, 1, 0.0)


def test_warm_configs_rank_ok_trials_first_and_drop_repeats() -> None:
    space = parse_space(
        {
            "lr": {"type": "log", "low": 1e-3, "high": 0.1, "default": 0.01},
            "opt": {"type": "choice", "choices": ["sgd", "adam"], "default": "sgd"},
        },
        detector=False,
    )
    trials = [
        _trial(0, {"lr": 0.01, "opt": "sgd"}, OK, 0.5),  # the default
        _trial(1, {"lr": 0.05, "opt": "sgd"}, PRUNED, 0.99),  # pruned: after every ok trial
        _trial(2, {"lr": 0.02, "opt": "adam"}, OK, 0.7),
        _trial(3, {"lr": 0.9, "opt": "adam"}, OK, 0.8),  # clipped to 0.1
        _trial(4, {"lr": 0.5, "opt": "adam"}, OK, 0.75),  # clipped to 0.1 too: a repeat
        _trial(5, {"lr": 0.03, "opt": "rmsprop"}, FAILED, math.nan),
        _trial(6, {"lr": 0.03, "opt": "rmsprop"}, OK, -0.1),  # opt -> sgd
    ]
    assert warm_configs(trials, space, 5) == [
        {"lr": 0.1, "opt": "adam"},
        {"lr": 0.02, "opt": "adam"},
        {"lr": 0.03, "opt": "sgd"},
        {"lr": 0.05, "opt": "sgd"},
    ]
    assert warm_configs(trials, space, 1) == [{"lr": 0.1, "opt": "adam"}]
    assert [warm_start_count(b) for b in (1, 4, 8, 20, 100)] == [1, 1, 2, 5, 5]


def _one_error_line(code: int, out: str, fragment: str) -> None:
    lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert code != 0 and len(lines) == 1 and fragment in lines[0], out
    assert "Traceback" not in out


def test_a_wrong_key_or_a_folder_that_is_no_run_is_one_line(
    hyperseal_env: Path, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(OBJECTIVE_FILE)
    other = generate_key_file(tmp_path / "other.key")
    generate_key_file(tmp_path / "mine.key")
    earlier = _earlier_run(tmp_path, other, budget=4)
    common = ["tune", "--objective", f"{tmp_path / 'train.py'}:objective"]
    common += ["--space", tmp_path / "space.yaml", "--fitness", "score", "--epochs", "1"]
    common += ["--budget", "4", "--key-file", tmp_path / "mine.key"]
    run = tmp_path / "new" / "run"
    code, out = _cli(*common, "--out", run, "--warm-start", earlier)
    _one_error_line(code, out, f"--warm-start {earlier}: the key given for the new run does not")
    assert "with the key that sealed it" in out
    assert not (tmp_path / "new").exists()  # nothing written
    (tmp_path / "empty").mkdir()
    code, out = _cli(*common, "--out", run, "--warm-start", tmp_path / "empty")
    _one_error_line(code, out, "not a hyperseal tuning run folder")
    assert code == 3 and not (tmp_path / "new").exists()
    code, out = _cli(*common[:-1], tmp_path / "other.key", "--out", run, "--warm-start", earlier)
    assert code == 0, out
    assert "warm start: 1 config from 1 earlier run" in out
    code, out = _cli("tune", "--resume", run, "--warm-start", earlier)
    _one_error_line(code, out, "drop --warm-start")
    damaged = tmp_path / "damaged"  # a copy of the earlier run with its journal cut short
    damaged.mkdir()
    for f in earlier.iterdir():
        if f.is_file():
            (damaged / f.name).write_bytes(f.read_bytes())
    (damaged / "journal.hsj").write_bytes((earlier / "journal.hsj").read_bytes()[:40])
    later = tmp_path / "later" / "run"
    code, out = _cli(*common[:-1], tmp_path / "other.key", "--out", later, "--warm-start", damaged)
    _one_error_line(code, out, f"--warm-start {damaged}: {damaged / 'journal.hsj'}: file is")
    assert code == 13 and "another earlier run" in out and not (tmp_path / "later").exists()


COMMAND = """\
import json, math, os, sys
config = json.load(open(sys.argv[1]))
score = 1 - (math.log10(config["lr"]) + 2) ** 2 / 10 - config["wd"]
open(os.environ["HYPERSEAL_METRICS"], "a").write(json.dumps({"epoch": 1, "score": score}))
"""


def test_a_command_run_warm_starts_too(hyperseal_env: Path, tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "k.key")
    earlier = _earlier_run(tmp_path, key, budget=6)
    (tmp_path / "train.py").write_text(COMMAND)
    run = tmp_path / "run"
    code, out = _cli(
        "tune",
        "--command",
        f"{sys.executable} {tmp_path / 'train.py'} {{config}}",
        *("--space", tmp_path / "space.yaml", "--fitness", "score", "--epochs", "1"),
        *("--budget", "4", "--key-file", key.path, "--out", run, "--warm-start", earlier),
    )
    assert code == 0, out
    assert "warm start: 1 config from 1 earlier run" in out
    trials = {t.number: t for t in map(TrialResult.from_record, _trial_records(run, key))}
    assert trials[1].params == _expected(earlier, key, 1)[0]


def test_a_killed_warm_started_run_resumes_without_the_earlier_run(
    hyperseal_env: Path, tmp_path: Path
) -> None:
    home = hyperseal_env / "home"
    home.mkdir()
    key = generate_key_file(home / "key")  # the default key: the CLI finds it
    earlier = _earlier_run(tmp_path, key)
    expected = _expected(earlier, key, warm_start_count(12))
    (tmp_path / "train.py").write_text(OBJECTIVE_FILE)
    seen = tmp_path / "seen"
    seen.mkdir()
    run = tmp_path / "run"
    args = ["tune", "--objective", f"{tmp_path / 'train.py'}:objective"]
    args += ["--space", str(tmp_path / "space.yaml"), "--fitness", "score", "--epochs", "1"]
    args += ["--budget", "12", "--out", str(run), "--warm-start", str(earlier)]
    env = {**os.environ, "SEEN_DIR": str(seen), "TRIAL_SLEEP": "0.3"}
    kill_tune_when(args, lambda: len(list(seen.iterdir())) >= 2, cwd=tmp_path, env=env, poll=0.02)
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    earlier.rename(tmp_path / "gone")  # the earlier run is not needed any more
    code, out = _cli("tune", "--resume", run)
    assert code == 0, out
    frame = load_results(run, key)
    assert sorted(frame["number"]) == list(range(12))
    trials = {t.number: t for t in map(TrialResult.from_record, _trial_records(run, key))}
    assert [trials[n + 1].params for n in range(len(expected))] == expected
    assert plaintext_values(run, _values(expected)) == []


def _trial_records(run: Path, key: KeyFile) -> list[dict]:
    return [r for r in load_journal(run, key) if r["type"] == "trial"]
