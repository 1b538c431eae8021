"""Reading what the reports render: tuning run folders and audit result folders.

Nothing here computes a result: it reads ``run.json`` and the sealed journal
of a tuning run (:func:`read_tune_run`), the plaintext summary and sealed
vault of a detector audit (:func:`read_model_audit`), or the tables of
``hyperseal audit reproduce`` (:func:`read_reproduction`), and checks that
each has the parts a report needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reports.errors import MissingKeyError, NotAResultError, ResultFormatError
from tuner.engine import folder as engine_folder
from tuner.engine.folder import JOURNAL_FILE, RUN_FILE, try_read

if TYPE_CHECKING:
    import pandas as pd

    from tuner.search.trial import TrialResult
    from tuner.vault import KeySource

AuditKind = Literal["model-audit", "reproduce"]

MODEL_AUDIT_SUMMARY = "summary.json"
MODEL_AUDIT_VAULT = "audit.hsv"
MODEL_AUDIT_ENTRY = "audit"
REPRODUCE_MANIFEST = "manifest.json"
#: Columns of each reproduction table that the report's plots and tables index directly.
REPRODUCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "estimation": (
        "learner",
        "dataset",
        "hyperparameter",
        "true_value",
        "relative_error",
        "status",
    ),
    "tolerance": ("learner", "hyperparameter", "tol", "relative_error", "status"),
    "tolerance_summary": (),
    "defences": (
        "learner",
        "hyperparameter",
        "defence",
        "level",
        "relative_error",
        "score_change",
    ),
    "train_steal_retrain": ("learner", "speedup", "score_change"),
}
REPRODUCE_TABLES = tuple(REPRODUCE_COLUMNS)
_TEXT_COLUMNS = frozenset({"learner", "dataset", "hyperparameter", "status", "defence"})
VERDICTS = ("leaks", "partial", "resists", "unknown", "not-applicable")


# -- tuning runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceParam:
    """One parameter of the run's search space, as the journal stores it."""

    name: str
    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def searched(self) -> bool:
        """Whether the optimizer varied it."""
        return self.kind != "fixed"

    def active(self, params: dict[str, Any]) -> bool:
        """Whether it applied to a trial with these values (``when`` conditions)."""
        return all(params.get(name) in allowed for name, allowed in self.when.items())

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any]) -> SpaceParam:
        kind = str(spec.get("type", "fixed"))
        when = {
            str(k): tuple(v) if isinstance(v, list) else (v,)
            for k, v in (spec.get("when") or {}).items()
        }
        return cls(
            name=name,
            kind=kind,
            default=spec.get("value") if kind == "fixed" else spec.get("default"),
            low=spec.get("low"),
            high=spec.get("high"),
            choices=tuple(spec.get("choices") or ()),
            when=when,
        )


