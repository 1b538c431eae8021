"""Tuner overhead, parallel scaling, the GPU script's smoke run and run_all, on tiny budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import parallel_scaling, run_all, tuner_overhead
from benchmarks._common import REPO_ROOT
from tuner.search.optimizers import DEFAULT_OPTIMIZER


def test_overhead_times_ask_and_tell_of_every_recommended_optimizer() -> None:
    names = tuner_overhead.optimizers()
    assert names[0] == DEFAULT_OPTIMIZER and "BO" in names and len(set(names)) == len(names)
    got = tuner_overhead.ask_tell_seconds(DEFAULT_OPTIMIZER, budget=6, seed=0)
    assert 0 < got["per_trial"] < 5


def test_overhead_reference_trial_is_a_real_detector_trial() -> None:
    assert tuner_overhead.trial_seconds(images=8, size=64, epochs=1, repeats=1) > 0


def test_scaling_measures_a_process_pool_search() -> None:
    parallel_scaling.importable()
    row = parallel_scaling.measure("processes", 2, budget=3, detector=False, epochs=1, seed=0)
    assert row["trials_per_hour"] > 0 and row["wall"] > 0
    # timed to the last result: the pool's shutdown (processes exiting) is not a trial's cost
    assert row["shutdown_seconds"] >= 0


def test_scaling_bare_processes_run_the_same_trial_without_the_tuner() -> None:
    parallel_scaling.importable()
    row = parallel_scaling.bare(2, trials_each=2, detector=False, epochs=1)
    assert row["trials_per_hour"] == pytest.approx(3600.0 * 4 / row["wall"])


def test_gpu_script_smoke_run_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", "--smoke", "--json", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(out.read_text())
    assert data["smoke"] is True and data["device"] == "cpu"
    assert [r["model"] for r in data["throughput"]] == ["fcos/tiny", "fasterrcnn/mobilenet_v3"]
    assert all(r["images_per_second"] > 0 for r in data["throughput"])
    for row in data["throughput"]:  # both memory formats measured, the CPU default is NHWC
        assert row["nchw_images_per_second"] > 0 and row["channels_last_gain"] > 0
        assert row["channels_last_by_default"] is True
        assert row["images_per_second"] == row["nhwc_images_per_second"]
    packs = {r["trials_at_once"]: r for r in data["packing"]}
    assert packs[1]["gain"] == 1.0 and packs[2]["failed"] == 0 and packs[2]["trials_per_hour"] > 0
    profile = data["profile"]  # every marked part of the step timed, the costliest ops named
    assert list(profile["parts"]) == ["batch", "forward", "loss_read", "backward", "update"]
    assert (
        profile["parts"]["forward"]["host_ms"] > 0 and profile["parts"]["backward"]["host_ms"] > 0
    )
    assert 0 < profile["parts_ms_per_step"] <= profile["wall_ms_per_step"]
    assert any("convolution" in op["op"] for op in profile["top_host"])
    assert profile["device_busy_ms_per_step"] is None and profile["top_device"] == []
    assert "costliest operators on the host" in done.stdout


def test_gpu_script_refuses_cuda_when_there_is_none() -> None:
    import torch

    if torch.cuda.is_available():  # pragma: no cover - a CUDA machine
        return
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "--smoke" in done.stderr


def test_run_all_reads_each_benchmarks_result() -> None:
    summary = [
        {
            "method": "X",
            "problem": "mlp",
            "budget": 40,
            "regret_vs_tpe": 1.5,
            "best_minus_tpe": 0.0,
        },
        {
            "method": "X",
            "problem": "detector",
            "budget": 20,
            "regret_vs_tpe": 0.5,
            "best_minus_tpe": -0.01,
        },
        {
            "method": "X",
            "problem": "sphere",
            "budget": 20,
            "regret_vs_tpe": 2.0,
            "best_minus_tpe": -1.0,
        },
        {
            "method": "Y",
            "problem": "mlp",
            "budget": 40,
            "regret_vs_tpe": 0.1,
            "best_minus_tpe": 0.1,
        },
    ]
    rows = run_all.read_search_efficiency({"headline": {"default": "X"}, "summary": summary}, "")
    # the goal is the median best (>= TPE's), the value the ratio of median regrets
    assert [(r[2], r[4]) for r in rows] == [(1.5, True), (0.5, False), (2.0, None)]
    log = "vault open, passphrase:\n  median 0.412 s  (min\n    key file: 0.031 ms/record  ok\n"
    assert [r[2] for r in run_all.read_vault({}, log)] == [0.412, 0.031]
    ratios = {"processes": 1.9, "dask-local": 1.5, "bare processes": 1.6}
    scaling = run_all.read_parallel_scaling({"ratios": ratios}, "")
    assert [r[4] for r in scaling] == [True, False, None, None, None]  # only the goal is judged
    assert [round(r[2], 4) for r in scaling[2:]] == [1.6, round(1.9 / 1.6, 4), round(1.5 / 1.6, 4)]
    without_machine = run_all.read_parallel_scaling({"ratios": {"processes": 1.9}}, "")
    assert len(without_machine) == 1  # results of older runs still read
    assert run_all.read_early_stopping({"summary": {"median_ratio": 0.3}}, "")[0][4] is True


def test_run_all_reread_prints_the_table_of_a_finished_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "early_stopping.log").write_text("...")
    (tmp_path / "early_stopping.json").write_text(json.dumps({"summary": {"median_ratio": 0.3}}))
    out = run_all.main(["--reread", "--out", str(tmp_path)])
    assert [r[0] for r in out["rows"]] == ["early_stopping"]
    assert "vault" in out["problems"] and "SUMMARY" in capsys.readouterr().out


def test_run_all_quick_prints_one_summary_table(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    summary = run_all.main(["--quick", "--only", "early_stopping", "vault", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "SUMMARY" in out and out.count("SUMMARY") == 1
    assert not summary["problems"]
    assert {r["benchmark"] for r in summary["rows"]} == {"early_stopping", "vault"}
    assert (tmp_path / "summary.csv").read_text().startswith("benchmark,measure,value,goal,met")
    assert (tmp_path / "early_stopping.log").exists()


def test_a_run_log_cut_off_mid_line_loses_only_that_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from benchmarks._common import append_logged, load_logged, run_site

    here = json.dumps(run_site())
    log = tmp_path / "runs.jsonl"
    log.write_text(
        f'{{"id": "a", "x": 1, "site": {here}}}\n\n{{"id": "b", "x": 2, "site": {here}}}\n'
        '{"id": "c", "x"'
    )
    assert load_logged(log, "id") == {
        "a": {"id": "a", "x": 1, "site": run_site()},
        "b": {"id": "b", "x": 2, "site": run_site()},
    }
    assert f"{log}:4 is not a whole run" in capsys.readouterr().err
    assert load_logged(tmp_path / "none.jsonl", "id") == {}
    # the next run's row goes on a line of its own, after the cut-off one
    append_logged(log, {"id": "d", "x": 4})
    append_logged(tmp_path / "new.jsonl", {"id": "e"})
    assert set(load_logged(log, "id")) == {"a", "b", "d"}
    assert json.loads((tmp_path / "new.jsonl").read_text()) == {"id": "e", "site": run_site()}


def test_runs_logged_on_another_machine_run_again_here(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from benchmarks._common import append_logged, load_logged

    # a seed's best moves with the CPU model: such runs are never paired with this one's
    log = tmp_path / "runs.jsonl"
    append_logged(log, {"id": "a", "site": "Some Other CPU; torch 2.0"})
    append_logged(log, {"id": "b"})  # here
    log.write_text(log.read_text() + '{"id": "c"}\n')  # logged before rows said where
    assert set(load_logged(log, "id")) == {"b"}
    err = capsys.readouterr().err
    assert "1 runs of" in err and "logged on Some Other CPU; torch 2.0, not here" in err
    assert "logged with no run site" in err and "they will run again here" in err
