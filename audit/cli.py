"""``hyperseal audit ...``: steal hyperparameters from released models, reproduce the paper.

Only parsing, prompting for keys and mapping options to calls live here; each
command calls one public function (:func:`audit.audit_sklearn`,
:func:`audit.reproduce`, :func:`audit.audit_model`) and prints its result with
:mod:`audit.presentation`. Heavy libraries are imported inside the commands so
that ``hyperseal --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from audit.presentation import (
    print_json,
    print_model_audit,
    print_reproduction,
    print_sklearn_audit,
)
from tuner.cli_support import RichProgress, new_app
from tuner.vault.cli_keys import (
    IdentityOption,
    KeyFileOption,
    PassphraseFileOption,
    RecipientOption,
)

app = new_app("Measure how much of a training recipe released weights leak.")


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
    from audit.classical.sklearn_audit import audit_sklearn

    report = audit_sklearn(model, data, target, learner=learner, true=true or None)
    if as_json:
        print_json(report.to_json())
    else:
        print_sklearn_audit(report)


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
    from audit.classical.reproduction import reproduce

    result = reproduce(out, quick=quick, progress=None if as_json else RichProgress(), force=force)
    print_reproduction(result, quick=quick, as_json=as_json)


@app.command("learners")
def learners_cmd() -> None:
    """List the learners the audit knows, with their objectives."""
    from audit.classical.learners import LEARNERS

    for lrn in LEARNERS.values():
        names = ", ".join(lrn.hyperparameters)
        typer.echo(f"{lrn.name:<20} {lrn.library}  [{names}]")
        typer.echo(f"{'':<20} {lrn.objective}")


# `hyperseal audit model`'s options, one type each, so the command reads as its option list.
_Model = Annotated[
    Path,
    typer.Option("--model", help="Released model folder (manifest.json + weights.safetensors)."),
]
_Data = Annotated[
    str, typer.Option("--data", help="Training data the attacker knows: 'synthetic' or a folder.")
]
_Vault = Annotated[
    Path | None,
    typer.Option(
        "--vault", help="Vault with the true recipe (from `hyperseal tune`), for a verdict."
    ),
]
_Entry = Annotated[
    str | None,
    typer.Option(
        "--entry", help="Vault entry of this model (default: the only one, or the run's)."
    ),
]
_KnownFraction = Annotated[
    float, typer.Option("--known-fraction", help="Share of the training images the attacker knows.")
]
_Defend = Annotated[
    str | None,
    typer.Option(
        "--defend",
        help="Defences to price, e.g. round:3,round:2,noise:1e-3,rescale:4 (rescale: no mAP cost).",
    ),
]
_MapTolerance = Annotated[
    float, typer.Option("--map-tolerance", help="mAP a recommended defence may cost at most.")
]
_BatchSize = Annotated[
    int | None,
    typer.Option(
        "--batch-size", help="Training batch size to assume (default: the recipe's, else 8)."
    ),
]
_Optimizer = Annotated[
    str | None, typer.Option("--optimizer", help="sgd or adamw, to assume without a vault.")
]
_DecayNormAndBias = Annotated[
    bool | None,
    typer.Option(
        "--decay-norm-and-bias/--no-decay-norm-and-bias",
        help="Decay rule to assume (default: the recipe's, else not decayed).",
        show_default=False,
    ),
]
_Images = Annotated[int, typer.Option("--images", help="Synthetic images (with --data synthetic).")]
_DataSeed = Annotated[int, typer.Option("--data-seed", help="Seed of the synthetic scenes.")]
_Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
_Threads = Annotated[
    int | None,
    typer.Option("--threads", help="torch CPU threads (default: torch's; 1 on a busy machine)."),
]
_Seed = Annotated[
    int, typer.Option("--seed", help="Seed of the known subset, bootstrap and noise.")
]
_Out = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Results folder (default audit-<model name>); must be new or empty."
    ),
]
_Force = Annotated[
    bool,
    typer.Option("--force", help="Write into a non-empty --out (an earlier audit is replaced)."),
]
_AsJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print exactly one JSON object: a PLAINTEXT export (the estimate, and with "
        "--vault the truth and recipe values).",
    ),
]


@app.command("model")
def model_cmd(
    model: _Model,
    data: _Data = "synthetic",
    vault: _Vault = None,
    entry: _Entry = None,
    known_fraction: _KnownFraction = 1.0,
    defend: _Defend = None,
    map_tolerance: _MapTolerance = 0.01,
    batch_size: _BatchSize = None,
    optimizer: _Optimizer = None,
    decay_norm_and_bias: _DecayNormAndBias = None,
    images: _Images = 500,
    data_seed: _DataSeed = 0,
    device: _Device = "auto",
    threads: _Threads = None,
    seed: _Seed = 0,
    out: _Out = None,
    force: _Force = False,
    as_json: _AsJson = False,
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
    key, result_key = _keys(vault, passphrase_file, key_file, identity, recipient)
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
        print_json({**report.to_json(), "out": str(out)})
    else:
        print_model_audit(report, out, map_tolerance)


def _keys(
    vault: Path | None,
    passphrase_file: Path | None,
    key_file: Path | None,
    identity: Path | None,
    recipient: str | None,
) -> tuple[Any, Any]:
    """The key that opens ``--vault`` (``None`` without one) and the key that seals the result.

    With ``--vault`` the result is sealed with the vault's own key, so ``--recipient``
    (which names the key of a new result) is refused.
    """
    from tuner.vault.cli_keys import key_for_new_or_default, key_for_reading_or_default

    if vault is None:
        sealing = key_for_new_or_default(
            passphrase_file=passphrase_file, key_file=key_file, recipient=recipient
        )
        return None, sealing
    if recipient is not None:
        from audit.errors import AuditOptionError

        raise AuditOptionError(
            "--recipient seals a new result; with --vault the result is sealed with the "
            "vault's own key"
        )
    key = key_for_reading_or_default(
        vault, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )
    return key, key
