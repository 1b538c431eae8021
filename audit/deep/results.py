"""The outcome of a detector audit (:class:`DetectorAudit`) and its results folder.

::

    RESULT_DIR/
      summary.json   plaintext: kind, model, data, known fraction, optimizer family,
                     verdict, recommended defence; no number that reveals the recipe
      audit.hsv      sealed vault, entry "audit": estimate, plain estimate, interval,
                     truth, errors, verdict, groups, defences, threat model

The estimate is sealed because, next to the truth and the errors, it *is* the
recipe. :func:`save_detector_audit` refuses a non-empty folder (unless forced);
:func:`load_detector_audit` reads one back with the DataFrames the reports and
notebooks use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.deep.verdict import finite_or_none
from audit.errors import AuditOptionError, ModelFileError
from audit.output import check_output_folder, remove_earlier_reports

if TYPE_CHECKING:
    import pandas as pd

    from audit.deep.steal import WeightDecayEstimate
    from tuner.vault import KeySource

__all__ = [
    "ENTRY",
    "SUMMARY_FILE",
    "VAULT_FILE",
    "DetectorAudit",
    "SavedDetectorAudit",
    "default_out_dir",
    "load_detector_audit",
    "save_detector_audit",
    "write_summary",
]

SUMMARY_FILE = "summary.json"
VAULT_FILE = "audit.hsv"
ENTRY = "audit"


@dataclass
class DetectorAudit:
    """The outcome of :func:`audit_model`.

    Attributes:
        model: ``{"arch", "backbone", "image_size"}`` of the release.
        data: The data argument (``synthetic`` or a folder).
        known_fraction: Share of the training images the attacker knows.
        optimizer_family: ``sgd``, ``adamw`` or ``unknown`` (attack assumes SGD).
        verdict: ``leaks``, ``partial``, ``resists``, ``unknown`` or ``not-applicable``.
        recommended_defence: The cheapest sufficient defence, ``none`` when the
            weights already resist, ``None`` when nothing tried qualifies or
            there is no truth to judge by.
        estimate: The attack's result (``None`` for AdamW).
        truth: The true weight decay (``None`` without the vault).
        relative_error: ``|est − true| / true``.
        log10_error: ``|log10(est / true)|``.
        defences: One row per defence (columns
            :data:`audit.deep.pricing.DEFENCE_COLUMNS`; empty without any).
        threat_model: What the attacker is assumed to know and do, in words.
        assumptions: Batch size, decay rule, optimizer and where each came from,
            images and batches used.
        notes: Caveats in plain language.
        weights_sha256: Hash of the weights audited.
        seconds: Wall time per step.
        worst_case: The owner's worst case, ``{"variant", "estimate", "ratio"}``:
            the attack variant closest to the truth (``None`` without the truth
            or without a positive estimate). The verdict is its verdict.
        pick_verdict: The verdict the attacker's pick alone earns (``None``
            without the truth).
        second_channel: ``wd / lr_eff`` read from the norms of the
            scale-invariant groups (:mod:`audit.deep.equilibrium`):
            ``{"estimate", "ci", "groups", "truth", "ratio"}`` (truth and ratio
            ``None`` without the recipe's learning rate and momentum).
    """

    model: dict[str, Any]
    data: str
    known_fraction: float
    optimizer_family: str
    verdict: str
    recommended_defence: str | None
    estimate: WeightDecayEstimate | None
    truth: float | None
    relative_error: float | None
    log10_error: float | None
    defences: pd.DataFrame
    threat_model: str
    assumptions: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    weights_sha256: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    worst_case: dict[str, Any] | None = None
    pick_verdict: str | None = None
    second_channel: dict[str, Any] | None = None

    @property
    def groups(self) -> pd.DataFrame:
        """One row per parameter group (empty when no attack ran)."""
        import pandas as pd

        from audit.deep.steal import GROUP_COLUMNS

        if self.estimate is None:
            return pd.DataFrame(columns=list(GROUP_COLUMNS))
        return self.estimate.groups

    @property
    def weight_decay(self) -> float | None:
        """The attacker's best estimate (``None`` when there is none)."""
        if self.estimate is None or not math.isfinite(self.estimate.estimate):
            return None
        return self.estimate.estimate

    def summary(self) -> dict[str, Any]:
        """``summary.json``: plaintext, nothing that reveals the recipe.

        The optimizer is a searched choice of the default space: when it came
        from the sealed recipe it reads ``sealed`` here, and so does a
        ``not-applicable`` verdict (it would say AdamW, or no decay); both
        stay in the sealed entry (:meth:`document`).
        """
        from_vault = self.assumptions.get("optimizer_source") == "vault"
        sealed_verdict = from_vault and self.verdict == "not-applicable"
        return {
            "kind": "model-audit",
            "model": dict(self.model),
            "data": self.data,
            "known_fraction": self.known_fraction,
            "optimizer_family": "sealed" if from_vault else self.optimizer_family,
            "verdict": "sealed" if sealed_verdict else self.verdict,
            "recommended_defence": self.recommended_defence,
        }

    def document(self) -> dict[str, Any]:
        """The sealed vault entry ``audit`` (estimates, truth, errors, groups, defences)."""
        est = self.estimate
        groups = [
            {
                "group": str(r.group),
                "parameters": int(r.parameters),
                "estimate": finite_or_none(r.estimate),
                "scale_invariant": bool(r.scale_invariant),
                "cosine": finite_or_none(r.cosine),
            }
            for r in self.groups.itertuples(index=False)
        ]
        defences = [
            {
                "defence": str(r.defence),
                "estimate": finite_or_none(r.estimate),
                "relative_error": finite_or_none(r.relative_error),
                "log10_error": finite_or_none(r.log10_error),
                "adaptive_estimate": finite_or_none(r.adaptive_estimate),
                "adaptive_relative_error": finite_or_none(r.adaptive_relative_error),
                "mAP": finite_or_none(r.mAP),
                "mAP_lost": finite_or_none(r.mAP_lost),
                "recommended": bool(r.recommended),
            }
            for r in self.defences.itertuples(index=False)
        ]
        return {
            "estimate": finite_or_none(est.estimate) if est is not None else None,
            "plain_estimate": finite_or_none(est.plain_estimate) if est is not None else None,
            "ci": [float(v) for v in est.ci] if est is not None and est.ci is not None else None,
            "truth": self.truth,
            "relative_error": finite_or_none(self.relative_error),
            "log10_error": finite_or_none(self.log10_error),
            "verdict": self.verdict,
            "optimizer_family": self.optimizer_family,
            "pick": est.pick if est is not None else None,
            "pick_reason": est.pick_reason if est is not None else None,
            "pick_verdict": self.pick_verdict,
            "reliable": est.reliable if est is not None else None,
            "worst_case": dict(self.worst_case) if self.worst_case is not None else None,
            "second_channel": (
                dict(self.second_channel) if self.second_channel is not None else None
            ),
            "variants": _variant_records(est),
            "groups": groups,
            "defences": defences,
            "threat_model": self.threat_model,
        }

    def to_json(self) -> dict[str, Any]:
        """Everything for ``--json``: the summary, the sealed document and diagnostics."""
        return {
            **self.summary(),
            **self.document(),
            "assumptions": dict(self.assumptions),
            "diagnostics": self.estimate.summary() if self.estimate is not None else None,
            "notes": list(self.notes),
            "weights_sha256": self.weights_sha256,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def _variant_records(est: WeightDecayEstimate | None) -> list[dict[str, Any]]:
    if est is None or est.variants is None:
        return []
    return [
        {
            "variant": str(r.variant),
            "estimate": finite_or_none(r.estimate),
            "ci": [finite_or_none(r.ci_low), finite_or_none(r.ci_high)],
            "corrected": finite_or_none(r.corrected),
            "calibrated": [finite_or_none(r.calibrated_low), finite_or_none(r.calibrated_high)],
            "usable": bool(r.usable),
            "pick": bool(r.pick),
            "note": str(r.note),
        }
        for r in est.variants.itertuples(index=False)
    ]


def default_out_dir(model: str | Path) -> Path:
    """``audit-<name>`` in the working folder; ``<name>`` is the run's for a run's ``best/``."""
    path = Path(model).resolve()
    folder = path if path.is_dir() else path.parent
    name = folder.parent.name if folder.name == "best" and folder.parent.name else folder.name
    return Path(f"audit-{name or 'model'}")


def save_detector_audit(
    audit: DetectorAudit, out: str | Path, key: KeySource, *, force: bool = False
) -> Path:
    """Write ``summary.json`` and the sealed ``audit.hsv`` to ``out``; return ``out``.

    Args:
        audit: The audit to save.
        out: The results folder (created if missing).
        key: Seals ``audit.hsv``.
        force: Write into a non-empty folder, replacing an earlier audit's files (its reports,
            which would show the old numbers, are removed).

    Raises:
        AuditOptionError: ``out`` is in the way (see
            :func:`audit.output.check_output_folder`) or cannot be written.
        VaultError: the key cannot seal, or the vault cannot be written.
    """
    from tuner.vault import Vault

    out = Path(out)
    check_output_folder(out, force=force)
    try:
        out.mkdir(parents=True, exist_ok=True)
        Vault.create(out / VAULT_FILE, key, overwrite=force).put(ENTRY, audit.document())
        write_summary(out, audit.summary())
        remove_earlier_reports(out)
    except OSError as exc:
        raise AuditOptionError(
            f"cannot write the results to {out}: {exc.filename or out}: "
            f"{exc.strerror or exc}; check the folder's permissions and free disk space"
        ) from None
    return out


def write_summary(out: str | Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary.json`` atomically, its fields checked against the plaintext allow-list.

    Raises:
        PlaintextFieldError: a field the allow-list (:mod:`tuner.plaintext`) does not name.
        AuditOptionError: the file cannot be written.
    """
    from tuner.plaintext import dumps
    from tuner.vault.atomic import atomic_write

    path = Path(out) / SUMMARY_FILE
    atomic_write(path, dumps("audit summary.json", summary), error=AuditOptionError)
    return path


@dataclass
class SavedDetectorAudit:
    """A detector audit read back from its folder.

    Attributes:
        folder: The results folder.
        summary: ``summary.json``.
        document: The sealed entry ``audit``.
    """

    folder: Path
    summary: dict[str, Any]
    document: dict[str, Any]

    @property
    def groups(self) -> pd.DataFrame:
        """Parameter groups: group, parameters, estimate, scale_invariant, cosine."""
        import pandas as pd

        columns = ["group", "parameters", "estimate", "scale_invariant", "cosine"]
        return pd.DataFrame(self.document.get("groups") or [], columns=columns)

    @property
    def defences(self) -> pd.DataFrame:
        """Defences: defence, estimate, errors, mAP, mAP lost, recommended."""
        import pandas as pd

        from audit.deep.pricing import DEFENCE_COLUMNS

        return pd.DataFrame(self.document.get("defences") or [], columns=list(DEFENCE_COLUMNS))

    @property
    def verdict(self) -> str:
        """The verdict."""
        return str(self.document.get("verdict") or self.summary.get("verdict"))


def load_detector_audit(folder: str | Path, key: KeySource) -> SavedDetectorAudit:
    """Read a detector audit's folder (``summary.json`` + sealed ``audit.hsv``).

    Raises:
        ModelFileError: not a detector audit folder, or a malformed summary.
        WrongKeyError, TamperedError, ...: from the vault.
    """
    from tuner.bounded import MAX_SUMMARY_BYTES, load_json
    from tuner.vault import Vault

    folder = Path(folder)
    path = folder / SUMMARY_FILE
    if not path.exists():
        raise ModelFileError(f"{folder} is not a detector audit ({SUMMARY_FILE} unreadable)")
    summary = load_json(path, MAX_SUMMARY_BYTES, "the audit summary", ModelFileError)
    if not isinstance(summary, dict) or summary.get("kind") != "model-audit":
        raise ModelFileError(f"{path} is not the summary of a detector audit")
    document = Vault.open(folder / VAULT_FILE, key).get(ENTRY)
    return SavedDetectorAudit(folder, summary, document)
