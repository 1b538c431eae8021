"""The detector audit report (Audit II): verdict, threat model, estimate against truth, defences.

Redacted, it shows the verdict, the threat model, the groups and the defences
with errors as bands (``within 25%``), never an estimate, a truth or an exact
error: with the released weights anyone can redo the estimate, and an exact
error would turn it back into the truth.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports import plots_audit
from reports.document import Card, Cards, Facts, Note, Report, Section, Table
from reports.formatting import DASH
from tuner.outputs import folder_name

if TYPE_CHECKING:
    from reports.inputs import ModelAudit


MODEL_SECTIONS = {
    "verdict": "Verdict",
    "threat": "Threat model",
    "estimate": "Estimate against truth",
    "defences": "Defences: protection against mAP",
}
"""Section anchors and headings, in order."""
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
        _defences(audit, redact),
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
        footer=fmt.provenance(
            f"{folder_name(audit.folder)}/summary.json and its sealed audit.hsv",
            "the audit's own results",
        ),
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
    """Estimate, truth and error (not redacted), the attack's variants, the parameter groups."""
    r = audit.result
    section = Section("estimate", MODEL_SECTIONS["estimate"])
    if not redact:
        section.add(_estimate_cards(r), plots_audit.group_estimates(audit))
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
    if not audit.groups:
        return section.add(Note("The audit recorded no parameter groups."))
    return section.add(_groups_table(audit.groups, redact))


def _estimate_cards(r: dict[str, Any]) -> Cards:
    """Estimate with its interval, truth, errors (shows the sealed numbers)."""
    ci = r.get("ci")
    ci_text = (
        f"{fmt.sci(ci[0], 3)} … {fmt.sci(ci[1], 3)}"
        if isinstance(ci, list) and len(ci) == 2
        else DASH
    )
    return Cards(
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


def _groups_table(groups: list[dict[str, Any]], redact: bool) -> Table:
    """Each parameter group: size, estimate (not redacted), scale invariance, cosine."""
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
    return Table(
        columns,
        tuple(rows),
        numeric=frozenset({1, 2, 4} if not redact else {1, 3}),
        highlight=frozenset(i for i, g in enumerate(groups) if g.get("scale_invariant")),
        caption=caption,
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
            row += [
                fmt.sci(v.get("estimate"), 3),
                fmt.sci(v.get("corrected"), 3),
                interval(v.get("calibrated")),
            ]
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


def _defences(audit: ModelAudit, redact: bool) -> Section:
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
