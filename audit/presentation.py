"""What ``hyperseal audit`` prints: one function per command's result, plus strict JSON.

The commands in :mod:`audit.cli` parse their options, call one public function
and hand its result here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

__all__ = [
    "print_json",
    "print_model_audit",
    "print_reproduction",
    "print_sklearn_audit",
]

#: How an assumption's source reads.
_SOURCES = {"vault": "from the sealed recipe", "option": "as given", "default": "assumed"}


def print_json(document: Any) -> None:
    """Print exactly one strict JSON object (NaN and infinities become ``null``)."""
    typer.echo(json.dumps(_json_safe(document), sort_keys=False))


def _json_safe(value: Any) -> Any:
    """Replace NaN and infinities by ``None`` so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# -- audit sklearn -------------------------------------------------------------------------


def print_sklearn_audit(report: Any) -> None:
    """The estimates, their errors against the truth given, and the solve's diagnostics."""
    from audit.classical.learners import get_learner

    lrn = get_learner(report.learner)
    diag = report.result.diagnostics()
    typer.echo(f"learner      {lrn.name}  ({lrn.library})")
    typer.echo(f"objective    {lrn.objective}")
    errors = report.relative_error
    for name, value in report.estimates.items():
        line = f"{name:<12} {value:.6g}"
        if name in report.true:
            line += f"   (true {report.true[name]:.6g}, relative error {errors[name]:.2e})"
        typer.echo(line)
    typer.echo(
        f"equations    {diag['n_equations']} ({diag['n_informative']} informative), "
        f"relative residual {diag['relative_residual']:.2e}, "
        f"condition {diag['condition_number']:.3g}"
    )
    if not report.judgement.ok:
        typer.echo(f"status       {report.judgement.status} ({report.judgement.reason})")
    for note in report.result.notes:
        typer.echo(f"note: {note}")
    if report.declared:
        stored = ", ".join(f"{k}={v:.6g}" for k, v in report.declared.items())
        typer.echo(f"note: the model file itself stores {stored}; anyone with the file reads it")


# -- audit reproduce -----------------------------------------------------------------------


def print_reproduction(result: Any, *, quick: bool, as_json: bool) -> None:
    """The median errors per learner, the rows left out of them, and the files written."""
    from audit.classical.reproduction import median_errors, status_counts

    est = result.tables["estimation"]
    medians = median_errors(est)
    counts = status_counts(est)
    if as_json:
        print_json(_reproduction_summary(result, medians, counts, quick))
        return
    scope = (
        "quick preset: the first dataset of each learner only, so medians differ from the "
        "full run's by dataset"
        if quick
        else "full run: every dataset"
    )
    typer.echo(
        "median relative error per learner, over the rows with status ok "
        f"(library default tolerances; {scope}):"
    )
    for name, row in medians.iterrows():
        value = (
            f"{row.median_relative_error:.2e}"
            if math.isfinite(row.median_relative_error)
            else "no ok row"
        )
        ok, rows = int(row.ok), int(row.ok + row.not_ok)
        typer.echo(f"  {name:<20} {value:<10} ({ok} of {rows} rows ok)")
    left_out = {k: v for k, v in counts.items() if k != "ok"}
    if left_out:
        listed = ", ".join(f"{k} {v}" for k, v in left_out.items())
        typer.echo(
            f"left out of the medians: {sum(left_out.values())} of {len(est)} rows ({listed}); "
            "estimation.csv gives each one's status and message"
        )
    total = sum(result.seconds.values())
    typer.echo(f"wrote {len(result.files)} files to {result.out_dir} in {total:.1f} s")


def _reproduction_summary(
    result: Any, medians: Any, counts: dict[str, int], quick: bool
) -> dict[str, Any]:
    return {
        "preset": "quick" if quick else "full",
        "out": str(result.out_dir),
        "files": [str(f) for f in result.files],
        "seconds": result.seconds,
        "medians": {
            str(name): {
                "median_relative_error": row.median_relative_error,
                "median_log10_error": row.median_log10_error,
                "ok": int(row.ok),
                "not_ok": int(row.not_ok),
            }
            for name, row in medians.iterrows()
        },
        "statuses": counts,
    }


