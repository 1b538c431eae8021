"""The report of the reproduction of Wang & Gong (Audit I): the paper's figures and tables.

Its values come from public data, but its redacted report hides the
hyperparameter values (true, estimated, tuned, stolen) just the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports import plots_audit
from reports.document import Facts, Figure, Gallery, Note, Report, Section, Table
from reports.formatting import DASH
from tuner.outputs import folder_name

if TYPE_CHECKING:
    import pandas as pd

    from reports.inputs import Reproduction


REPRODUCE_SECTIONS = {
    "about": "What was run",
    "estimation": "Estimation error against the true hyperparameter",
    "tolerance": "Solver tolerance",
    "defences": "Rounding and noise defences",
    "tsr": "Train-Steal-Retrain",
}
"""Section anchors and headings, in order."""


def build_reproduce_report(rep: Reproduction, redact: bool = False) -> Report:
    """The reproduction report (the paper's figures and tables) as a :class:`Report`."""
    m = rep.manifest
    est = rep.tables["estimation"]
    sections = [
        _about(rep),
        _estimation(rep, redact),
        _tolerance(rep),
        _defences(rep, redact),
        _tsr(rep, redact),
    ]
    learners = est["learner"].nunique() if "learner" in est else 0
    banner = (
        Note(
            "Redacted: hyperparameter values (true, estimated, tuned, stolen) are hidden; "
            "errors and scores remain. These experiments use public data only.",
            "info",
        )
        if redact
        else Note("Public data only: nothing in this report is secret.", "info")
    )
    return Report(
        kind="reproduce",
        title="Stealing hyperparameters: Wang & Gong reproduced",
        subtitle=f"{learners} learners · preset {m.get('preset', '?')} · {folder_name(rep.folder)}",
        redacted=redact,
        banner=banner,
        sections=[s for s in sections if s is not None],
        footer=fmt.provenance(
            f"the tables and manifest.json in {folder_name(rep.folder)}", "the audit's own results"
        ),
        private=False,
    )


def _about(rep: Reproduction) -> Section:
    m = rep.manifest
    est = rep.tables["estimation"]
    seconds = m.get("seconds") or {}
    versions = m.get("versions") or {}
    ok = int((est["status"] == "ok").sum()) if "status" in est else 0
    counts = est["status"].value_counts() if "status" in est else {}
    others = ", ".join(f"{s} {int(n)}" for s, n in counts.items() if s != "ok")
    facts = Facts(
        (
            ("Paper", str(m.get("paper", "Wang & Gong, IEEE S&P 2018"))),
            ("Preset", str(m.get("preset", "?"))),
            ("Learners", ", ".join(dict.fromkeys(str(x) for x in est.get("learner", [])))),
            ("Datasets", ", ".join(dict.fromkeys(str(x) for x in est.get("dataset", [])))),
            (
                "Estimates",
                f"{ok} of {len(est)} rows ok and counted in the medians"
                + (f"; left out: {others}" if others else ""),
            ),
            ("Time", ", ".join(f"{k} {fmt.seconds(v)}" for k, v in seconds.items()) or DASH),
            ("Versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or DASH),
        )
    )
    return Section("about", REPRODUCE_SECTIONS["about"]).add(facts)


def _estimation(rep: Reproduction, redact: bool) -> Section:
    section = Section(
        "estimation",
        REPRODUCE_SECTIONS["estimation"],
        lead="The paper's first figure: how far the stolen value is from the true "
        "one, for true values over several orders of magnitude.",
    )
    figures = plots_audit.estimation_panels(rep, redact)
    if figures:
        section.add(Gallery(tuple(figures)))
    section.add(
        Note(
            "Errors of exactly zero are drawn at the bottom of the plot (the grey band "
            "is machine precision). Exact solvers land there; iterative ones stop at "
            "their tolerance."
        )
    )
    est = rep.tables["estimation"]
    section.add(_medians(est))
    if rep.manifest.get("preset") == "quick":
        section.add(
            Note(
                "Quick preset: the first dataset of each learner only, so these medians can "
                "differ from a full run's by dataset (measured: within 2.4x for 13 of 14 "
                "learners; linear_svc_l1 on iris2 27x higher).",
                "info",
            )
        )
    cols = ["learner", "dataset", "hyperparameter", "true_value", "estimate"]
    cols += ["relative_error", "log10_error", "status", "message"]
    not_ok = frozenset(i for i, s in enumerate(est["status"]) if s != "ok")
    return section.add(
        _frame_table(
            est,
            cols,
            "One row per trained model and hyperparameter; highlighted rows are not ok "
            "and left out of the medians.",
            highlight=not_ok,
            redact=redact,
        )
    )


def _medians(est: pd.DataFrame) -> Table | Note:
    """Median errors per learner over the rows with status ``ok`` (the figures the docs quote)."""
    from audit.classical.reproduction import median_errors

    if est.empty or "log10_error" not in est:
        return Note("No estimation rows to summarise.")
    medians = median_errors(est)
    rows = tuple(
        (
            str(name),
            _cell("relative_error", r.median_relative_error),
            _cell("log10_error", r.median_log10_error),
            f"{int(r.ok)} of {int(r.ok + r.not_ok)}",
        )
        for name, r in medians.iterrows()
    )
    return Table(
        ("learner", "median relative error", "median |log10 ratio|", "rows ok"),
        rows,
        numeric=frozenset({1, 2, 3}),
        caption="Medians over the rows with status ok only. A row is left out when its "
        "estimate is out of range (C, alpha > 0; 0 <= l1_ratio <= 1), the model collapsed "
        "(no better than a constant predictor), the hyperparameter is not identifiable "
        "(relative residual >= 0.95, or the same estimate for another true value) or the "
        "solver did not converge; no_equation and failed rows have no estimate.",
    )


def _tolerance(rep: Reproduction) -> Section | None:
    if "tolerance" not in rep.tables or rep.tables["tolerance"].empty:
        return None
    section = Section("tolerance", REPRODUCE_SECTIONS["tolerance"])
    section.add(plots_audit.tolerance_plot(rep))
    summary = rep.tables.get("tolerance_summary")
    if summary is not None and not summary.empty:
        section.add(
            _frame_table(
                summary,
                [
                    "learner",
                    "dataset",
                    "slope",
                    "error_at_loosest",
                    "error_at_tightest",
                    "n_points",
                ],
                "Slope of log10(relative error) against log10(tolerance).",
            )
        )
    return section


def _defences(rep: Reproduction, redact: bool) -> Section | None:
    """Errors and test scores under rounding and noise (values hidden when redacted)."""
    cols = ["learner", "dataset", "defence", "level", "hyperparameter", "true_value", "estimate"]
    cols += ["relative_error", "status", "test_score_original", "test_score_defended"]
    cols += ["score_change"]
    return _plot_and_table(
        rep,
        "defences",
        "defences",
        lead="Round the released weights to k decimals (or add noise): the attack's "
        "error grows, and so may the cost in test score.",
        plot=plots_audit.defence_plots,
        columns=cols,
        redact=redact,
        caption="level: decimals kept (round) or relative noise scale (noise).",
    )


def _tsr(rep: Reproduction, redact: bool) -> Section | None:
    """Train-Steal-Retrain against tuning on all the data (values hidden when redacted)."""
    cols = ["learner", "dataset", "hyperparameter", "fraction", "value_tuned_all", "value_stolen"]
    cols += ["steal_relative_error", "status", "speedup", "time_saved", "score_tune_all"]
    cols += ["score_tsr", "score_change"]
    return _plot_and_table(
        rep,
        "train_steal_retrain",
        "tsr",
        lead="Tune on a fraction of the data, steal the value from that model, "
        "retrain once on everything; against tuning on all the data.",
        plot=plots_audit.tsr_plot,
        columns=cols,
        redact=redact,
        caption="speedup: seconds to tune on all rows over seconds of Train-Steal-Retrain.",
    )


def _plot_and_table(
    rep: Reproduction,
    table: str,
    section_id: str,
    *,
    lead: str,
    plot: Callable[[Reproduction], Figure | None],
    columns: list[str],
    redact: bool,
    caption: str,
) -> Section | None:
    """A section of one table of the reproduction: its plot, then its rows (None when empty)."""
    frame = rep.table(table)
    if frame is None:
        return None
    section = Section(section_id, REPRODUCE_SECTIONS[section_id], lead=lead)
    return section.add(plot(rep), _frame_table(frame, columns, caption, redact=redact))


VALUE_COLUMNS = frozenset({"true_value", "estimate", "value_tuned_all", "value_stolen", "message"})
"""Columns a redacted report leaves out: hyperparameter values, and the reasons that quote them."""
_INT_COLUMNS = {"n_points", "run", "n_train", "n_equations"}
_SCI_COLUMNS = {
    "relative_error",
    "log10_error",
    "steal_relative_error",
    "error_at_loosest",
    "error_at_tightest",
    "true_value",
    "estimate",
    "value_tuned_all",
    "value_stolen",
    "value_tuned_fraction",
}


def _cell(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and value != value):
        return DASH
    if column in _INT_COLUMNS:
        return str(int(value))
    if column in _SCI_COLUMNS:
        return fmt.sci(value, 3 if column in ("true_value", "estimate") else 2)
    if column == "fraction":
        return fmt.percent(value)
    if column == "time_saved":
        return fmt.percent(value)
    if column == "speedup":
        return f"{float(value):.2f}×"
    if column == "level":
        return f"{float(value):g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{float(value):+.4f}" if "change" in column else f"{float(value):.4f}"
    return str(value)


def _frame_table(
    frame: pd.DataFrame,
    columns: list[str],
    caption: str,
    highlight: frozenset[int] = frozenset(),
    redact: bool = False,
) -> Table:
    """The columns of ``frame`` that it has (and, redacted, that hold no value) as a table."""
    columns = [c for c in columns if c in frame.columns and not (redact and c in VALUE_COLUMNS)]
    rows = tuple(
        tuple(_cell(c, v) for c, v in zip(columns, record, strict=True))
        for record in frame[columns].itertuples(index=False, name=None)
    )
    numeric = frozenset(
        i
        for i, c in enumerate(columns)
        if c
        not in (
            "learner",
            "dataset",
            "hyperparameter",
            "status",
            "defence",
            "message",
            "test_metric",
        )
    )
    headers = tuple(c.replace("_", " ") for c in columns)
    return Table(headers, rows, numeric=numeric, highlight=highlight, caption=caption)
