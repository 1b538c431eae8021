from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tuner.main import app
from tuner.search.executors import slot_devices
from tuner.tune import TuneOptions, load_journal, load_results
from tuner.vault import KeyFile, Vault

TINY = ["--images", "24", "--image-size", "64", "--epochs", "2"]


def _tune(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["tune", *TINY, *args])
    return result.exit_code, result.output


def _key(env: Path) -> KeyFile:
    return KeyFile(env / "home" / "key")


def test_tune_end_to_end_seals_everything(hyperseal_env: Path) -> None:
    run = hyperseal_env / "run"
    code, out = _tune(["--budget", "3", "--out", str(run)])
    assert code == 0, out
    assert "3 trials" in out and "best config sealed in" in out
    assert {p.name for p in run.iterdir()} >= {"run.json", "journal.hsj", "vault.hsv", "best"}
    assert (run / "best" / "weights.safetensors").exists()
    manifest = json.loads((run / "best" / "manifest.json").read_text())
    assert manifest["model"]["arch"] == "fcos"
    assert "lr" not in json.dumps(manifest)

    frame = load_results(run, _key(hyperseal_env))
    assert len(frame) == 3 and set(frame["status"]) <= {"ok", "pruned", "failed"}
    entry = Vault.open(run / "vault.hsv", _key(hyperseal_env)).get("run")
    assert entry["weights_sha256"] == manifest["weights_sha256"]
    assert entry["config"]["lr"] in set(frame["param_lr"])

    # No tuned value in plaintext anywhere in the run folder (distinctive values: 4+ digits).
    blobs = b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())
    checked = 0
    for name in ("lr", "weight_decay", "momentum", "warmup_epochs", "hflip"):
        for value in frame[f"param_{name}"]:
            text = repr(float(value))
            if len(text.replace("0.", "").replace("e-", "")) >= 4:
                checked += 1
                # The whole number, not a prefix of another (0.0001 in 0.000107...).
                whole = re.compile(rb"(?<![0-9.])" + re.escape(text.encode()) + rb"(?![0-9])")
                assert not whole.search(blobs), (name, value)
    assert checked >= 3


