"""The reproduction report shows each row's status and quotes medians over ``ok`` rows only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audit.classical.reproduction import COLUMNS
from reports import build_reproduce_report, to_html, to_markdown
from reports.inputs import Reproduction


def _table() -> pd.DataFrame:
    """Two learners as the full run measured them: each with one row that is not ok."""
    rows = [
        ("linear_svc_hinge", 0, 0.1, 0.1, 2e-16, "ok", ""),
        ("linear_svc_hinge", 1, 10.0, 10.0, 1e-16, "ok", ""),
        (
            "linear_svc_hinge",
            2,
            1000.0,
            -7.376,
            1.007,
            "out_of_range",
            "estimate out of range: C = -7.376 is outside C > 0",
        ),
        ("mlp_classifier", 3, 1.0, 1.0007, 7e-4, "ok", ""),
        (
            "mlp_classifier",
            4,
            100.0,
            8.095,
            0.919,
            "collapsed",
            "model collapsed: the same output for every test row (test score 0.480)",
        ),
    ]
    records = []
    for learner, run, true, est, err, status, message in rows:
        record = dict.fromkeys(COLUMNS["estimation"], np.nan)
        hp = "C" if learner.startswith("linear") else "alpha"
        record.update(
            learner=learner,
            dataset="iris2",
            run=run,
            hyperparameter=hp,
            true_value=true,
            estimate=est,
            relative_error=err,
            log10_error=err,
            status=status,
            message=message,
            converged=True,
            test_metric="accuracy",
        )
        records.append(record)
    return pd.DataFrame(records, columns=list(COLUMNS["estimation"]))


def _report(redact: bool) -> tuple[str, str]:
    rep = Reproduction(Path("made"), {"preset": "full", "tables": {}}, {"estimation": _table()})
    report = build_reproduce_report(rep, redact=redact)
    return to_html(report), to_markdown(report)


def test_medians_leave_out_rows_that_are_not_ok() -> None:
    _, md = _report(redact=False)
    # median over the two ok rows (2e-16, 1e-16), not over all three (1e-16, 2e-16, 1.007)
    assert "| linear_svc_hinge | 1.50e-16 | 1.50e-16 | 2 of 3 |" in md
    assert "| mlp_classifier | 7.00e-04 | 7.00e-04 | 1 of 2 |" in md
    assert "3 of 5 rows ok and counted in the medians; left out: out_of_range 1, collapsed 1" in md


def test_rows_show_status_and_reason() -> None:
    html, md = _report(redact=False)
    assert "**out_of_range** | **estimate out of range: C = -7.376 is outside C" in md
    assert "model collapsed" in html
    assert '<tr class="hl">' in html  # the rows left out are set apart


def test_redacted_report_keeps_statuses_but_not_the_reasons_that_quote_estimates() -> None:
    html, md = _report(redact=True)
    assert "out_of_range" in md and "collapsed" in md
    assert "-7.376" not in md and "-7.376" not in html
    assert "| linear_svc_hinge | 1.50e-16 | 1.50e-16 | 2 of 3 |" in md


def test_quick_preset_says_its_medians_cover_one_dataset() -> None:
    rep = Reproduction(Path("made"), {"preset": "quick", "tables": {}}, {"estimation": _table()})
    md = to_markdown(build_reproduce_report(rep))
    assert "Quick preset: the first dataset of each learner only" in md
    assert "Quick preset" not in _report(redact=False)[1]
