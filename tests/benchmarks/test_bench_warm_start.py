"""Warm start on a changed dataset: the reading of the three searches, a quick run."""

from __future__ import annotations

import math

import pytest

from benchmarks import warm_start as ws


def _row(seed: int, cold_to_best: int, warm_to_it: float, cold: float, warm: float) -> dict:
    return {
        "pair": "p",
        "seed": seed,
        "cold_epochs_to_best": cold_to_best,
        "warm_epochs_to_cold_best": warm_to_it,
        "cold_best": cold,
        "warm_best_at_cold_spend": warm,
    }


def test_the_ratio_is_warm_epochs_to_the_cold_best_over_the_cold_epochs_to_it() -> None:
    rows = [
        _row(0, 40, 10, 0.5, 0.6),  # 0.25: reached with a quarter of the epochs
        _row(1, 40, 20, 0.5, 0.5),  # 0.5: half, a tie at the cold spend
        _row(2, 20, math.inf, 0.5, 0.4),  # never reached
    ]
    (s,) = ws.summarise(rows)
    assert s["median_ratio"] == 0.5
    assert (s["at_most_half"], s["never"]) == (2, 1)
    assert (s["won"], s["lost"], s["p"]) == (1, 1, 1.0)


def test_the_first_full_trial_reaching_a_level() -> None:
    events = [(4, 1.0, 0.3), (5, 1.0, None), (9, 1.0, 0.5)]
    assert ws._first_reaching(events, 0.3) == 4
    assert ws._first_reaching(events, 0.4) == 9
    assert ws._first_reaching(events, 0.6) == math.inf


def test_a_quick_run_warm_starts_the_new_search_from_the_earlier_one() -> None:
    out = ws.main(["--quick", "--seeds", "1", "--workers", "1"])
    (run,) = out["runs"]
    assert run["warm_configs"] == 2  # a quarter of 8 trials
    assert run["cold_epochs_to_best"] <= run["cold_epochs"]
    assert run["warm_best_at_cold_spend"] > 0.9  # the digits MLP learns
    (s,) = out["summary"]
    assert s["seeds"] == 1 and s["median_ratio"] == pytest.approx(
        run["warm_epochs_to_cold_best"] / run["cold_epochs_to_best"]
    )
