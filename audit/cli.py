"""``hyperseal audit ...``: steal hyperparameters from released models, reproduce the paper.

Only parsing and printing live here; each command calls one public function
(:func:`audit.audit_sklearn`, :func:`audit.reproduce`, :func:`audit.audit_model`).
Heavy libraries are imported inside the commands so that ``hyperseal --help``
stays fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from tuner.cli_support import RichProgress, new_app
from tuner.vault.cli_keys import (
    IdentityOption,
    KeyFileOption,
    PassphraseFileOption,
    RecipientOption,
)

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
        metavar="[NAME=]VALUE",
        help="True value (repeat for several, in the learner's order, or NAME=VALUE).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
) -> None:
    """Estimate a scikit-learn model's hyperparameters from its weights and training data."""
    from audit.classical.learners import get_learner
    from audit.classical.sklearn_audit import audit_sklearn

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
    if not report.judgement.ok:
        typer.echo(f"status       {report.judgement.status} ({report.judgement.reason})")
    for note in report.result.notes:
        typer.echo(f"note: {note}")
    if report.declared:
        stored = ", ".join(f"{k}={v:.6g}" for k, v in report.declared.items())
        typer.echo(f"note: the model file itself stores {stored}; anyone with the file reads it")


@app.command("reproduce")
def reproduce_cmd(
    quick: bool = typer.Option(
        False, "--quick", help="One dataset per learner, short grids (seconds, not minutes)."
    ),
    out: Path = typer.Option(
        Path("audit-reproduce"), "--out", help="Folder for the CSV/Parquet tables; new or empty."
    ),
    force: bool = typer.Option(
        False, "--force", help="Write into a non-empty --out (same-named tables are replaced)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
) -> None:
    """Reproduce Wang & Gong (IEEE S&P 2018) on bundled datasets and write the tables."""
    from audit.classical.reproduction import median_errors, reproduce, status_counts

    result = reproduce(out, quick=quick, progress=None if as_json else RichProgress(), force=force)
    est = result.tables["estimation"]
    medians = median_errors(est)
    counts = status_counts(est)
    preset = "quick" if quick else "full"
    if as_json:
        summary = {
            "preset": preset,
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
        typer.echo(json.dumps(_json_safe(summary)))
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


@app.command("learners")
def learners_cmd() -> None:
    """List the learners the audit knows, with their objectives."""
    from audit.classical.learners import LEARNERS

    for lrn in LEARNERS.values():
        names = ", ".join(lrn.hyperparameters)
        typer.echo(f"{lrn.name:<20} {lrn.library}  [{names}]")
        typer.echo(f"{'':<20} {lrn.objective}")


@app.command("model")
def model_cmd(
    model: Path = typer.Option(
        ..., "--model", help="Released model folder (manifest.json + weights.safetensors)."
    ),
    data: str = typer.Option(
        "synthetic", "--data", help="Training data the attacker knows: 'synthetic' or a folder."
    ),
    vault: Path | None = typer.Option(
        None, "--vault", help="Vault with the true recipe (from `hyperseal tune`), for a verdict."
    ),
    entry: str | None = typer.Option(
        None, "--entry", help="Vault entry of this model (default: the only one, or the run's)."
    ),
    known_fraction: float = typer.Option(
        1.0, "--known-fraction", help="Share of the training images the attacker knows."
    ),
    defend: str | None = typer.Option(
        None,
        "--defend",
        help="Defences to price, e.g. round:3,round:2,noise:1e-3,rescale:4 (rescale: no mAP cost).",
    ),
    map_tolerance: float = typer.Option(
        0.01, "--map-tolerance", help="mAP a recommended defence may cost at most."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Training batch size to assume (default: the recipe's, else 8)."
    ),
    optimizer: str | None = typer.Option(
        None, "--optimizer", help="sgd or adamw, to assume without a vault."
    ),
    decay_norm_and_bias: bool | None = typer.Option(
        None,
        "--decay-norm-and-bias/--no-decay-norm-and-bias",
        help="Decay rule to assume (default: the recipe's, else not decayed).",
        show_default=False,
    ),
    images: int = typer.Option(500, "--images", help="Synthetic images (with --data synthetic)."),
    data_seed: int = typer.Option(0, "--data-seed", help="Seed of the synthetic scenes."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(
        None, "--threads", help="torch CPU threads (default: torch's; 1 on a busy machine)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the known subset, bootstrap and noise."),
    out: Path | None = typer.Option(
        None, "--out", help="Results folder (default audit-<model name>); must be new or empty."
    ),
    force: bool = typer.Option(
        False, "--force", help="Write into a non-empty --out (an earlier audit is replaced)."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print exactly one JSON object: a PLAINTEXT export (the estimate, and with "
        "--vault the truth and recipe values).",
    ),
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
    recipient: RecipientOption = None,
) -> None:
    """Steal a released detector's weight decay; compare with the sealed truth; price defences."""
    from audit.deep.model_audit import audit_model
    from audit.deep.options import check_options, training_data
    from audit.deep.release import load_released_detector
    from audit.deep.results import default_out_dir, save_detector_audit
    from audit.output import check_output_folder

    out = out or default_out_dir(model)
    # refuse bad options, outputs, files and mismatched data before asking for any key
    check_output_folder(out, force=force)
    check_options(
        known_fraction, defend, map_tolerance, optimizer, batch_size, threads, device, seed
    )
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    released = load_released_detector(model)
    splits = training_data(data, released.spec, images=images, seed=data_seed)
    if vault is not None:
        if recipient is not None:
            from audit.errors import AuditOptionError

            raise AuditOptionError(
                "--recipient seals a new result; with --vault the result is sealed with the "
                "vault's own key"
            )
        key = _vault_key(vault, passphrase_file, key_file, identity)
        result_key = key
    else:
        key = None
        result_key = _result_key(passphrase_file, key_file, recipient)
    report = audit_model(
        released,
        splits,
        vault=vault,
        key=key,
        entry=entry,
        known_fraction=known_fraction,
        defences=defend,
        map_tolerance=map_tolerance,
        batch_size=batch_size,
        optimizer=optimizer,
        decay_norm_and_bias=decay_norm_and_bias,
        synthetic_images=images,
        synthetic_seed=data_seed,
        device=device,
        seed=seed,
        progress=None if as_json else RichProgress(transient=True),
    )
    save_detector_audit(report, out, result_key, force=force)
    if as_json:
        typer.echo(json.dumps(_json_safe({**report.to_json(), "out": str(out)})))
        return
    _print_model_audit(report, out, map_tolerance)


def _batch_images(a: Any) -> str:
    """Images per batch: the batch size, or what one short batch holds when fewer are known."""
    used = a.get("images_used")
    if a["batches"] == 1 and isinstance(used, int) and used < a["batch_size"]:
        return f"{used} (fewer images known than the batch size {a['batch_size']})"
    return str(a["batch_size"])


def _vault_key(
    vault: Path, passphrase_file: Path | None, key_file: Path | None, identity: Path | None
) -> Any:
    from tuner.vault.cli_keys import key_for_reading_or_default

    return key_for_reading_or_default(
        vault, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )


def _result_key(passphrase_file: Path | None, key_file: Path | None, recipient: str | None) -> Any:
    from tuner.vault.cli_keys import key_for_new_or_default

    return key_for_new_or_default(
        passphrase_file=passphrase_file, key_file=key_file, recipient=recipient
    )


def _sci(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{float(value):.{digits - 1}e}"


SOURCES = {"vault": "from the sealed recipe", "option": "as given", "default": "assumed"}


def _print_model_audit(report: Any, out: Path, tolerance: float) -> None:
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
        f"'{report.data}': {batches} (batch size {SOURCES[a['batch_size_source']]}), "
        "train mode, no augmentation"
    )
    typer.echo(f"optimizer  {summary['optimizer_family']} ({SOURCES[a['optimizer_source']]})")
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
    from audit.deep.verdict import describe_verdict

    sources = SOURCES
    a = report.assumptions
    typer.echo(
        f"attacker   knows {a['known_images']} of {a['training_images']} training images of "
        f"'{report.data}': {a['batches']} batch{'es' if a['batches'] != 1 else ''} of "
        f"{_batch_images(a)} "
        f"(batch size {sources[a['batch_size_source']]}), train mode, no augmentation"
    )
    typer.echo(f"optimizer  {report.optimizer_family} ({sources[a['optimizer_source']]})")
    est = report.estimate
    if est is not None:
        groups = est.groups
        invariant = int(groups["scale_invariant"].sum())
        informative = int(groups["informative"].sum())
        typer.echo(
            f"groups     {len(groups)} with weight decay: {invariant} scale-invariant (left "
            f"out), {informative} informative ({est.n_informative:,} of {est.n_decayed:,} "
            "decayed weights)"
        )
        ci = (
            f"   {est.confidence:.0%} interval {_sci(est.ci[0], 2)} … {_sci(est.ci[1], 2)}"
            if est.ci is not None
            else "   (no interval: unreliable)"
            if not est.reliable
            else "   (no interval: not calibrated for detectors)"
        )
        typer.echo(f"estimate   weight_decay ≈ {_sci(report.weight_decay)}{ci}")
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
    if report.truth is not None:
        errors = (
            f"   relative error {_sci(report.relative_error, 2)}, "
            f"|log10| {_sci(report.log10_error, 2)}"
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
    second = report.second_channel
    if second is not None:
        against = (
            f"   truth {_sci(second['truth'])}, ratio {second['ratio']:.2g}"
            if second.get("ratio") is not None
            else ""
        )
        typer.echo(
            f"channel 2  wd/lr_eff ≈ {_sci(second['estimate'])} from the norms of "
            f"{second['groups']} scale-invariant groups{against}"
        )
    judged = (
        f" (owner's worst case, {report.worst_case['variant']})"
        if report.worst_case is not None
        else " (no variant usable without the truth)"
        if report.truth is not None and report.verdict == "resists"
        else ""
    )
    typer.echo(f"verdict    {report.verdict}{judged}: {describe_verdict(report.verdict)}")
    table = report.defences
    if len(table):
        typer.echo(
            f"defences   (re-attacked, validation mAP re-evaluated; tolerance {tolerance:g})"
        )
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
    if report.recommended_defence is not None:
        typer.echo(f"recommend  {report.recommended_defence}")
    for note in report.notes:
        typer.echo(f"note: {note}")
    secs = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
    typer.echo(f"time       {secs}")
    typer.echo(f"wrote {out}: summary.json (no values) and audit.hsv (sealed)")


def _no_negative_zero(value: float, places: int) -> float:
    """``value``, or 0.0 where it would print as ``-0.000`` at ``places`` decimals."""
    return 0.0 if round(value, places) == 0 else value
