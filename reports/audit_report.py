"""The audit reports: a detector audit (Audit II) or the reproduction of Wang & Gong (Audit I).

:func:`render_audit_report` looks at the folder to tell which audit wrote it
(:func:`~reports.inputs.audit_kind`), reads it (a detector audit's result is
sealed and needs the key; the reproduction's tables are public) and writes
the HTML page and its Markdown twin.

Redacted, a detector audit shows the verdict, the threat model, the groups
and the defences with errors as bands (``within 25%``), never an estimate,
a truth or an exact error. A reproduction's values come from public data,
but its redacted report hides them just the same.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports import plots_audit
from reports.document import Card, Cards, Facts, Gallery, Note, Report, Section, Table
from reports.inputs import (
    ModelAudit,
    Reproduction,
    audit_kind,
    read_model_audit,
    read_reproduction,
)
from reports.output import ReportPaths, check_writable, report_paths, write_report
from tuner.outputs import folder_name

if TYPE_CHECKING:
    import pandas as pd

    from tuner.vault import KeySource

DASH = fmt.DASH

MODEL_SECTIONS = {
    "verdict": "Verdict",
    "threat": "Threat model",
    "estimate": "Estimate against truth",
    "defences": "Defences: protection against mAP",
}
REPRODUCE_SECTIONS = {
    "about": "What was run",
    "estimation": "Estimation error against the true hyperparameter",
    "tolerance": "Solver tolerance",
    "defences": "Rounding and noise defences",
    "tsr": "Train-Steal-Retrain",
}

VERDICT_TEXT = {
    "leaks": (
        "The released weights give the training recipe away: an attacker who knows the "
        "training data recovers the weight decay closely.",
        "bad",
    ),
    "partial": (
        "The released weights give away the order of magnitude of the weight decay, not its value.",
        "warn",
    ),
    "resists": ("The attack does not recover the weight decay from these weights.", "good"),
    "unknown": (
        "No true value to compare with, so how much leaks cannot be judged; the "
        "estimate itself is what an attacker would get.",
        "info",
    ),
    "not-applicable": (
        "The attack's equation does not hold for this training setup, so this "
        "audit cannot measure leakage.",
        "info",
    ),
    "sealed": (
        "The verdict is sealed: saying why the attack does or does not apply would reveal "
        "a searched part of the recipe (its optimizer or its weight decay).",
        "info",
    ),
}
DEFAULT_THREAT = (
    "An attacker holds the released weights and the part of the training data that is known "
    "to others. Solving the stationarity equation of training for the regularisation "
    "hyperparameter, they try to recover the weight decay the recipe used."
)


def render_audit_report(
    result_dir: Path,
    key: KeySource | str | None = None,
    out: Path | None = None,
    redact: bool = False,
) -> ReportPaths:
    """Read an audit result folder and write its HTML report and Markdown twin.

    Args:
        result_dir: A detector audit's folder (``summary.json`` + sealed ``audit.hsv``)
            or a ``hyperseal audit reproduce`` folder (tables + ``manifest.json``).
        key: The detector audit's key (not needed for a reproduction).
        out: The ``.html`` file (default ``report.html``/``report-redacted.html`` inside).
        redact: Leave out every hyperparameter value (and, for a detector audit, exact errors).

    Raises:
        NotAResultError: neither kind of audit folder.
        MissingKeyError: a detector audit and no key.
        ReportOutputError: a file that is not our report is in the way.
        WrongKeyError, TamperedError, ...: the sealed result does not open with ``key``.
    """
    from reports.html import to_html
    from reports.markdown import to_markdown

    result_dir = Path(result_dir)
    paths = report_paths(result_dir, out, redact=redact)
    sealed: dict[str, list[Any]] = {}
    if audit_kind(result_dir) == "model-audit":
        audit = read_model_audit(result_dir, key)
        check_writable(paths)
        report = build_model_audit_report(audit, redact=redact)
        r = audit.result
        sealed = {k: [r.get(k)] for k in ("estimate", "plain_estimate", "truth")}
        sealed["interval"] = list(r.get("ci") or [])
    else:
        rep = read_reproduction(result_dir)
        check_writable(paths)
        report = build_reproduce_report(rep, redact=redact)
    return write_report(paths, to_html(report), to_markdown(report), private=report.private,
                        sealed=sealed)  # fmt: skip


# -- detector audit ------------------------------------------------------------------------


def build_model_audit_report(audit: ModelAudit, redact: bool = False) -> Report:
    """The detector audit report as a :class:`Report` (no file is written)."""
    s = audit.summary
    model = s.get("model") or {}
    model_name = f"{model.get('arch', '?')}/{model.get('backbone', '?')}"
    sections = [
        _verdict(audit, redact),
        Section("threat", MODEL_SECTIONS["threat"]).add(
            Note(str(audit.result.get("threat_model") or DEFAULT_THREAT))
        ),
        _estimate(audit, redact),
        _model_defences(audit, redact),
    ]
    banner = (
        Note(
            "Redacted audit: verdicts, groups and defences with errors as bands. No estimate, "
            "no true value and no exact error appears in it.",
            "info",
        )
        if redact
        else Note(
            "This report shows the true weight decay and its estimate. Keep it private; "
            "for sharing, make the redacted one (--redact).",
            "warn",
        )
    )
    return Report(
        kind="model-audit",
        title=f"Leakage audit: {model_name}",
        subtitle=f"{model_name}, {model.get('image_size', '?')} px · data {s.get('data', '?')} · "
        f"verdict: {_shown_verdict(audit, redact)}",
        redacted=redact,
        banner=banner,
        sections=sections,
        footer=_footer(f"{folder_name(audit.folder)}/summary.json and its sealed audit.hsv"),
        private=not redact,
    )


def _shown_verdict(audit: ModelAudit, redact: bool) -> str:
    """The verdict a report may show: ``sealed`` in a redacted one when it names the recipe."""
    return "sealed" if redact and audit.summary.get("verdict") == "sealed" else audit.verdict


def _verdict(audit: ModelAudit, redact: bool) -> Section:
    s, r = audit.summary, audit.result
    verdict = _shown_verdict(audit, redact)
    text, tone = VERDICT_TEXT.get(verdict, (f"Verdict '{verdict}'.", "info"))
    error = (
        fmt.error_category(r.get("log10_error"), r.get("relative_error"))
        if redact
        else fmt.percent(r.get("relative_error"), 1)
    )
    worst = r.get("worst_case") if isinstance(r.get("worst_case"), dict) else None
    worst_ratio = worst.get("ratio") if worst else None
    worst_text = (
        DASH
        if not fmt.is_number(worst_ratio)
        else fmt.error_category(math.log10(float(worst_ratio)))
        if redact
        else f"{float(worst_ratio):.2f}x"
    )
    cards = [
        Card("verdict", verdict, "judged by the owner's worst case" if worst else "", tone),
        Card(
            "owner's worst case",
            worst_text,
            f"closest variant: {worst['variant']}" if worst else "no variant to judge",
        ),
        Card(
            "attacker's pick",
            error,
            f"{r.get('pick') or DASH}"
            + (f", verdict alone: {r['pick_verdict']}" if r.get("pick_verdict") else "")
            + ("" if r.get("reliable", True) else " (unreliable: no interval)"),
        ),
        Card(
            "recommended defence",
            str(s.get("recommended_defence") or "none"),
            "see the trade-off below",
            "good" if s.get("recommended_defence") else "neutral",
        ),
    ]
    model = s.get("model") or {}
    facts = Facts(
        (
            (
                "Model",
                f"{model.get('arch', '?')} with a {model.get('backbone', '?')} backbone, "
                f"{model.get('image_size', '?')} px",
            ),
            ("Training data", str(s.get("data", "?"))),
            ("Attacker knows", f"{fmt.percent(s.get('known_fraction'))} of the training data"),
            ("Optimizer family", str(s.get("optimizer_family", "?"))),
            ("Attacker's choice", str(r.get("pick_reason") or DASH)),
        )
    )
    return Section("verdict", MODEL_SECTIONS["verdict"]).add(
        Cards(tuple(cards)), Note(text, tone), facts
    )


def _estimate(audit: ModelAudit, redact: bool) -> Section:
    r = audit.result
    section = Section("estimate", MODEL_SECTIONS["estimate"])
    if not redact:
        ci = r.get("ci")
        ci_text = (
            f"{fmt.sci(ci[0], 3)} … {fmt.sci(ci[1], 3)}"
            if isinstance(ci, list) and len(ci) == 2
            else DASH
        )
        section.add(
            Cards(
                (
                    Card("estimate", fmt.sci(r.get("estimate"), 3), f"interval {ci_text}", "info"),
                    Card(
                        "truth",
                        fmt.sci(r.get("truth"), 3) if r.get("truth") is not None else "unknown",
                        "from the sealed recipe",
                    ),
                    Card(
                        "relative error",
                        fmt.sci(r.get("relative_error")),
                        f"|log10 ratio| {fmt.sci(r.get('log10_error'))}",
                    ),
                    Card(
                        "all groups",
                        fmt.sci(r.get("plain_estimate"), 3),
                        "estimate with scale-invariant groups left in",
                    ),
                    *_second_channel_card(r.get("second_channel")),
                )
            )
        )
        section.add(plots_audit.group_estimates(audit))
    variants = [v for v in (r.get("variants") or []) if isinstance(v, dict)]
    if variants:
        section.add(_variants_table(variants, redact))
    if redact:
        section.add(
            Note(
                "Estimates and the true value are hidden in this redacted report; the "
                "verdict above and the error band say how close the attack came."
            )
        )
    groups = audit.groups
    if not groups:
        return section.add(Note("The audit recorded no parameter groups."))
    rows = []
    for g in groups:
        row = [str(g.get("group", "?")), f"{int(g.get('parameters', 0)):,}"]
        if not redact:
            row.append(fmt.sci(g.get("estimate"), 3))
        row += [
            "yes: no signal" if g.get("scale_invariant") else "no",
            f"{float(g['cosine']):.3f}" if fmt.is_number(g.get("cosine")) else DASH,
        ]
        rows.append(tuple(row))
    columns = (
        "group",
        "parameters",
        *(() if redact else ("estimate",)),
        "scale-invariant",
        "cos(w, ∇L)",
    )
    invariant = sum(bool(g.get("scale_invariant")) for g in groups)
    caption = (
        f"{invariant} of {len(groups)} groups are scale-invariant (followed by a "
        "normalisation layer, so w·∇L ≈ 0): they are reported, not used."
    )
    numeric = frozenset({1, 2, 4} if not redact else {1, 3})
    return section.add(
        Table(
            columns,
            tuple(rows),
            numeric=numeric,
            highlight=frozenset(i for i, g in enumerate(groups) if g.get("scale_invariant")),
            caption=caption,
        )
    )


def _second_channel_card(second: Any) -> tuple[Card, ...]:
    """The second channel (wd / lr_eff from scale-invariant norms), when it was measured."""
    if not isinstance(second, dict) or not fmt.is_number(second.get("estimate")):
        return ()
    ratio = second.get("ratio")
    detail = (
        f"{float(ratio):.2g}x the recipe's wd·(1−momentum)/lr"
        if fmt.is_number(ratio)
        else "wd / lr_eff from the norms of scale-invariant groups"
    )
    return (Card("second channel", fmt.sci(second["estimate"], 3), detail),)


def _variants_table(variants: list[dict[str, Any]], redact: bool) -> Table:
    """The portfolio: every attack variant, the pick marked (numbers only when not redacted)."""

    def interval(pair: Any) -> str:
        if isinstance(pair, list) and len(pair) == 2 and all(map(fmt.is_number, pair)):
            return f"{fmt.sci(pair[0], 2)} … {fmt.sci(pair[1], 2)}"
        return DASH

    rows = []
    for v in variants:
        row = [str(v.get("variant", "?"))]
        if not redact:
            row += [fmt.sci(v.get("estimate"), 3), fmt.sci(v.get("corrected"), 3),
                    interval(v.get("calibrated"))]  # fmt: skip
        row += ["pick" if v.get("pick") else "yes" if v.get("usable") else "no"]
        if not redact:
            row += [str(v.get("note") or "")]
        rows.append(tuple(row))
    columns = (
        ("variant", "estimate", "corrected", "calibrated interval", "usable", "why not")
        if not redact
        else ("variant", "usable")
    )
    return Table(
        columns,
        tuple(rows),
        numeric=frozenset({1, 2} if not redact else set()),
        highlight=frozenset(i for i, v in enumerate(variants) if v.get("pick")),
        caption=(
            "The attack portfolio: each variant on the same weights and data. The attacker "
            "picks the usable variant with the narrowest calibrated interval; the verdict "
            "judges the variant closest to the truth."
        ),
    )


def _model_defences(audit: ModelAudit, redact: bool) -> Section:
    section = Section("defences", MODEL_SECTIONS["defences"])
    defences = audit.defences
    if not defences:
        return section.add(Note("The audit tried no defence."))
    section.add(plots_audit.defence_tradeoff(audit, redact))
    rows, highlight = [], set()
    for d in defences:
        if d.get("recommended"):
            highlight.add(len(rows))
        name = str(d.get("defence", "?")) + (" ★ recommended" if d.get("recommended") else "")
        if redact:
            err: list[str] = [fmt.error_category(d.get("log10_error"), d.get("relative_error"))]
        else:
            err = [
                fmt.sci(d.get("estimate"), 3),
                fmt.sci(d.get("relative_error")),
                fmt.sci(d.get("log10_error")),
            ]
        rows.append((name, *err, fmt.score(d.get("mAP")), fmt.signed(d.get("mAP_lost"))))
        if str(d.get("defence", "")).startswith("rescale"):
            rows.append(_adaptive_row(d, redact))
    columns = (
        "defence",
        *(("estimation error",) if redact else ("estimate", "relative error", "|log10 ratio|")),
        "mAP",
        "mAP lost",
    )
    numeric = frozenset(range(1, len(columns))) - ({1} if redact else set())
    return section.add(
        Table(
            columns,
            tuple(rows),
            numeric=numeric,
            highlight=frozenset(highlight),
            caption="round:k keeps k decimals of every released weight; "
            "noise:s adds Gaussian noise of relative scale s; rescale:C reparametrises the "
            "network without changing its outputs, and the row under it is the attacker "
            "who knows that and undoes it.",
        )
    )


def _adaptive_row(d: dict[str, Any], redact: bool) -> tuple[str, ...]:
    """The adaptive attacker against a rescale defence, as a row under it."""
    estimate, rel = d.get("adaptive_estimate"), d.get("adaptive_relative_error")
    if redact:
        return ("  ↳ adaptive attacker", fmt.error_category(None, rel), DASH, DASH)
    return ("  ↳ adaptive attacker", fmt.sci(estimate, 3), fmt.sci(rel), DASH, DASH, DASH)


# -- reproduction --------------------------------------------------------------------------


def build_reproduce_report(rep: Reproduction, redact: bool = False) -> Report:
    """The reproduction report (the paper's figures and tables) as a :class:`Report`."""
    m = rep.manifest
    est = rep.tables["estimation"]
    sections = [
        _about(rep),
        _estimation(rep, redact),
        _tolerance(rep),
        _repro_defences(rep, redact),
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
        footer=_footer(f"the tables and manifest.json in {folder_name(rep.folder)}"),
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
    cols = ["learner", "dataset", "hyperparameter"]
    cols += [] if redact else ["true_value", "estimate"]
    cols += ["relative_error", "log10_error", "status"]
    cols += [] if redact else ["message"]  # reasons quote the estimates
    not_ok = frozenset(i for i, s in enumerate(est["status"]) if s != "ok")
    return section.add(
        _frame_table(
            est,
            cols,
            "One row per trained model and hyperparameter; highlighted rows are not ok "
            "and left out of the medians.",
            highlight=not_ok,
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


def _repro_defences(rep: Reproduction, redact: bool) -> Section | None:
    frame = rep.tables.get("defences")
    if frame is None or frame.empty:
        return None
    section = Section(
        "defences",
        REPRODUCE_SECTIONS["defences"],
        lead="Round the released weights to k decimals (or add noise): the attack's "
        "error grows, and so may the cost in test score.",
    )
    section.add(plots_audit.defence_plots(rep))
    cols = ["learner", "dataset", "defence", "level", "hyperparameter"]
    cols += [] if redact else ["true_value", "estimate"]
    cols += [
        "relative_error",
        "status",
        "test_score_original",
        "test_score_defended",
        "score_change",
    ]
    return section.add(
        _frame_table(frame, cols, "level: decimals kept (round) or relative noise scale (noise).")
    )


def _tsr(rep: Reproduction, redact: bool) -> Section | None:
    frame = rep.tables.get("train_steal_retrain")
    if frame is None or frame.empty:
        return None
    section = Section(
        "tsr",
        REPRODUCE_SECTIONS["tsr"],
        lead="Tune on a fraction of the data, steal the value from that model, "
        "retrain once on everything; against tuning on all the data.",
    )
    section.add(plots_audit.tsr_plot(rep))
    cols = ["learner", "dataset", "hyperparameter", "fraction"]
    cols += [] if redact else ["value_tuned_all", "value_stolen"]
    cols += [
        "steal_relative_error",
        "status",
        "speedup",
        "time_saved",
        "score_tune_all",
        "score_tsr",
        "score_change",
    ]
    return section.add(
        _frame_table(
            frame, cols, "speedup: seconds to tune on all rows over seconds of Train-Steal-Retrain."
        )
    )


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
) -> Table:
    columns = [c for c in columns if c in frame.columns]
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


def _footer(source: str) -> str:
    from tuner import __version__

    return (
        f"Made by hyperseal {__version__} from {source}. Reports only render: every number "
        "comes from the audit's own results."
    )