def test_export_is_the_only_way_to_plaintext(hyperseal_env: Path) -> None:
    run = hyperseal_env / "run"
    code, out = _tune(["--budget", "2", "--out", str(run), "--export"])
    assert code == 0, out
    exported = (run / "export" / "best_config.yaml").read_text()
    assert "lr:" in exported
    assert (run / "export" / "trials.csv").read_text().startswith("number,")
    # Plaintext on request only, private to the user, and announced.
    export = run / "export"
    for path in (export, export / "best_config.yaml", export / "trials.csv"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert "PLAINTEXT" in out and "NOT encrypted" in out


def test_resume_takes_a_larger_budget_and_keeps_the_run_time(hyperseal_env: Path) -> None:
    run = hyperseal_env / "run"
    code, out = _tune(["--budget", "2", "--out", str(run), "--epochs", "1"])
    assert code == 0, out
    first = json.loads((run / "run.json").read_text())["summary"]["seconds"]
    assert first > 0
    result = CliRunner().invoke(app, ["tune", "--resume", str(run), "--budget", "3"])
    assert result.exit_code == 0, result.output
    assert "3 trials" in result.output
    default_line = next(x for x in result.output.splitlines() if x.startswith("default config"))
    # Trial 0 is replayed from the journal: its metrics print in a new run's order.
    assert default_line.index(" mAP=") < default_line.index("mAP75=") < default_line.index("AR100")
    assert len(load_results(run, _key(hyperseal_env))) == 3
    info = json.loads((run / "run.json").read_text())
    assert info["budget"] == 3 and info["summary"]["seconds"] > first


def test_a_detector_run_warm_starts_from_an_earlier_one_and_resumes(hyperseal_env: Path) -> None:
    from tuner.engine.warm import warm_configs
    from tuner.search.space import default_space
    from tuner.search.trial import TrialResult

    earlier, run = hyperseal_env / "earlier", hyperseal_env / "run"
    common = ["--epochs", "1", "--pruner", "none"]
    code, out = _tune(["--budget", "2", "--out", str(earlier), *common])
    assert code == 0, out
    records = load_journal(earlier, _key(hyperseal_env))
    trials = [TrialResult.from_record(r) for r in records if r["type"] == "trial"]
    expected = warm_configs(trials, default_space(1), 1)
    code, out = _tune(["--budget", "2", "--out", str(run), "--warm-start", str(earlier), *common])
    assert code == 0, out
    assert "warm start: 1 config from 1 earlier run" in out
    frame = load_results(run, _key(hyperseal_env))
    params = [c for c in frame.columns if c.startswith("param_")]
    assert {c[6:]: frame.loc[1, c] for c in params} == expected[0]
    result = CliRunner().invoke(app, ["tune", "--resume", str(run), "--budget", "3"])
    assert result.exit_code == 0, result.output
    assert len(load_results(run, _key(hyperseal_env))) == 3


def test_resume_refuses_a_budget_below_the_finished_trials(hyperseal_env: Path) -> None:
    run = hyperseal_env / "run"
    code, out = _tune(["--budget", "2", "--out", str(run), "--epochs", "1"])
    assert code == 0, out
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for budget, fragment in (
        ("1", "--budget 1 is below the 2 trials this run has finished"),
        ("0", "--budget must be 1 or more"),
        ("-1", "--budget must be 1 or more"),
    ):
        result = CliRunner().invoke(app, ["tune", "--resume", str(run), "--budget", budget])
        _refused(result.exit_code, result.output, fragment)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_resume_refuses_settings_it_would_ignore(hyperseal_env: Path) -> None:
    run = hyperseal_env / "run"
    code, out = _tune(["--budget", "1", "--out", str(run), "--epochs", "1"])
    assert code == 0, out
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = CliRunner().invoke(
        app, ["tune", "--resume", str(run), "--model", "retinanet", "--epochs", "3"]
    )
    assert result.exit_code == 3, result.output
    assert "drop --epochs, --model" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_tune_refuses_to_overwrite_a_run(hyperseal_env: Path) -> None:
    run = hyperseal_env / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    code, out = _tune(["--budget", "1", "--out", str(run)])
    assert code == 3
    assert "not empty" in out and (run / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--optimizer", "Nope"], "unknown optimizer 'Nope'"),
        (["--pruner", "hyperband"], "pruner 'hyperband' is unknown"),
        (["--reduction", "1"], "reduction factor must be 2 or more"),
        (["--fitness", "2**mAP"], "not a weighted sum"),
        (["--data", "/does/not/exist"], "/does/not/exist"),
        (["--model", "yolo"], "unknown architecture 'yolo'"),
        (["--device", "gpu"], "unknown device 'gpu'; use auto, cpu, cuda or cuda:N"),
        (
            ["--executor", "dask://"],
            "--executor 'dask://': the scheduler address must be HOST:PORT",
        ),
        (["--executor", "tcp://host"], "the scheduler address must be HOST:PORT"),
        (
            ["--optimizer", "DifferentialEvolution", "--optimizer-option", "popsize=-1"],
            "bad --optimizer-option for DifferentialEvolution: popsize=-1 refused",
        ),
        (
            ["--optimizer", "DifferentialEvolution", "--optimizer-option", "crossover=xyz"],
            "bad --optimizer-option for DifferentialEvolution: crossover='xyz' refused",
        ),
        (
            ["--optimizer", "ConfPSO", "--optimizer-option", "transform=foo"],
            "bad --optimizer-option for ConfPSO: transform='foo' refused",
        ),
        (
            ["--optimizer", "ParametrizedCMA", "--optimizer-option", "scale=abc"],
            "bad --optimizer-option for ParametrizedCMA: scale='abc' refused",
        ),
        (
            ["--optimizer", "ParametrizedCMA", "--optimizer-option", "popsize=0"],
            "bad --optimizer-option for ParametrizedCMA: popsize=0 refused",
        ),
        (
            ["--optimizer", "ParametrizedOnePlusOne", "--optimizer-option", "noise_handling=zzz"],
            "bad --optimizer-option for ParametrizedOnePlusOne: noise_handling='zzz' refused",
        ),
        (
            [
                "--optimizer",
                "ExploringDualRecombiningDiscreteLognormalOnePlusOne",
                "--optimizer-option",
                "patience=[1",
            ],
            "--optimizer-option 'patience=[1': '[1' is not",
        ),
        (["--fitness", "foo"], "no metric 'foo'; the detector reports mAP, mAP50, mAP75, AR100"),
        (["--fitness", "mAP+0.1*AR1"], "no metric 'AR1'"),
        (["--repair"], "--repair only applies with --resume"),
        (["--trials-per-gpu", "0"], "--trials-per-gpu must be 1 or more"),
        (["--epochs", "0"], "error: --epochs must be 1 or more"),
        (["--space", "."], "search space file . is a folder, not a YAML file"),
    ],
)
def test_bad_options_are_one_line(hyperseal_env: Path, args: list[str], fragment: str) -> None:
    code, out = _tune(["--budget", "1", "--out", str(hyperseal_env / "r"), *args])
    assert code != 0
    assert fragment in out
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) <= 2
    assert not (hyperseal_env / "r").exists()  # refused before anything was written