# -- audit model ---------------------------------------------------------------------------


def print_model_audit(report: Any, out: Path, tolerance: float) -> None:
    """The audit on a terminal with its values; into a pipe or a file, only what is public."""
    from tuner import plaintext

    m = report.model
    typer.echo(
        f"model      {m['arch']}/{m['backbone']}, {m['image_size']} px "
        f"(weights {report.weights_sha256[:12]}…)"
    )
    if plaintext.stdout_is_terminal():
        _print_model_audit_values(report, out, tolerance)
    else:
        _print_model_audit_sealed(report, out)


def _batch_images(a: Any) -> str:
    """Images per batch: the batch size, or what one short batch holds when fewer are known."""
    used = a.get("images_used")
    if a["batches"] == 1 and isinstance(used, int) and used < a["batch_size"]:
        return f"{used} (fewer images known than the batch size {a['batch_size']})"
    return str(a["batch_size"])


def _sci(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{float(value):.{digits - 1}e}"


def _no_negative_zero(value: float, places: int) -> float:
    """``value``, or 0.0 where it would print as ``-0.000`` at ``places`` decimals."""
    return 0.0 if round(value, places) == 0 else value


def _print_model_audit_sealed(report: Any, out: Path) -> None:
    """Into a pipe or a file: what summary.json holds, no estimate, truth or recipe value."""
    from audit.deep.verdict import describe_verdict

    a, summary = report.assumptions, report.summary()
    batches = (
        "in batches of the training batch size"
        if a["batch_size_source"] == "vault"
        else f"{a['batches']} batch{'es' if a['batches'] != 1 else ''} of {_batch_images(a)}"
    )
    typer.echo(
        f"attacker   knows {a['known_images']} of {a['training_images']} training images of "
        f"'{report.data}': {batches} (batch size {_SOURCES[a['batch_size_source']]}), "
        "train mode, no augmentation"
    )
    typer.echo(f"optimizer  {summary['optimizer_family']} ({_SOURCES[a['optimizer_source']]})")
    verdict = summary["verdict"]
    meaning = (
        "saying why would name a searched part of the recipe"
        if verdict == "sealed"
        else describe_verdict(verdict)
    )
    typer.echo(f"verdict    {verdict}: {meaning}")
    if summary["recommended_defence"] is not None:
        typer.echo(f"recommend  {summary['recommended_defence']}")
    typer.echo(
        "sealed     weight decay estimates, the truth, errors, defences and notes are printed on a"
        " terminal"
        f" only, never into a pipe or a file; see them with `hyperseal report audit {out}`"
        " (or --json, which prints them)"
    )
    typer.echo(f"wrote {out}: summary.json (no values) and audit.hsv (sealed)")


def _print_model_audit_values(report: Any, out: Path, tolerance: float) -> None:
    """On a terminal: the attacker, the estimate, the truth, the verdict and the defences."""
    a = report.assumptions
    typer.echo(
        f"attacker   knows {a['known_images']} of {a['training_images']} training images of "
        f"'{report.data}': {a['batches']} batch{'es' if a['batches'] != 1 else ''} of "
        f"{_batch_images(a)} "
        f"(batch size {_SOURCES[a['batch_size_source']]}), train mode, no augmentation"
    )
    typer.echo(f"optimizer  {report.optimizer_family} ({_SOURCES[a['optimizer_source']]})")
    if report.estimate is not None:
        _print_estimate(report.estimate, report.weight_decay)
    if report.truth is not None:
        _print_truth(report)
    if report.second_channel is not None:
        _print_second_channel(report.second_channel)
    _print_verdict(report)
    if len(report.defences):
        _print_defences(report.defences, tolerance)
    if report.recommended_defence is not None:
        typer.echo(f"recommend  {report.recommended_defence}")
    for note in report.notes:
        typer.echo(f"note: {note}")
    secs = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
    typer.echo(f"time       {secs}")
    typer.echo(f"wrote {out}: summary.json (no values) and audit.hsv (sealed)")


def _print_estimate(est: Any, weight_decay: float | None) -> None:
    groups = est.groups
    invariant = int(groups["scale_invariant"].sum())
    informative = int(groups["informative"].sum())
    typer.echo(
        f"groups     {len(groups)} with weight decay: {invariant} scale-invariant (left "
        f"out), {informative} informative ({est.n_informative:,} of {est.n_decayed:,} "
        "decayed weights)"
    )
    if est.ci is not None:
        ci = f"   {est.confidence:.0%} interval {_sci(est.ci[0], 2)} … {_sci(est.ci[1], 2)}"
    elif not est.reliable:
        ci = "   (no interval: unreliable)"
    else:
        ci = "   (no interval: not calibrated for detectors)"
    typer.echo(f"estimate   weight_decay ≈ {_sci(weight_decay)}{ci}")
    usable = int(est.variants["usable"].sum()) if est.variants is not None else 0
    total = len(est.variants) if est.variants is not None else 0
    if est.reliable:
        typer.echo(f"pick       {est.pick}: {est.pick_reason} ({usable} of {total} usable)")
    else:
        typer.echo(
            f"pick       none ({est.pick} shown, uncorrected): {est.pick_reason} "
            f"(of {total} variants)"
        )
    typer.echo(
        f"plain      {_sci(est.plain_estimate)}   (the paper's estimate over every decayed "
        "parameter)"
    )


def _print_truth(report: Any) -> None:
    errors = (
        f"   relative error {_sci(report.relative_error, 2)}, |log10| {_sci(report.log10_error, 2)}"
        if report.estimate is not None
        else ""
    )
    typer.echo(f"truth      {_sci(report.truth)}{errors}")
    worst = report.worst_case
    if worst is not None:
        typer.echo(
            f"worst case {_sci(worst['estimate'])} by {worst['variant']}, "
            f"{worst['ratio']:.2f}x from the truth (the variant closest to it; the attacker's "
            f"pick alone: {report.pick_verdict})"
        )


def _print_second_channel(second: dict[str, Any]) -> None:
    against = (
        f"   truth {_sci(second['truth'])}, ratio {second['ratio']:.2g}"
        if second.get("ratio") is not None
        else ""
    )
    typer.echo(
        f"channel 2  wd/lr_eff ≈ {_sci(second['estimate'])} from the norms of "
        f"{second['groups']} scale-invariant groups{against}"
    )


def _print_verdict(report: Any) -> None:
    from audit.deep.verdict import describe_verdict

    if report.worst_case is not None:
        judged = f" (owner's worst case, {report.worst_case['variant']})"
    elif report.truth is not None and report.verdict == "resists":
        judged = " (no variant usable without the truth)"
    else:
        judged = ""
    typer.echo(f"verdict    {report.verdict}{judged}: {describe_verdict(report.verdict)}")


def _print_defences(table: Any, tolerance: float) -> None:
    typer.echo(f"defences   (re-attacked, validation mAP re-evaluated; tolerance {tolerance:g})")
    typer.echo(f"  {'defence':<12}{'estimate':>11}{'rel. error':>12}{'mAP':>8}{'mAP lost':>10}")
    for r in table.itertuples(index=False):
        mark = "   recommended" if r.recommended else ""
        typer.echo(
            f"  {r.defence:<12}{_sci(r.estimate):>11}{_sci(r.relative_error, 2):>12}"
            f"{r.mAP:>8.3f}{_no_negative_zero(r.mAP_lost, 3):>10.3f}{mark}"
        )
        if str(r.defence).startswith("rescale"):
            typer.echo(
                f"  {'  adaptive':<12}{_sci(r.adaptive_estimate):>11}"
                f"{_sci(r.adaptive_relative_error, 2):>12}   (attacker who undoes it)"
            )
