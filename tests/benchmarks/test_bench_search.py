"""The search-efficiency machinery: Optuna peer, timing, summaries, plot (tiny budgets)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks import search_efficiency as se
from benchmarks._objectives import ArtificialObjective, MLPObjective, artificial_space, mlp_space
from benchmarks._search import TPE, BenchStudy, OptunaSuggester
from tuner.search.optimizers import DEFAULT_OPTIMIZER, RECOMMENDED
from tuner.search.space import default_space
from tuner.search.study import StudySettings
from tuner.testing import QuadraticObjective, quadratic_space


def test_tpe_runs_through_the_tuners_study_and_is_timed() -> None:
    settings = StudySettings(optimizer=TPE, budget=8, seed=1, pruner="none")
    study = BenchStudy(QuadraticObjective(), quadratic_space(), settings)
    result = study.run()
    assert len(result.trials) == 8
    assert result.default_trial is not None  # trial 0 told to Optuna as an added trial
    assert result.best is not None and result.best.fitness >= result.default_trial.fitness
    assert study.optimizer_seconds > 0
    assert len(study.suggester.inner.study.trials) == 8  # type: ignore[attr-defined]


def test_tpe_leaves_an_inactive_conditional_parameter_unsuggested() -> None:
    space = default_space(2)
    suggester = OptunaSuggester(space, seed=0)
    suggester.tell_values({**space.defaults(), "optimizer": "adamw"}, 0.1)
    seen = set()
    for _ in range(12):
        trial, values = suggester.ask([])
        assert ("momentum" in values) == (values["optimizer"] == "sgd")
        seen.add(values["optimizer"])
        suggester.tell(trial, 0.0)
    assert seen == {"sgd", "adamw"}
    added = suggester.study.trials[0]
    assert "momentum" not in added.params


def test_nevergrad_optimizers_are_timed_too() -> None:
    settings = StudySettings(optimizer=DEFAULT_OPTIMIZER, budget=5, pruner="none")
    study = BenchStudy(QuadraticObjective(), quadratic_space(), settings)
    study.run()
    assert study.optimizer_seconds > 0 and study.suggester.calls == 4  # type: ignore[attr-defined]


def test_the_mlp_objective_learns_and_is_repeatable() -> None:
    from tuner.search.fitness import Fitness
    from tuner.search.trial import TrialContext

    space = mlp_space()
    params = space.complete(space.defaults())
    a = MLPObjective(epochs=2, seed=3)(params, TrialContext(0, Fitness.parse("accuracy")))
    b = MLPObjective(epochs=2, seed=3)(params, TrialContext(0, Fitness.parse("accuracy")))
    assert a == b and a["accuracy"] > 0.5
    bad = space.complete({**space.defaults(), "lr": 1e-4, "optimizer": "sgd", "momentum": 0.0})
    worse = MLPObjective(epochs=2, seed=3)(bad, TrialContext(0, Fitness.parse("accuracy")))
    assert worse["accuracy"] < a["accuracy"]


def test_each_seed_is_another_instance_of_the_artificial_function() -> None:
    from tuner.search.fitness import Fitness
    from tuner.search.trial import TrialContext

    space = artificial_space()
    point = space.complete(space.defaults())
    values = {
        ArtificialObjective("sphere", s)(point, TrialContext(0, Fitness.parse("score")))["score"]
        for s in range(3)
    }
    assert len(values) == 3 and all(v <= 0 for v in values)


def test_a_job_returns_a_monotone_best_so_far_curve() -> None:
    job = se.Job("mlp", "accuracy", (("epochs", 1),), se.Method("OnePlusOne", "OnePlusOne"), 4, 0)
    row = se.run_job(job)
    assert len(row["curve"]) == 4
    assert row["curve"] == sorted(row["curve"])
    assert row["curve"][-1] == max(row["fitness"])


def test_with_pruning_on_a_stopped_trial_never_counts_as_the_best() -> None:
    method = se.Method(DEFAULT_OPTIMIZER, DEFAULT_OPTIMIZER)
    job = se.Job("mlp", "accuracy", (("epochs", 3),), method, 10, 0, pruner="asha")
    row = se.run_job(job)
    stopped = [i for i, f in enumerate(row["fitness"]) if f == float("-inf")]
    assert stopped, "ASHA stopped no trial of ten"
    finished = [f for f in row["fitness"] if f != float("-inf")]
    assert row["curve"][-1] == max(finished)
    shorter = se.run_job(se.Job(job.problem, job.fitness, job.settings, method, 6, 0, "asha"))
    assert shorter["fitness"] == row["fitness"][:6]  # nested budgets hold with pruning too


@pytest.mark.parametrize("method", sorted(se.BUDGET_FREE))
def test_a_budget_free_method_asks_the_same_first_trials_whatever_the_budget(
    method: str,
) -> None:
    m = se.Method(method, method)
    short = se.run_job(se.Job("sphere", "score", (), m, 6, 3))
    long = se.run_job(se.Job("sphere", "score", (), m, 12, 3))
    assert short["fitness"] == long["fitness"][:6]


def test_nested_budgets_are_cut_from_the_longest_search() -> None:
    problem = se.Problem("detector", "mAP50", 1, (2, 4), (se.PEER,), nested=True)
    jobs = se.jobs_for([problem])
    assert [j.budget for j in jobs] == [4]
    row = {
        **_row("detector", se.PEER.label, 4, 0, 0.5),
        "curve": [0.1, 0.2, 0.4, 0.5],
        "fitness": [0.1, 0.2, 0.4, 0.5],
    }
    cut = [r for r in se.expand_nested([row], [problem]) if r["budget"] == 2]
    assert len(cut) == 1 and cut[0]["curve"] == [0.1, 0.2] and cut[0]["cut_from"] == 4


def test_fresh_seeds_start_where_asked() -> None:
    problem = se.Problem("mlp", "accuracy", 2, (4,), (se.PEER, se.RANDOM))
    jobs = se.jobs_for([problem], first_seed=30)
    assert sorted({j.seed for j in jobs}) == [30, 31] and len(jobs) == 4


def _row(problem: str, method: str, budget: int, seed: int, best: float) -> dict:
    return {
        "problem": problem,
        "method": method,
        "budget": budget,
        "seed": seed,
        "curve": [best - 0.1, best],
        "fitness": [best - 0.1, best],
        "seconds": 1.0,
        "optimizer_seconds": 0.01,
        "failed": 0,
    }


def test_regret_is_against_the_best_any_search_found_on_that_seed() -> None:
    rows = [
        _row("mlp", "Optuna TPE", 20, 0, 0.90),
        _row("mlp", "A", 20, 0, 0.95),
        _row("mlp", "B", 20, 0, 0.85),
        _row("mlp", "Optuna TPE", 20, 1, 0.70),
        _row("mlp", "A", 20, 1, 0.70),
        _row("mlp", "B", 20, 1, 0.60),
    ]
    summary = {s["method"]: s for s in se.summarise(rows)}
    assert summary["A"]["median_regret"] == pytest.approx(0.0)
    assert summary["Optuna TPE"]["median_regret"] == pytest.approx(0.025)
    assert summary["B"]["regret_vs_tpe"] == pytest.approx(0.1 / 0.025)
    assert se.at_least_tpe(se.summarise(rows), ["mlp"]) == ["A", "Optuna TPE"]
    assert se.mean_rank(se.summarise(rows), ["mlp"]) == {"A": 1.0, "Optuna TPE": 2.0, "B": 3.0}


def test_curves_csv_summary_and_plot_are_written(tmp_path: Path) -> None:
    rows = [
        _row("sphere", m, 20, s, -1.0 - s) for m in ("Optuna TPE", "OnePlusOne") for s in range(2)
    ]
    se.write_outputs(rows, se.summarise(rows), tmp_path)
    assert (tmp_path / "search_efficiency.png").stat().st_size > 1000
    lines = (tmp_path / "search_efficiency_curves.csv").read_text().splitlines()
    assert lines[0].startswith("problem,method,budget,seed,trial") and len(lines) == 1 + 8


def test_every_recommended_optimizer_and_the_default_are_compared() -> None:
    labels = {m.label for m in se.ALL_METHODS}
    assert DEFAULT_OPTIMIZER in labels and {"Optuna TPE", "RandomSearch"} <= labels
    assert {n for n in RECOMMENDED["evolutionary"]} <= labels and "BO" in labels


def test_quick_main_on_a_cheap_problem(tmp_path: Path) -> None:
    out = se.main(
        [
            "--quick",
            "--problems",
            "sphere",
            "--workers",
            "1",
            "--methods",
            "OnePlusOne",
            "Optuna TPE",
            "--out",
            str(tmp_path),
        ]
    )
    cells = {(s["method"], s["budget"]) for s in out["summary"]}
    assert cells == {(m, b) for m in ("OnePlusOne", "Optuna TPE") for b in (6, 10)}
    assert all(math.isfinite(s["median_best"]) for s in out["summary"])
    assert (tmp_path / "search_efficiency_summary.csv").exists()


def test_extra_methods_take_options_on_the_command_line() -> None:
    plain = se.parse_method("CMA")
    assert (plain.label, plain.optimizer, plain.kwargs) == ("CMA", "CMA", {})
    method = se.parse_method(f"{se.EXPLORING}:patience=15,every=3")
    assert method.optimizer == se.EXPLORING and method.kwargs == {"patience": 15, "every": 3}
    assert method.label == f"{se.EXPLORING}:patience=15,every=3"  # the rows say which variant
    listed = se.parse_method("ParametrizedBO:utility_kind=ucb,gp_parameters={}")
    assert listed.kwargs == {"utility_kind": "ucb", "gp_parameters": {}}
    with pytest.raises(SystemExit, match="key=value"):
        se.parse_method("CMA:popsize")