@dataclass
class TuneRun:
    """A tuning run as the report sees it.

    Attributes:
        run_dir: The run folder.
        info: ``run.json`` (plaintext; its ``summary`` may be missing while a run is going).
        settings: The study settings from the journal.
        space: The search space, in the journal's order.
        options: The detector options from the journal.
        trials: Every finished trial, by number.
        freezes: The journal's freeze records (values only in unredacted reports).
        objective: What was tuned, from the journal: ``{"kind": "detector"}`` for the
            built-in trainer, else the objective record (``python`` or ``command``).
    """

    run_dir: Path
    info: dict[str, Any]
    settings: dict[str, Any]
    space: list[SpaceParam]
    options: dict[str, Any]
    trials: list[TrialResult]
    freezes: list[dict[str, Any]]
    objective: dict[str, Any] = field(default_factory=lambda: {"kind": "detector"})

    @property
    def detector(self) -> bool:
        """Whether the run tuned the built-in detector trainer (data, model, COCO metrics)."""
        return self.objective.get("kind") == "detector"

    @property
    def summary(self) -> dict[str, Any]:
        """``run.json``'s summary, or an empty dict while the run has none."""
        value = self.info.get("summary")
        return value if isinstance(value, dict) else {}

    @property
    def searched(self) -> list[SpaceParam]:
        """The parameters the optimizer varied."""
        return [p for p in self.space if p.searched]

    @property
    def best(self) -> TrialResult | None:
        """The best trial as the tuner chose it (``summary.best_trial``, else its rule)."""
        number = self.summary.get("best_trial")
        if number is not None:
            found = [t for t in self.trials if t.number == number]
            if found:
                return found[0]
        from tuner.search.study import StudyResult

        return StudyResult(self.trials, None, {}, 0.0, 0, 0).best

    @property
    def default(self) -> TrialResult | None:
        """Trial 0, the default configuration, when the run included it."""
        if not self.settings.get("include_default", True):
            return None
        return next((t for t in self.trials if t.number == 0), None)

    @property
    def frozen(self) -> dict[str, int]:
        """Frozen parameter names and the finished trial count after which each was frozen."""
        out: dict[str, int] = {}
        for record in self.freezes:
            for name in record.get("params", {}):
                out.setdefault(str(name), int(record.get("after_trials", 0)))
        for name in self.summary.get("frozen") or []:
            out.setdefault(str(name), 0)
        return out

    @property
    def importance(self) -> list[dict[str, Any]]:
        """The final importances from ``run.json``, most important first (may be empty)."""
        rows = self.summary.get("importance") or []
        return sorted(rows, key=lambda r: int(r.get("rank", 0)))

    def values(self) -> list[Any]:
        """Every hyperparameter value of every trial and freeze (what redaction hides)."""
        found: list[Any] = [v for t in self.trials for v in t.params.values()]
        found += [v for r in self.freezes for v in r.get("params", {}).values()]
        found += [p.default for p in self.space]
        return found


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """``RUN_DIR/run.json``, checked to be a hyperseal run's.

    Raises:
        NotAResultError: no folder, no ``run.json``, or not a run's.
    """
    run_dir = Path(run_dir)
    _require_folder(run_dir, "a tuning run folder")
    if try_read(run_dir / RUN_FILE) is None and _looks_like_an_audit(run_dir):
        raise NotAResultError(
            f"{run_dir} is an audit result, not a tuning run; use `hyperseal report audit`"
        )
    info = engine_folder.read_run_info(run_dir)
    if info is None:
        raise NotAResultError(
            f"{run_dir} is not a hyperseal tuning run ({RUN_FILE} missing or not a run's)"
        )
    return info


