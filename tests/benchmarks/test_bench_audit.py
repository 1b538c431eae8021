"""The audit's calibration benchmark: fitting, judging a saved run again, run_all's reading."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

from benchmarks import audit_calibration, run_all


def _variant(view: str, solve: str, estimate: float, cosine: float) -> dict:
    return {
        "variant": f"{view} {solve}",
        "view": view,
        "solve": solve,
        "estimate": estimate,
        "ci_low": estimate * 0.9,
        "ci_high": estimate * 1.1,
        "spread": 0.01,
        "cosine": cosine,
        "groups": 1,
        "note": "",
    }


def _row(wd: float, ratio: float, seed: int, family: str = "mlp-bn") -> dict:
    return {
        "family": family,
        "wd": wd,
        "bs": 64,
        "epochs": 10,
        "seed": seed,
        "lr": 0.1,
        "attacker_bs": 64,
        "normalised": True,
        "estimate": math.nan,
        "ci": None,
        "variants": [
            _variant("train", "balanced", wd * ratio, -0.95),
            _variant("train", "plain", wd * ratio / 4, -0.3),
        ],
    }


def test_fit_gives_ends_that_hold_every_fitted_network_and_a_new_one() -> None:
    ratios = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1]
    source = audit_calibration.fit([_row(1e-3, r, 0) for r in ratios])
    assert "('normalised', 'train', 'balanced', 'aligned')" in source
    line = next(x for x in source.splitlines() if "'balanced', 'aligned'" in x)
    lo, mid, hi = (float(v) for v in line.split("Entry(")[1].split(",")[:3])
    errors = np.log10(ratios)
    # below 39 networks the order statistics are the extremes: every fitted ratio is inside
    assert lo <= errors.min() and hi >= errors.max() and lo < mid < hi
    # and ten networks are too few for the extremes to promise 95 % (9 in 11): the ends are
    # the normal prediction interval's, wider
    half = stats.t.ppf(0.975, 9) * errors.std(ddof=1) * math.sqrt(1 + 1 / 10)
    assert lo == round(errors.mean() - half, 3) < round(errors.min(), 3)
    assert hi == round(errors.mean() + half, 3) > round(errors.max(), 3)


def test_fit_keeps_an_outlier_inside_the_ends() -> None:
    # one network far from the others: the normal interval of the rest would leave it out
    ratios = [0.9] * 20 + [0.95] * 20 + [0.2]
    source = audit_calibration.fit([_row(1e-3, r, 0) for r in ratios])
    line = next(x for x in source.splitlines() if "'balanced', 'aligned'" in x)
    lo = float(line.split("Entry(")[1].split(",")[0])
    assert lo <= round(math.log10(0.2), 3)


def test_reassess_judges_a_saved_row_with_the_shipped_table(tmp_path: Path) -> None:
    row = audit_calibration.reassess(_row(5e-3, 0.7, 1))
    assert row["reliable"] and row["ci"] is not None
    assert row["ci"][0] <= 5e-3 <= row["ci"][1]  # the balanced solve's bias is calibrated away
    assert row["worst_ratio"] < 1.5
    far = audit_calibration.reassess(
        {**_row(5e-3, 0.7, 1), "variants": [_variant("train", "pooled", -1e-3, 0.0)]}
    )
    assert not far["reliable"] and far["ci"] is None and math.isinf(far["worst_ratio"])
    summary = audit_calibration.summarise([row, far])
    assert summary[0][0] == "mlp-bn" and summary[0][1] == 2 and summary[0][3] == 0.5
    saved = tmp_path / "rows.jsonl"
    saved.write_text("\n".join(json.dumps(r) for r in (_row(5e-3, 0.7, 1), _row(1e-3, 0.9, 1))))
    assert audit_calibration.main(["--from", str(saved)]) == 0


def test_run_all_reads_the_audit_figures() -> None:
    cost = run_all.read_audit_cost({"ratio": 1.05, "portfolio_ratio": 2.8}, "")
    assert [r[4] for r in cost] == [True, True]
    goals = {
        "coverage_normalised": 0.95,
        "worst_within_3x_normalised": 1.0,
        "pick_within_25pct_plain": 0.2,
    }
    rows = run_all.read_audit_calibration({"goals": goals}, "")
    assert [r[4] for r in rows] == [True, True, False]
