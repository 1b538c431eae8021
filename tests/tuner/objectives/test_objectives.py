"""Tuning your own code: Python objectives and commands, sealed like the detector's runs."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
import time
from pathlib import Path

import pytest
from killed_tune import kill_tune_when  # tests/ is on sys.path
from typer.testing import CliRunner

from tuner.main import app
from tuner.objectives import ObjectiveOptions, TrialPruned, tune_objective
from tuner.search.study import StudySettings
from tuner.testing import plaintext_values
from tuner.tune import load_results
from tuner.vault import KeyFile, Vault, generate_key_file

SPACE = """\
lr: {type: log, low: 1.0e-4, high: 1.0, default: 0.0123457}
wd: {type: float, low: 0.0, high: 0.1, default: 0.0456789}
"""


def _space(folder: Path, text: str = SPACE) -> Path:
    path = folder / "space.yaml"
    path.write_text(text)
    return path


def _program_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``folder`` holds PROGRAM as train.py and is the working folder; returns its seen/."""
    (folder / "train.py").write_text(PROGRAM)
    seen = folder / "seen"
    seen.mkdir()
    monkeypatch.setenv("SEEN_DIR", str(seen))
    monkeypatch.chdir(folder)
    return seen


def _cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _values(frame) -> dict[str, list]:  # type: ignore[no-untyped-def]
    return {c[6:]: list(frame[c]) for c in frame.columns if c.startswith("param_")}


# -- Python objectives ---------------------------------------------------------------------


def quadratic(params: dict, trial) -> dict:  # type: ignore[no-untyped-def]
    """Peaks at lr = 0.01; three epochs, reported each; keeps a 'weights' file."""
    import math

    score = 0.0
    for epoch in range(1, 4):
        score = 1 - (math.log10(params["lr"]) + 2) ** 2 / 10 - params["wd"] * epoch
        trial.report(epoch, {"score": score})
        if trial.should_prune():
            raise TrialPruned
    weights = Path(trial.workdir) / "weights.bin"
    weights.write_bytes(b"\x00" * 16)
    trial.add_artifact(weights)
    return {"score": score}


def test_a_python_objective_is_tuned_pruned_and_sealed(hyperseal_env: Path) -> None:
    key = generate_key_file(hyperseal_env / "k.key")
    run = hyperseal_env / "run"
    options = ObjectiveOptions(
        _space(hyperseal_env),
        objective=quadratic,
        epochs=3,
        settings=StudySettings(budget=10, fitness="score", pruner="median"),
    )
    outcome = tune_objective(options, key, run)
    statuses = [t.status for t in outcome.result.trials]
    assert len(statuses) == 10 and "pruned" in statuses and "failed" not in statuses
    assert sorted(p.name for p in (run / "best").iterdir()) == ["metrics.json", "weights.bin"]
    entry = Vault.open(run / "vault.hsv", key).get("run")
    assert entry["config"] == outcome.best.params and entry["objective"]["kind"] == "python"
    assert "weights.bin" in entry["artifacts_sha256"]
    frame = load_results(run, key)
    assert plaintext_values(run, _values(frame)) == []


def loss(params: dict, trial) -> float:  # type: ignore[no-untyped-def]
    return (params["lr"] - 0.3) ** 2 + params["wd"]


def test_minimize_a_float_returning_objective(hyperseal_env: Path) -> None:
    key = generate_key_file(hyperseal_env / "k.key")
    options = ObjectiveOptions(
        _space(hyperseal_env),
        objective=loss,
        settings=StudySettings(budget=12, fitness="loss", direction="minimize", pruner="none"),
    )
    outcome = tune_objective(options, key, hyperseal_env / "run")
    best = outcome.best
    assert best is not None and best.metrics["loss"] == min(
        t.metrics["loss"] for t in outcome.result.trials
    )
    assert best.fitness == -best.metrics["loss"]  # higher fitness is always better
    assert not (hyperseal_env / "run" / "best").exists()  # nothing declared


