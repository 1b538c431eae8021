"""Problems with signal: the admissibility rule, the configs it measures, the quick mode."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import problem_signal as ps
from tuner.search.space import default_space


def test_a_problem_is_admissible_when_its_signal_is_five_times_its_largest_noise() -> None:
    noise = ps.noise_of([0.010, 0.020, 0.015])
    assert noise["max"] == 0.020
    assert noise["pooled"] == pytest.approx(math.sqrt((1e-4 + 4e-4 + 2.25e-4) / 3))
    assert ps.admissible(0.101, noise["max"])
    assert not ps.admissible(0.099, noise["max"])  # enough against the pooled std, not the max
    assert ps.admissible(0.099, noise["pooled"])
    assert ps.admissible(0.01, 0.0)  # no noise at all
    assert not ps.admissible(0.0, 0.0)  # nor signal
    assert not ps.admissible(float("nan"), 0.01)
    assert ps.ratio(0.1, 0.02) == pytest.approx(5.0)


def _row(role: str, config: str, seed: int, fitness: float | None, epochs: int = 2) -> dict:
    ok = fitness is not None
    return {
        "problem": "mlp",
        "role": role,
        "config": config,
        "seed": seed,
        "status": "ok" if ok else "failed: DivergedError",
        "fitness": fitness,
        "metrics": {"accuracy": fitness} if ok else {},
        "history": [{"epoch": e, "accuracy": fitness} for e in range(1, epochs + 1)] if ok else [],
        "epochs_ran": epochs if ok else 1,
        "seconds": 1.0,
    }


def test_analyse_on_a_constructed_problem() -> None:
    rows = [_row("noise", "default", s, v) for s, v in enumerate((0.50, 0.52, 0.48))]
    rows += [_row("noise", "lr x3", s, v) for s, v in enumerate((0.40, 0.40, 0.40))]
    rows += [_row("signal", f"draw {i}", 0, v) for i, v in enumerate((0.1, 0.3, 0.5, 0.7, 0.9))]
    rows.append(_row("signal", "draw 5", 0, None))  # diverged: no fitness, counted as failed
    a = ps.analyse(rows)
    assert a["noise_std"] == pytest.approx(0.02)  # the default's, the largest
    assert a["noise_pooled_std"] == pytest.approx(0.02 / math.sqrt(2))
    assert a["signal_std"] == pytest.approx(math.sqrt(0.1))  # 0.316
    assert a["signal_iqr"] == pytest.approx(0.4)
    assert a["signal_configs"] == 5 and a["signal_failed"] == 1
    assert a["draw_epochs_ran"] == [2, 2, 2, 2, 2, 1]
    assert a["ratio"] == pytest.approx(math.sqrt(0.1) / 0.02)
    assert a["admissible"] and a["best"] == 0.9 and a["median"] == 0.5
    flat = [_row("signal", f"draw {i}", 0, 0.5 + 0.01 * i) for i in range(5)]
    assert not ps.analyse(rows[:6] + flat)["admissible"]  # spread 0.016 < 5 x 0.02


def test_noise_configs_and_random_draws_stay_in_the_space() -> None:
    space = default_space(4)
    labels = [label for label, _ in ps.noise_configs(space)]
    lrs = [params["lr"] for _, params in ps.noise_configs(space)]
    assert labels == ["default", "lr x3", "lr /3"]
    assert lrs == pytest.approx([0.02, 0.06, 0.02 / 3], rel=1e-5)
    draws = ps.random_configs(space, 40, draw_seed=7)
    assert draws == ps.random_configs(space, 40, draw_seed=7)
    for d in draws:
        for p in space.searched:
            if p.kind in ("log", "float"):
                assert p.low <= d[p.name] <= p.high
            elif p.kind == "choice":
                assert d[p.name] in p.choices
    assert {d["optimizer"] for d in draws} == {"sgd", "adamw"}
    assert min(d["lr"] for d in draws) < 0.005 < 0.05 < max(d["lr"] for d in draws)


def test_quick_mode_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "signal.json"
    runs = tmp_path / "runs.jsonl"
    data = ps.main(["--quick", "--json", str(out), "--runs", str(runs)])
    printed = capsys.readouterr().out
    header = printed.splitlines()[1].split()
    assert header[:3] == ["problem", "noise", "std"] and "admissible" in header
    assert [row[0] for row in data["table"]] == ["mlp", "demo"]
    for row in data["table"]:
        assert len(row) == len(ps.COLUMNS) and row[5] in ("yes", "no")
    saved = json.loads(out.read_text())
    mlp = saved["problems"][0]
    assert mlp["runs"] == 2 * 3 + 3 + 3 and len(mlp["draw_epochs_ran"]) == 3  # draws: 2 seeds
    assert len(mlp["draw_seed_stds"]) == 3 and mlp["draw_noise_median_std"] >= 0
    assert set(mlp["noise_configs"]) == {"default", "lr x3", "lr /3"}
    assert saved["problems"][1]["by_metric"].keys() == set(ps.DETECTOR_METRICS)
    lines = runs.read_text().splitlines()
    assert len(lines) == 21
    again = ps.main(["--quick", "--json", str(out), "--runs", str(runs)])  # all logged: reused
    assert len(runs.read_text().splitlines()) == 21
    assert json.dumps(again["table"]) == json.dumps(data["table"])


def test_the_interaction_noise_ignores_a_seed_that_moves_every_config_alike() -> None:
    shifts = {0: 0.0, 1: -0.3, 2: 0.1}  # seed 1 is bad for every config
    cells = {c: {s: base + d for s, d in shifts.items()} for c, base in (("a", 0.5), ("b", 0.4))}
    assert ps.interaction_std(cells) == pytest.approx(0.0, abs=1e-12)
    cells["b"][2] += 0.06
    assert ps.interaction_std(cells) > 0.01