def test_a_space_file_without_epochs_is_named_in_its_errors(
    hyperseal_env: Path, tmp_path: Path
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("warmup_epochs: {type: float, low: 0, high: 10, default: 0}\n")
    code, out = _tune(["--budget", "1", "--out", str(hyperseal_env / "r"), "--space", str(space)])
    assert code != 0 and "Traceback" not in out
    assert f"search space {space}: parameter 'warmup_epochs' reaches 10.0" in out
    assert not (hyperseal_env / "r").exists()


def _refused(code: int, out: str, fragment: str) -> None:
    """Refused with exit code 3 and the error in one line, without a traceback."""
    assert code == 3, out
    assert fragment in out and "Traceback" not in out
    assert len([line for line in out.splitlines() if "error" in line]) == 1, out


def test_out_that_is_a_file_is_refused(hyperseal_env: Path) -> None:
    (hyperseal_env / "exists.txt").write_text("mine")
    code, out = _tune(["--budget", "1", "--out", str(hyperseal_env / "exists.txt")])
    _refused(code, out, "exists.txt is a file, not a folder; pick a folder path")
    code, out = _tune(["--budget", "1", "--out", str(hyperseal_env / "exists.txt" / "run")])
    _refused(code, out, "exists.txt, a file, not a folder")
    assert (hyperseal_env / "exists.txt").read_text() == "mine"


def test_out_dot_names_the_entry_after_the_folder(
    hyperseal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = hyperseal_env / "dot-run"
    run.mkdir()
    monkeypatch.chdir(run)
    code, out = _tune(["--budget", "1", "--epochs", "1", "--out", "."])
    assert code == 0, out
    assert "entry 'dot-run'" in out
    assert "dot-run" in Vault.open(run / "vault.hsv", _key(hyperseal_env))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_under_a_read_only_folder_is_refused(hyperseal_env: Path) -> None:
    locked = hyperseal_env / "locked"
    locked.mkdir(mode=0o500)
    try:
        code, out = _tune(["--budget", "1", "--out", str(locked / "a" / "run")])
    finally:
        locked.chmod(0o700)
    _refused(code, out, "cannot write in " + str(locked))
    assert not any(locked.iterdir())


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_out_that_cannot_be_created_is_one_line(hyperseal_env: Path) -> None:
    code, out = _tune(["--budget", "1", "--out", "/proc/hyperseal-test/run"])
    _refused(code, out, "run folder /proc/hyperseal-test/run: cannot write in /proc")


def test_a_wrong_key_for_the_vault_leaves_no_run_folder(hyperseal_env: Path) -> None:
    from tuner.vault import generate_key_file

    vault = hyperseal_env / "shared.hsv"
    Vault.create(vault, generate_key_file(hyperseal_env / "other.key"))
    before = vault.read_bytes()
    generate_key_file(hyperseal_env / "mine.key")
    run = hyperseal_env / "new" / "run"
    code, out = _tune(
        [
            "--budget",
            "1",
            "--out",
            str(run),
            "--vault",
            str(vault),
            "--key-file",
            str(hyperseal_env / "mine.key"),
        ]
    )
    assert code == 11, out
    assert "Traceback" not in out
    assert not (hyperseal_env / "new").exists()  # neither the run folder nor its parent
    assert vault.read_bytes() == before


def test_a_new_run_never_replaces_an_entry_of_its_vault(hyperseal_env: Path) -> None:
    from tuner.vault import generate_key_file

    key = generate_key_file(hyperseal_env / "mine.key")
    vault = hyperseal_env / "shared.hsv"
    Vault.create(vault, key).put("best", {"kind": "tuning-result", "fitness": 0.5})
    before = vault.read_bytes()
    run = hyperseal_env / "run"
    key_file = str(hyperseal_env / "mine.key")
    code, out = _tune(
        [
            "--budget",
            "1",
            "--out",
            str(run),
            "--vault",
            str(vault),
            "--entry",
            "best",
            "--key-file",
            key_file,
        ]
    )
    _refused(code, out, f"vault {vault} already has an entry 'best'; pick another --entry")
    assert vault.read_bytes() == before and not run.exists()


def test_resuming_a_copied_run_writes_only_the_copy(
    hyperseal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    monkeypatch.chdir(hyperseal_env)
    code, out = _tune(["--budget", "1", "--out", "orig", "--epochs", "1"])  # a relative --out
    assert code == 0, out
    assert json.loads(Path("orig/run.json").read_text())["vault"] == "vault.hsv"
    shutil.copytree("orig", "copy")
    shutil.copytree("orig", "moved")
    original = Path("orig/vault.hsv").read_bytes()
    copied = Vault.open(Path("copy/vault.hsv"), _key(hyperseal_env)).get("orig")

    elsewhere = hyperseal_env / "elsewhere"
    elsewhere.mkdir()
    # From where the original ran (a cwd-relative path would lead there) and from elsewhere.
    for name, cwd in (("copy", hyperseal_env), ("moved", elsewhere)):
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(
            app, ["tune", "--resume", str(hyperseal_env / name), "--budget", "2"]
        )
        assert result.exit_code == 0, result.output
        entry = Vault.open(hyperseal_env / name / "vault.hsv", _key(hyperseal_env)).get("orig")
        assert entry["journal"] != copied["journal"]  # the copy's vault got the new result
        assert len(load_results(hyperseal_env / name, _key(hyperseal_env))) == 2
        assert json.loads((hyperseal_env / name / "run.json").read_text())["status"] == "finished"
    assert (hyperseal_env / "orig" / "vault.hsv").read_bytes() == original


def test_summary_names_no_best_model_when_every_trial_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tuner.search.study import StudyResult
    from tuner.search.trial import FAILED, TrialResult
    from tuner.tune import TuneOutcome
    from tuner.tune_cli import _print_summary

    trials = [TrialResult(n, {}, FAILED, float("nan"), {}, 0, 0.1, error="boom") for n in range(2)]
    result = StudyResult(trials, None, {}, 1.0, 0, 2)
    _print_summary(TuneOutcome(tmp_path, result, tmp_path / "vault.hsv", "run"), None)
    out = capsys.readouterr().out
    assert "best model in" not in out and "best config sealed" not in out
    assert "no best model: every trial failed" in out
    assert "no best config; the run's record sealed in" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA")
def test_cuda_asked_for_without_cuda_is_refused_up_front(hyperseal_env: Path) -> None:
    code, out = _tune(["--budget", "1", "--out", str(hyperseal_env / "r"), "--device", "cuda"])
    assert code == 3 and "CUDA is not available here; use cpu or auto" in out
    assert len(out.strip().splitlines()) == 1 and not (hyperseal_env / "r").exists()


def test_device_cpu_shares_the_cores_out() -> None:
    devices, threads = slot_devices(2, trials_per_gpu=4, device="cpu")
    assert devices == ["cpu", "cpu"] and threads == max(1, (os.cpu_count() or 1) // 2)


def test_list_optimizers() -> None:
    result = CliRunner().invoke(app, ["tune", "--list-optimizers"])
    assert result.exit_code == 0
    assert "evolutionary: OnePlusOne, DE, TwoPointsDE, CMA, PSO, NGOpt" in result.output
    assert "bayesian:     BO, ParametrizedBO" in result.output
    assert "default: RecentringDualRecombiningDiscreteLognormalOnePlusOne" in result.output
    composed = "composed:     RecentringDualRecombiningDiscreteLognormalOnePlusOne, DualRecomb"
    assert composed in result.output
    assert "(--optimizer-option KEY=VALUE): ParametrizedBO, ParametrizedCMA," in result.output
    assert "ConfPSO, ParametrizedOnePlusOne, ExploringDual" in result.output


@pytest.mark.parametrize("flag", ["export", "repair", "list-optimizers", "freeze-unimportant"])
def test_off_by_default_switches_are_single_flags(flag: str) -> None:
    """A switch that is off unless given has no --no- twin (as --force, --json, --redact)."""
    assert CliRunner().invoke(app, ["tune", f"--no-{flag}"]).exit_code == 2  # click: no such option
    help_text = CliRunner().invoke(app, ["tune", "--help"], env={"COLUMNS": "200"}).output
    assert f"--{flag}" in help_text and f"--no-{flag}" not in help_text


def test_sigkill_midway_then_resume_loses_and_repeats_nothing(hyperseal_env: Path) -> None:
    run = hyperseal_env / "run"
    cmd = [
        sys.executable,
        "-m",
        "tuner.main",
        "tune",
        *TINY,
        "--budget",
        "6",
        "--out",
        str(run),
        "--pruner",
        "none",
    ]
    proc = subprocess.Popen(
        cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    key_path = hyperseal_env / "home" / "key"
    deadline = time.monotonic() + 240
    finished: list[dict] = []
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if key_path.exists() and (run / "journal.hsj").exists():
            try:
                finished = [r for r in load_journal(run, KeyFile(key_path)) if r["type"] == "trial"]
            except Exception:
                continue
            if len(finished) >= 2:
                break
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = [r for r in load_journal(run, KeyFile(key_path)) if r["type"] == "trial"]
    assert 2 <= len(before) < 6

    code, out = CliRunner().invoke(app, ["tune", "--resume", str(run), "--repair"]).exit_code, ""
    assert code == 0, out
    after = [r for r in load_journal(run, KeyFile(key_path)) if r["type"] == "trial"]
    numbers = [r["number"] for r in after]
    assert len(after) == 6 and len(set(numbers)) == 6
    assert after[: len(before)] == before
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_sigterm_stops_like_ctrl_c_and_leaves_no_worker_behind(hyperseal_env: Path) -> None:
    psutil = pytest.importorskip("psutil")
    run = hyperseal_env / "run"
    cmd = [
        sys.executable,
        "-m",
        "tuner.main",
        "tune",
        *TINY,
        "--budget",
        "20",
        "--out",
        str(run),
        "--pruner",
        "none",
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    key_path = hyperseal_env / "home" / "key"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if key_path.exists() and (run / "journal.hsj").exists():
            try:
                records = load_journal(run, KeyFile(key_path))
            except Exception:
                continue
            if any(r["type"] == "trial" for r in records):
                break
    assert proc.poll() is None, "the run ended before it could be terminated"
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert b"run again with --resume" in err and b"Traceback" not in err
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


def test_cutting_whole_records_off_the_journal_is_detected(hyperseal_env: Path) -> None:
    """The journal proves its own end: no cut reads as a shorter journal. An older copy of
    the whole journal (which had its own end) is caught by the checkpoint in the run's
    vault, whatever run.json names."""
    from tuner.vault import JournalDroppedError, SealedJournal, TamperedError, VaultError

    run = hyperseal_env / "run"
    code, out = _tune(["--budget", "2", "--out", str(run), "--epochs", "1"])
    assert code == 0, out
    key = _key(hyperseal_env)
    records = load_journal(run, key)
    older = (run / "journal.hsj").read_bytes()
    for cut in range(len(older) - 1, 0, -7):
        (run / "journal.hsj").write_bytes(older[:cut])
        with pytest.raises(VaultError):
            SealedJournal.open(run / "journal.hsj", key, writable=False).read()
    (run / "journal.hsj").write_bytes(older)
    resumed = CliRunner().invoke(app, ["tune", "--resume", str(run), "--budget", "3"])
    assert resumed.exit_code == 0, resumed.output
    assert len(load_journal(run, key)) == len(records) + 1
    (run / "journal.hsj").write_bytes(older)  # a rollback of the journal alone
    with pytest.raises(JournalDroppedError, match="older copy"):
        load_journal(run, key)
    # run.json is plaintext: naming another entry there must not switch the check off
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "entry": "no-such-entry"}))
    with pytest.raises(JournalDroppedError):
        load_journal(run, key)
    # nor may a damaged vault: it is reported, not taken for "no checkpoint"
    vault = bytearray((run / "vault.hsv").read_bytes())
    vault[-5] ^= 0x01
    (run / "vault.hsv").write_bytes(bytes(vault))
    with pytest.raises(TamperedError):
        load_journal(run, key)


def test_the_printed_hints_carry_the_key_option_they_need(hyperseal_env: Path) -> None:
    import shlex

    run, key = hyperseal_env / "run", hyperseal_env / "team.key"
    code, out = _tune(["--budget", "1", "--epochs", "1", "--out", str(run), "--key-file", str(key)])
    assert code == 0, out
    hints = {
        line.split(":", 1)[0]: line.split(":", 1)[1]
        for line in out.splitlines()
        if line.startswith(("see it:", "report:"))
    }
    assert hints["see it"].endswith(f"--key-file {key}")
    report = shlex.split(hints["report"])
    assert report[:3] == ["hyperseal", "report", "tune"]
    result = CliRunner().invoke(app, report[1:])
    assert result.exit_code == 0, result.output


def test_failure_reasons_in_plaintext_quote_no_value() -> None:
    """An error may quote the value that broke a trial: run.json and the terminal get it
    masked, the sealed journal keeps it whole."""
    import math

    from tuner.engine.folder import run_summary
    from tuner.search.study import StudyResult
    from tuner.search.trial import TrialResult

    broke = TrialResult(
        number=3,
        params={"lr": 0.4375},
        status="failed",
        fitness=math.nan,
        metrics={},
        epochs_run=0,
        seconds=0.1,
        error="ValueError: Invalid learning rate: 0.4375 (max 1e-1)",
    )
    result = StudyResult(
        trials=[broke], importance=None, frozen={}, seconds=1.0, duplicates_avoided=0, max_epochs=2
    )
    failures = run_summary(result)["failures"]
    assert failures == [{"trial": 3, "error": "ValueError: Invalid learning rate: … (max …)"}]


def test_a_finished_run_keeps_its_best_model_on_disk_not_in_memory(hyperseal_env: Path) -> None:
    from tuner import StudySettings, TuneOptions, tune_run
    from tuner.vault import generate_key_file

    key = generate_key_file(hyperseal_env / "k.key")
    options = TuneOptions(
        synthetic_images=24,
        image_size=64,
        epochs=1,
        settings=StudySettings(budget=2, pruner="none"),
    )
    outcome = tune_run(options, key, hyperseal_env / "run")
    assert (hyperseal_env / "run" / "best" / "weights.safetensors").exists()
    assert all(not t.artifacts for t in outcome.result.trials)  # no trial's weights held
    assert len(repr(outcome.best)) < 2_000


def test_an_executor_that_cannot_start_leaves_a_resumable_run(
    hyperseal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuner import StudySettings, TuneOptions, tune_run
    from tuner.errors import ConfigError
    from tuner.vault import generate_key_file

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise ConfigError("could not start a Dask local cluster (RuntimeError: Nanny failed)")

    monkeypatch.setattr("tuner.objectives.detector.DetectorTarget.study", no_cluster)
    key = generate_key_file(hyperseal_env / "k.key")
    options = TuneOptions(
        synthetic_images=24, image_size=64, epochs=1, settings=StudySettings(budget=1)
    )
    with pytest.raises(ConfigError, match="Dask local cluster"):
        tune_run(options, key, hyperseal_env / "run")
    assert json.loads((hyperseal_env / "run" / "run.json").read_text())["status"] == "interrupted"


def test_a_dataset_folder_is_checked_once_per_run_and_before_a_resume(
    hyperseal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run reads its data for the option checks, the fingerprint and each new best;
    # on a real dataset every full check opens every image (minutes on COCO).
    import tuner.data.coco as coco
    from tuner.data.synth import generate_synthetic

    data = hyperseal_env / "scenes"
    generate_synthetic(data, images=12, size=64, seed=2)
    checked: list[Path] = []
    real = coco._check_image_files

    def counted(images: list, images_dir: Path, problems: object) -> None:
        checked.append(images_dir)
        real(images, images_dir, problems)  # type: ignore[arg-type]

    monkeypatch.setattr(coco, "_check_image_files", counted)
    result = CliRunner().invoke(
        app,
        [
            "tune",
            "--data",
            str(data),
            "--image-size",
            "64",
            "--epochs",
            "1",
            "--budget",
            "2",
            "--pruner",
            "none",
            "--out",
            str(hyperseal_env / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(checked) == 2  # train and val, once each
    from tuner.tune import DetectorTarget

    objective = DetectorTarget(TuneOptions(data=str(data))).trial_objective()
    assert objective.data.check_images is False  # workers trust it

    # Resumed with its data gone: one line before any worker starts, the run untouched.
    run = hyperseal_env / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    data.rename(hyperseal_env / "moved")
    result = CliRunner().invoke(app, ["tune", "--resume", str(run), "--budget", "3"])
    assert result.exit_code == 4, result.output
    assert "dataset not found" in result.output and "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_the_python_defaults_are_the_commands(hyperseal_env: Path) -> None:
    """A notebook's ``TuneOptions()`` tunes as ``hyperseal tune`` with no option does."""
    import typer

    from tuner.tune import TuneOptions

    command = typer.main.get_command(app).commands["tune"]  # type: ignore[attr-defined]
    cli = {param.name: param.default for param in command.params}
    options = TuneOptions()
    assert (options.epochs, options.settings.budget) == (cli["epochs"], cli["budget"])
    assert (options.synthetic_images, options.image_size) == (cli["images"], cli["image_size"])
    assert (options.workers, options.settings.pruner) == (cli["workers"], cli["pruner"])


def test_destination_errors_come_before_the_header_and_create_nothing(
    hyperseal_env: Path, tmp_path: Path
) -> None:
    cases = [
        (["--entry", "bad name!"], "vault entry name 'bad name!'"),
        (["--vault", str(tmp_path / "nowhere" / "v.hsv")], "there is no folder"),
        (["--data", str(tmp_path)], "--images sets the size of the synthetic scenes"),
    ]
    for extra, text in cases:
        result = CliRunner().invoke(app, ["tune", *TINY, "--out", str(tmp_path / "run"), *extra])
        assert result.exit_code != 0
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and text in lines[0], result.output
        assert not (tmp_path / "run").exists()