def check_tune_folder(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of a run folder that also holds its sealed journal (no key needed).

    Raises:
        NotAResultError: not a run folder, or its journal is missing.
    """
    info = read_run_info(run_dir)
    journal = Path(run_dir) / JOURNAL_FILE
    if not journal.is_file():
        raise NotAResultError(f"{run_dir}: the sealed journal {journal.name} is missing")
    return info


def read_tune_run(run_dir: Path, key: KeySource | str | None) -> TuneRun:
    """Read a tuning run folder: ``run.json`` and the sealed journal (needs the run's key).

    Args:
        run_dir: The run folder.
        key: The key the run was sealed with, or its passphrase as a string.

    Raises:
        NotAResultError: not a run folder.
        MissingKeyError: ``key`` is None.
        ResultFormatError: the journal does not start like a tuning run's.
        WrongKeyError, TamperedError, ...: from the vault, when the journal will not open.
    """
    from tuner.engine.checkpoint import load_journal
    from tuner.search.trial import TrialResult

    run_dir = Path(run_dir)
    info = check_tune_folder(run_dir)
    journal = run_dir / JOURNAL_FILE
    if key is None:
        raise MissingKeyError(f"{run_dir}: the trials are sealed; a report needs the run's key")
    records = load_journal(run_dir, _key_source(key))
    start = engine_folder.journal_start(records)
    if start is None:
        raise ResultFormatError(f"{journal}: the journal does not start like a tuning run's")
    header, target = start
    try:
        space = [SpaceParam.from_spec(n, s) for n, s in header["space"].items()]
        trials = [TrialResult.from_record(r) for r in records if r.get("type") == "trial"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultFormatError(
            f"{journal}: a record is malformed ({type(exc).__name__})"
        ) from None
    described = {"kind": "detector"} if target["type"] == "detector" else target.get("objective")
    return TuneRun(
        run_dir=run_dir,
        info=info,
        settings=dict(header.get("settings") or {}),
        space=space,
        options=dict(target.get("options") or {}),
        trials=sorted(trials, key=lambda t: t.number),
        freezes=[r for r in records if r.get("type") == "freeze"],
        objective=dict(described or {}),
    )


# -- audit results -------------------------------------------------------------------------


def audit_kind(folder: Path) -> AuditKind:
    """Which audit wrote ``folder``: ``model-audit`` (detector) or ``reproduce`` (the paper).

    Raises:
        NotAResultError: neither.
    """
    folder = Path(folder)
    _require_folder(folder, "an audit result folder")
    summary = try_read(folder / MODEL_AUDIT_SUMMARY)
    if summary is not None and summary.get("kind") == "model-audit":
        return "model-audit"
    if summary is None and (folder / MODEL_AUDIT_SUMMARY).is_file():
        raise NotAResultError(
            f"{folder / MODEL_AUDIT_SUMMARY} cannot be read as JSON (damaged or edited);"
            " run the audit again into a new folder"
        )
    manifest = try_read(folder / REPRODUCE_MANIFEST)
    if manifest is not None and "tables" in manifest and (folder / "estimation.csv").is_file():
        return "reproduce"
    if (folder / RUN_FILE).is_file():
        raise NotAResultError(
            f"{folder} is a tuning run, not an audit result; use `hyperseal report tune`"
        )
    raise NotAResultError(
        f"{folder} is not an audit result (no {MODEL_AUDIT_SUMMARY} of a model audit, no"
        f" {REPRODUCE_MANIFEST} and tables of `hyperseal audit reproduce`)"
    )


@dataclass
class ModelAudit:
    """A detector audit: the plaintext summary and the sealed result.

    Attributes:
        folder: The result folder.
        summary: ``summary.json`` (model, data, verdict; no value).
        result: The vault entry (estimate, truth, groups, defences, threat model).
    """

    folder: Path
    summary: dict[str, Any]
    result: dict[str, Any]

    @property
    def verdict(self) -> str:
        """The verdict (the sealed one, else the summary's)."""
        return str(self.result.get("verdict") or self.summary.get("verdict") or "unknown")

    @property
    def groups(self) -> list[dict[str, Any]]:
        return list(self.result.get("groups") or [])

    @property
    def defences(self) -> list[dict[str, Any]]:
        return list(self.result.get("defences") or [])

    def values(self) -> list[Any]:
        """Every estimate and truth in the result (what redaction hides)."""
        r = self.result
        found: list[Any] = [r.get("estimate"), r.get("plain_estimate"), r.get("truth")]
        found += list(r.get("ci") or [])
        found += [g.get("estimate") for g in self.groups]
        found += [d.get("estimate") for d in self.defences]
        for v in r.get("variants") or []:
            if isinstance(v, dict):
                found += [v.get("estimate"), v.get("corrected")]
                found += list(v.get("ci") or []) + list(v.get("calibrated") or [])
        worst = r.get("worst_case")
        if isinstance(worst, dict):
            found.append(worst.get("estimate"))
        second = r.get("second_channel")
        if isinstance(second, dict):
            found += [second.get("estimate"), second.get("truth"), *(second.get("ci") or [])]
        return [v for v in found if v is not None]


def read_model_audit(folder: Path, key: KeySource | str | None) -> ModelAudit:
    """Read a detector audit folder (``summary.json`` + sealed ``audit.hsv``).

    Raises:
        NotAResultError: the folder is not a detector audit's.
        MissingKeyError: ``key`` is None.
        ResultFormatError: the vault or its entry is missing or malformed.
        WrongKeyError, TamperedError, ...: from the vault.
    """
    from tuner.vault import EntryNotFoundError, Vault

    folder = Path(folder)
    summary = try_read(folder / MODEL_AUDIT_SUMMARY)
    if summary is None or summary.get("kind") != "model-audit":
        raise NotAResultError(f"{folder} is not a model audit ({MODEL_AUDIT_SUMMARY} missing)")
    if not isinstance(summary.get("model") or {}, dict):
        raise ResultFormatError(
            f"{folder / MODEL_AUDIT_SUMMARY}: 'model' is not an object; restore the file "
            "`hyperseal audit model` wrote"
        )
    vault = folder / MODEL_AUDIT_VAULT
    if not vault.is_file():
        raise ResultFormatError(f"{folder}: the sealed result {MODEL_AUDIT_VAULT} is missing")
    if key is None:
        raise MissingKeyError(f"{folder}: the audit result is sealed; a report needs its key")
    try:
        result = Vault.open(vault, _key_source(key)).get(MODEL_AUDIT_ENTRY)
    except EntryNotFoundError:
        raise ResultFormatError(
            f"{vault}: no entry {MODEL_AUDIT_ENTRY!r}; it is not a model audit's vault"
        ) from None
    for name in ("groups", "defences"):
        if not isinstance(result.get(name, []), list):
            raise ResultFormatError(f"{vault}: {name!r} is not a list")
    return ModelAudit(folder, summary, result)


_HP_COLUMNS = ("true_value", "estimate", "value_tuned_all", "value_tuned_fraction", "value_stolen")


@dataclass
class Reproduction:
    """The tables of ``hyperseal audit reproduce`` and its manifest."""

    folder: Path
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    def table(self, name: str) -> pd.DataFrame | None:
        """The table ``name``, or None when there is none or it has no rows."""
        frame = self.tables.get(name)
        return None if frame is None or frame.empty else frame

    def values(self) -> list[Any]:
        """Every hyperparameter value in the tables (what redaction hides)."""
        found: list[Any] = []
        for frame in self.tables.values():
            for column in _HP_COLUMNS:
                if column in frame:
                    found += [float(v) for v in frame[column] if _finite(v)]
        return found


def read_reproduction(folder: Path) -> Reproduction:
    """Read the CSV tables and manifest written by ``hyperseal audit reproduce``.

    Raises:
        NotAResultError: no readable manifest.
        ResultFormatError: the manifest names a table whose file is missing, or a
            table is unreadable or lacks a column the report needs (or has text in
            a numeric one).
    """
    import pandas as pd

    from tuner.bounded import MAX_SUMMARY_BYTES, check_file

    folder = Path(folder)
    manifest = try_read(folder / REPRODUCE_MANIFEST)
    if manifest is None:
        raise NotAResultError(f"{folder}: {REPRODUCE_MANIFEST} missing or unreadable")
    tables: dict[str, pd.DataFrame] = {}
    for name in REPRODUCE_TABLES:
        path = folder / f"{name}.csv"
        if not path.is_file():
            if name in (manifest.get("tables") or {}):
                raise ResultFormatError(
                    f"{folder}: the manifest lists {name} but {path.name} is missing"
                )
            continue
        check_file(path, MAX_SUMMARY_BYTES, "the table", ResultFormatError)  # before parsing
        try:
            tables[name] = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise ResultFormatError(
                f"{path}: cannot read the table ({type(exc).__name__})"
            ) from None
        _check_columns(path, tables[name], REPRODUCE_COLUMNS[name])
    if "estimation" not in tables:
        raise ResultFormatError(f"{folder}: estimation.csv is missing")
    return Reproduction(folder, manifest, tables)


def _check_columns(path: Path, frame: pd.DataFrame, needed: tuple[str, ...]) -> None:
    """Refuse a table without the columns the report reads, or with text in a numeric one."""
    import pandas as pd

    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ResultFormatError(
            f"{path}: missing column(s) {', '.join(missing)} that the report needs; "
            "write the tables again with `hyperseal audit reproduce`"
        )
    text = [
        c
        for c in needed
        if c not in _TEXT_COLUMNS
        and not frame[c].isna().all()
        and not pd.api.types.is_numeric_dtype(frame[c])
    ]
    if text:
        raise ResultFormatError(
            f"{path}: column(s) {', '.join(text)} hold text where the report needs numbers; "
            "write the tables again with `hyperseal audit reproduce`"
        )


# -- helpers -------------------------------------------------------------------------------


def _key_source(key: KeySource | str) -> KeySource:
    if isinstance(key, str):
        from tuner.vault import Passphrase

        return Passphrase(key)
    return key


def _require_folder(path: Path, what: str) -> None:
    if path.is_dir():
        return
    if path.exists():
        raise NotAResultError(f"{path} is a file, not a folder; pass {what}")
    raise NotAResultError(f"{path}: no such folder; pass {what}")


def _looks_like_an_audit(folder: Path) -> bool:
    summary = try_read(folder / MODEL_AUDIT_SUMMARY) or {}
    manifest = try_read(folder / REPRODUCE_MANIFEST) or {}
    return summary.get("kind") == "model-audit" or "tables" in manifest


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
