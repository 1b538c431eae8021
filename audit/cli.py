"""``hyperseal audit ...``: steal hyperparameters from released models, reproduce the paper.

Only parsing and printing live here; each command calls one public function
(:func:`audit.audit_sklearn`, :func:`audit.reproduce`). Heavy libraries are
imported inside the commands so that ``hyperseal --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from tuner.cli_support import RichProgress, new_app

app = new_app("Measure how much of a training recipe released weights leak.")


def _json_safe(value: Any) -> Any:
    """Replace NaN and infinities by ``None`` so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


@app.command("sklearn")
def sklearn_cmd(
    model: Path = typer.Option(
        ..., "--model", help="Released model: .skops estimator, or .npz/.json coefficients."
    ),
    data: Path = typer.Option(
        ..., "--data", help="Training data the attacker knows (CSV/Parquet)."
    ),
    target: str = typer.Option(..., "--target", help="Target column in --data."),
    learner: str | None = typer.Option(
        None,
        "--learner",
        help="Learner name (see `hyperseal audit learners`); inferred if omitted.",
    ),
    true: list[str] | None = typer.Option(
        None,
        "--true",
        help="True value (repeat for several, in the learner's order, or NAME=VALUE).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
) -> None:
    """Estimate a scikit-learn model's hyperparameters from its weights and training data."""
    from audit.learners import get_learner
    from audit.sklearn_audit import audit_sklearn

    report = audit_sklearn(model, data, target, learner=learner, true=true or None)
    if as_json:
        typer.echo(json.dumps(_json_safe(report.to_json()), sort_keys=False))
        return
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
    for note in report.result.notes:
        typer.echo(f"note: {note}")
    if report.declared:
        stored = ", ".join(f"{k}={v:.6g}" for k, v in report.declared.items())
        typer.echo(f"note: the model file itself stores {stored}; anyone with the file reads it")


@app.command("reproduce")
def reproduce_cmd(
    quick: bool = typer.Option(False, "--quick", help="Short grids, one dataset per learner."),
    out: Path = typer.Option(
        Path("audit-reproduce"), "--out", help="Folder for the CSV/Parquet tables."
    ),
) -> None:
    """Reproduce Wang & Gong (IEEE S&P 2018) on bundled datasets and write the tables."""
    from audit.reproduce import reproduce

    result = reproduce(out, quick=quick, progress=RichProgress())
    est = result.tables["estimation"]
    ok = est[est["status"] == "ok"]
    summary = ok.groupby("learner", sort=False)["relative_error"].median()
    typer.echo("median relative error per learner (library default tolerances):")
    for name, value in summary.items():
        typer.echo(f"  {name:<20} {value:.2e}")
    total = sum(result.seconds.values())
    typer.echo(f"wrote {len(result.files)} files to {result.out_dir} in {total:.1f} s")


@app.command("learners")
def learners_cmd() -> None:
    """List the learners the audit knows, with their objectives."""
    from audit.learners import LEARNERS

    for lrn in LEARNERS.values():
        names = ", ".join(lrn.hyperparameters)
        typer.echo(f"{lrn.name:<20} {lrn.library}  [{names}]")
        typer.echo(f"{'':<20} {lrn.objective}")