def test_objective_errors_are_one_line(hyperseal_env: Path, tmp_path: Path) -> None:
    space = _space(tmp_path)
    (tmp_path / "broken.py").write_text("import no_such_module_here\n")
    (tmp_path / "reads.py").write_text(
        "def objective(params, trial):\n    return {'mAP': params['momentum']}\n"
    )
    (tmp_path / "ignores.py").write_text(
        "def objective(params, trial):\n    return {'mAP': params['lr']}\n"
    )
    cases = [
        (["--objective", tmp_path / "nope.py:objective"], "there is no file"),
        (["--objective", f"{tmp_path / 'broken.py'}:objective"], "raised ModuleNotFoundError"),
        (["--objective", f"{tmp_path / 'broken.py'}"], "is not FILE.py:FUNCTION"),
        (
            ["--objective", f"{tmp_path / 'reads.py'}:objective"],
            "read parameter 'momentum', which the search space does not define",
        ),
        (
            ["--objective", f"{tmp_path / 'ignores.py'}:objective"],
            "never read searched parameter(s) wd",
        ),
        (["--objective", "x.py:f", "--data", "synthetic"], "--data configure the built-in"),
    ]
    for n, (extra, text) in enumerate(cases):
        code, out = _cli("tune", "--space", space, "--out", tmp_path / f"run{n}", *extra)
        lines = [line for line in out.splitlines() if line.startswith("error:")]
        assert code != 0 and len(lines) == 1 and text in lines[0], out
        assert "Traceback" not in out
    code, out = _cli("tune", "--objective", "x.py:f", "--out", tmp_path / "r")
    assert code == 3 and "--space is required" in out


# -- commands ------------------------------------------------------------------------------

PROGRAM = """\
import json, math, os, sys, time
config_path = sys.argv[sys.argv.index("--config") + 1]
config = json.load(open(config_path))
report = {
    "argv": sys.argv, "env": os.environ["HYPERSEAL_CONFIG"], "cwd": os.getcwd(),
    "mode": oct(os.stat(config_path).st_mode & 0o777),
    "dir_mode": oct(os.stat(os.getcwd()).st_mode & 0o777),
}
open(os.environ["SEEN_DIR"] + "/trial-" + os.environ["HYPERSEAL_TRIAL"] + ".json", "w").write(
    json.dumps(report))
with open("args.yaml", "w") as f:  # as Ultralytics does: its own copy of the config
    f.write(json.dumps(config))
with open(os.environ["HYPERSEAL_METRICS"], "a") as out:
    for epoch in range(1, 4):
        score = 1 - (math.log10(config["lr"]) + 2) ** 2 / 10 - config["wd"] * epoch
        out.write(json.dumps({"epoch": epoch, "score": score}) + "\\n")
        out.flush()
os.makedirs("out", exist_ok=True)
open("out/model.bin", "wb").write(b"\\1" * 8)
"""


