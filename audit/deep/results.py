"""The results folder of a detector audit, as the reports package reads it.

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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import AuditOptionError, ModelFileError
from audit.output import check_output_folder, remove_earlier_reports

if TYPE_CHECKING:
    import pandas as pd

    from audit.deep.model_audit import DetectorAudit
    from tuner.vault import KeySource

__all__ = [
    "ENTRY",
    "SUMMARY_FILE",
    "VAULT_FILE",
    "SavedDetectorAudit",
    "default_out_dir",
    "load_detector_audit",
    "save_detector_audit",
]

SUMMARY_FILE = "summary.json"
VAULT_FILE = "audit.hsv"
ENTRY = "audit"


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
    from tuner.plaintext import dumps
    from tuner.vault import Vault

    out = Path(out)
    check_output_folder(out, force=force)
    try:
        out.mkdir(parents=True, exist_ok=True)
        Vault.create(out / VAULT_FILE, key, overwrite=force).put(ENTRY, audit.document())
        # fields checked against the plaintext allow-list (tuner.plaintext)
        _atomic_text(out / SUMMARY_FILE, dumps("audit summary.json", audit.summary()).decode())
        remove_earlier_reports(out)
    except OSError as exc:
        raise AuditOptionError(
            f"cannot write the results to {out}: {exc.filename or out}: "
            f"{exc.strerror or exc}; check the folder's permissions and free disk space"
        ) from None
    return out


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

        from audit.deep.model_audit import DEFENCE_COLUMNS

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


def _atomic_text(path: Path, text: str) -> None:
    """Write through the project's one atomic writer (fresh O_EXCL temp file, mode 0600)."""
    from tuner.vault.atomic import atomic_write

    atomic_write(path, text.encode("utf-8"), error=AuditOptionError)