def test_a_command_gets_its_config_in_a_private_file_never_on_argv(
    hyperseal_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _program_folder(tmp_path, monkeypatch)
    run = tmp_path / "run"
    code, out = _cli(
        "tune",
        "--command",
        f"{sys.executable} train.py --config {{config}}",
        "--space",
        _space(tmp_path),
        "--fitness",
        "score",
        "--budget",
        "4",
        "--epochs",
        "3",
        "--pruner",
        "none",
        "--artifact",
        "out/model.bin",
        "--out",
        run,
    )
    assert code == 0, out
    assert "4 trials (4 ok" in out and f"best trial's artifacts in {run / 'best'}" in out
    reports = [json.loads(p.read_text()) for p in sorted(seen.iterdir())]
    assert len(reports) == 4
    for r in reports:
        config_arg = r["argv"][r["argv"].index("--config") + 1]
        assert config_arg == r["env"] and config_arg.endswith("config.json")
        assert r["mode"] == "0o600" and r["dir_mode"] == "0o700"
        assert not Path(r["cwd"]).exists()  # the private folder is gone after the trial
    assert sorted(p.name for p in (run / "best").iterdir()) == ["metrics.json", "model.bin"]
    frame = load_results(run, KeyFile(hyperseal_env / "home" / "key"))
    assert plaintext_values(run, _values(frame)) == []


def test_a_kept_artifact_holding_a_searched_value_is_warned_about(
    hyperseal_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _program_folder(tmp_path, monkeypatch)
    code, out = _cli(
        "tune",
        "--command",
        f"{sys.executable} train.py --config {{config}}",
        "--space",
        _space(tmp_path),
        "--fitness",
        "score",
        "--budget",
        "2",
        "--pruner",
        "none",
        "--artifact",
        "args.yaml",
        "--out",
        tmp_path / "run",
    )
    assert code == 0, out
    assert "warning: best/args.yaml holds the value of searched parameter(s) lr, wd" in out
    summary = json.loads((tmp_path / "run" / "run.json").read_text())["summary"]
    assert summary["warnings"] and "0.0" not in json.dumps(summary["warnings"])


def test_yaml_config_and_a_csv_metrics_file(
    hyperseal_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train.py").write_text(
        textwrap.dedent("""\
        import os, sys, yaml
        config = yaml.safe_load(open(sys.argv[1]))
        assert os.environ["HYPERSEAL_CONFIG"] == sys.argv[1] and sys.argv[1].endswith(".yaml")
        os.makedirs("runs/detect/train")
        with open("runs/detect/train/results.csv", "w") as f:
            f.write("  epoch,  metrics/mAP50-95(B), lr/pg0\\n")
            for epoch in (1, 2):
                f.write(f"  {epoch}, {1 - abs(config['lr'] - 0.1) / epoch}, 0.5\\n")
        """)
    )
    monkeypatch.chdir(tmp_path)
    code, out = _cli(
        "tune",
        "--command",
        f"{sys.executable} train.py {{config.yaml}}",
        "--space",
        _space(tmp_path),
        "--metrics-file",
        "runs/detect/train/results.csv",
        "--metric",
        "metrics/mAP50-95(B)",
        "--budget",
        "3",
        "--epochs",
        "2",
        "--pruner",
        "none",
        "--out",
        tmp_path / "run",
    )
    assert code == 0, out
    frame = load_results(tmp_path / "run", KeyFile(hyperseal_env / "home" / "key"))
    assert list(frame["status"]) == ["ok", "ok", "ok"]
    assert all(len(c) == 2 for c in frame["curve"])


@pytest.mark.parametrize(
    ("program", "fragment"),
    [
        (
            "import sys; print('lr was 0.0123457', file=sys.stderr); sys.exit(2)",
            "command exited with code 2: lr was …",
        ),
        (
            "import os; open(os.environ['HYPERSEAL_METRICS'], 'a').write('score: 1\\n')",
            "line 1 of $HYPERSEAL_METRICS is not JSON",
        ),
        (
            "import os; open(os.environ['HYPERSEAL_METRICS'], 'a').write('{\"acc\": 1}\\n')",
            "fitness needs metric 'score', which the trial did not report; reported: acc",
        ),
        ("pass", "reported no metrics"),
    ],
)
def test_a_failing_command_stops_the_run_with_one_line(
    hyperseal_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    program: str,
    fragment: str,
) -> None:
    (tmp_path / "train.py").write_text(program)
    monkeypatch.chdir(tmp_path)
    code, out = _cli(
        "tune",
        "--command",
        f"{sys.executable} train.py",
        "--space",
        _space(tmp_path),
        "--fitness",
        "score",
        "--budget",
        "6",
        "--out",
        tmp_path / "run",
    )
    lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert code == 3 and len(lines) == 1, out
    assert "the first 3 trials all failed" in lines[0] and fragment in lines[0], out
    assert "0.0123457" not in out
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"


def test_a_command_not_found_is_one_line(hyperseal_env: Path, tmp_path: Path) -> None:
    code, out = _cli(
        "tune",
        "--command",
        "no-such-trainer --config {config}",
        "--space",
        _space(tmp_path),
        "--out",
        tmp_path / "run",
    )
    assert code == 3 and out.strip().count("\n") == 0
    assert "program 'no-such-trainer' was not found on PATH" in out
    assert not (tmp_path / "run").exists()


def test_a_timed_out_trial_has_its_process_group_stopped(tmp_path: Path) -> None:
    from tuner.objectives.command import CommandObjective, TrialTimeoutError
    from tuner.search.trial import TrialContext

    pids = tmp_path / "pids"
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(f"""\
        import subprocess, time
        child = subprocess.Popen(["sleep", "30"])
        open({str(pids)!r}, "w").write(str(child.pid))
        time.sleep(30)
        """)
    )
    objective = CommandObjective((sys.executable, str(script)), timeout=1.0, grace=1.0)
    started = time.monotonic()
    with pytest.raises(TrialTimeoutError, match="trial timeout"):
        objective({"lr": 0.1}, TrialContext(0))
    assert time.monotonic() - started < 10
    child = int(pids.read_text())
    time.sleep(0.2)
    assert not _running(child)  # the program's own child was stopped with it


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no parent has reaped yet does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_pruned_command_is_stopped_and_recorded_as_pruned(tmp_path: Path) -> None:
    from tuner.objectives.command import CommandObjective
    from tuner.search.fitness import Fitness
    from tuner.search.pruning import PruneRule
    from tuner.search.trial import TrialContext

    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent("""\
        import json, os, time
        with open(os.environ["HYPERSEAL_METRICS"], "a") as out:
            out.write(json.dumps({"epoch": 1, "mAP": 0.01}) + "\\n")
        time.sleep(30)
        """)
    )
    rule = PruneRule("median", {1: (0.5, 0.6, 0.7)}, min_trials=3)
    trial = TrialContext(0, Fitness.parse("mAP"), rule)
    started = time.monotonic()
    metrics = CommandObjective((sys.executable, str(script)), grace=1.0)({}, trial)
    assert trial.pruned and metrics == {"mAP": 0.01}
    assert time.monotonic() - started < 10


def test_config_file_is_private(tmp_path: Path) -> None:
    from tuner.objectives.command import CommandObjective
    from tuner.search.trial import TrialContext

    script = tmp_path / "mode.py"
    script.write_text(
        textwrap.dedent("""\
        import json, os, stat
        mode = stat.S_IMODE(os.stat(os.environ["HYPERSEAL_CONFIG"]).st_mode)
        open(os.environ["HYPERSEAL_METRICS"], "a").write(json.dumps({"mode": mode}))
        """)
    )
    metrics = CommandObjective((sys.executable, str(script)))({"lr": 0.1}, TrialContext(0))
    assert int(metrics["mode"]) == stat.S_IRUSR | stat.S_IWUSR


def test_kill_resume_and_report_leave_no_searched_value_in_plaintext(
    hyperseal_env: Path, tmp_path: Path
) -> None:
    """The whole story for a command: tune, SIGKILL mid-run, resume, report."""

    (tmp_path / "train.py").write_text(PROGRAM)
    seen = tmp_path / "seen"
    seen.mkdir()
    run = tmp_path / "run"
    env = {**os.environ, "SEEN_DIR": str(seen)}
    command = f"{sys.executable} train.py --config {{config}}"
    args = [
        "tune",
        "--command",
        command,
        "--space",
        str(_space(tmp_path)),
        "--fitness",
        "score",
        "--epochs",
        "3",
        "--out",
        str(run),
    ]
    driver = kill_tune_when(
        [*args, "--budget", "30"], lambda: len(list(seen.iterdir())) >= 4, cwd=tmp_path, env=env
    )
    assert json.loads((run / "run.json").read_text())["status"] == "running"

    code, out = _cli("tune", "--resume", run, "--budget", "8")
    assert code == 0, out
    # The killed driver's trial folder (its config in plaintext) was swept by the resumed run.
    import tempfile

    assert not list(Path(tempfile.gettempdir()).glob(f"hyperseal-trial-{driver.pid}-*"))
    key = KeyFile(hyperseal_env / "home" / "key")
    frame = load_results(run, key)
    assert len(frame) == 8 and sorted(frame["number"]) == list(range(len(frame)))
    code, out = _cli("report", "tune", run, "--redact")
    assert code == 0, out
    report = (run / "report-redacted.md").read_text()
    assert "Objective" in report and "command" in report and "Model" not in report
    assert plaintext_values(run, _values(frame)) == []


OBJECTIVE_FILE = """\
import math

def objective(params, trial):
    score = 1 - (math.log10(params["lr"]) + 2) ** 2 / 10 - params["wd"]
    trial.report(1, {"score": score})
    return {"score": score}
"""


def test_a_file_objective_runs_in_worker_processes_and_resumes(
    hyperseal_env: Path, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(OBJECTIVE_FILE)
    run = tmp_path / "run"
    common = ["--space", _space(tmp_path), "--fitness", "score", "--epochs", "1"]
    code, out = _cli(
        "tune",
        "--objective",
        f"{tmp_path / 'train.py'}:objective",
        *common,
        "--budget",
        "4",
        "--workers",
        "2",
        "--out",
        run,
    )
    assert code == 0, out
    assert "4 trials (4 ok" in out and "2 workers" in out
    code, out = _cli("tune", "--resume", run, "--budget", "6")
    assert code == 0, out
    frame = load_results(run, KeyFile(hyperseal_env / "home" / "key"))
    assert sorted(frame["number"]) == list(range(6)) and set(frame["status"]) == {"ok"}
    info = json.loads((run / "run.json").read_text())
    assert info["objective"] == {"kind": "python", "ref": f"{tmp_path / 'train.py'}:objective"}


def only_lr(params: dict, trial) -> dict:  # type: ignore[no-untyped-def]
    """Depends on lr alone; wd and flavor are read but change nothing."""
    import math

    _ = params["wd"], params["flavor"]
    return {"score": 1 - (math.log10(params["lr"]) + 2) ** 2}


def test_importance_and_freezing_work_for_a_python_objective(hyperseal_env: Path) -> None:
    space = _space(
        hyperseal_env, SPACE + "flavor: {type: choice, choices: [a, b, c], default: a}\n"
    )
    options = ObjectiveOptions(
        space,
        objective=only_lr,
        settings=StudySettings(
            budget=16,
            fitness="score",
            pruner="none",
            freeze_unimportant=True,
            freeze_after=10,
            freeze_threshold=0.2,
        ),
    )
    outcome = tune_objective(
        options, generate_key_file(hyperseal_env / "k.key"), hyperseal_env / "r"
    )
    importance = outcome.result.importance
    assert importance is not None and importance.iloc[0]["param"] == "lr"
    assert outcome.result.frozen and "lr" not in outcome.result.frozen


@pytest.mark.slow  # a Dask local cluster takes seconds to start
def test_a_command_runs_on_a_dask_local_cluster(
    hyperseal_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _program_folder(tmp_path, monkeypatch)
    code, out = _cli(
        "tune",
        "--command",
        f"{sys.executable} train.py --config {{config}}",
        "--space",
        _space(tmp_path),
        "--fitness",
        "score",
        "--budget",
        "4",
        "--epochs",
        "3",
        "--pruner",
        "none",
        "--workers",
        "2",
        "--executor",
        "dask-local",
        "--artifact",
        "out/model.bin",
        "--out",
        tmp_path / "run",
    )
    assert code == 0, out
    assert "4 trials (4 ok" in out and (tmp_path / "run" / "best" / "model.bin").is_file()


def test_orphaned_trial_folders_are_swept(tmp_path: Path) -> None:
    import subprocess

    from tuner.objectives.workdir import sweep_orphans

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = tmp_path / f"hyperseal-trial-{gone.stdout.strip()}-3-abc"
    orphan.mkdir()
    (orphan / "config.json").write_text('{"lr": 0.0123457}')
    mine = tmp_path / f"hyperseal-trial-{os.getpid()}-4-abc"
    mine.mkdir()
    assert sweep_orphans(tmp_path) == [orphan]
    assert not orphan.exists() and mine.exists()
