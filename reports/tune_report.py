"""The tuning report: what was run, what won, how the search went, every trial.

:func:`build_tune_report` turns a :class:`~reports.inputs.TuneRun` into a
:class:`~reports.document.Report`; :func:`render_tune_report` reads a run
folder with its key and writes the HTML page and its Markdown twin. This
module writes the page's frame and its setup section (what was run); the
sections after it are in :mod:`reports.tune_sections`.

With ``redact=True`` no hyperparameter value is written anywhere: not in the
text, not in a table, not on a plot's axis. Fitness, metrics, importances
and failure reasons (with numbers masked) remain.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports import tune_sections
from reports.document import Facts, Note, Report, Section, Table
from reports.formatting import DASH
from reports.inputs import TuneRun, check_tune_folder, read_tune_run
from reports.output import ReportPaths, check_writable, report_paths, write_report
from reports.tune_sections import SECTIONS
from tuner.outputs import folder_name

if TYPE_CHECKING:
    from tuner.vault import KeySource

REDACTED_NOTE = (
    "Redacted report: fitness, metrics, importances and failures only. No hyperparameter "
    "value appears in its text, its tables or its plots."
)
PRIVATE_NOTE = (
    "This report shows the tuned hyperparameters in plaintext, like an export of the vault. "
    "Keep it private; for sharing, make the redacted one (--redact)."
)


def render_tune_report(
    run_dir: Path,
    key: KeySource | str | None,
    out: Path | None = None,
    redact: bool = False,
) -> ReportPaths:
    """Read a tuning run with its key and write its HTML report and Markdown twin.

    Args:
        run_dir: The run folder (``run.json`` + sealed ``journal.hsj``).
        key: The run's key (a key source, or the passphrase as a string).
        out: The ``.html`` file to write (default ``RUN_DIR/report.html``, or
            ``report-redacted.html`` when redacting); the ``.md`` goes beside it.
        redact: Leave out every hyperparameter value.

    Returns:
        The paths written.

    Raises:
        NotAResultError: not a run folder.
        MissingKeyError: no key.
        ReportOutputError: a file that is not our report is in the way.
        WrongKeyError, TamperedError, ...: the journal does not open with ``key``.
    """
    from reports.html import to_html
    from reports.markdown import to_markdown

    paths = report_paths(Path(run_dir), out, redact=redact)
    run = read_tune_run(Path(run_dir), key)
    check_writable(paths)  # before the plots are drawn
    report = build_tune_report(run, redact=redact)
    return write_report(
        paths, to_html(report), to_markdown(report), private=report.private, sealed=_sealed(run)
    )


def sealed_journal(run_dir: Path) -> Path:
    """The sealed file whose key :func:`render_tune_report` needs: the run's journal.

    Raises:
        NotAResultError: not a run folder, or its journal is missing (said before
            any key is asked for).
    """
    from tuner.engine.folder import JOURNAL_FILE

    check_tune_folder(Path(run_dir))
    return Path(run_dir) / JOURNAL_FILE


def _sealed(run: TuneRun) -> dict[str, list[Any]]:
    """Every value each parameter took: a redacted report that prints one is not written."""
    sealed: dict[str, list[Any]] = {}
    for trial in run.trials:
        for name, value in trial.params.items():
            sealed.setdefault(name, []).append(value)
    return sealed


def build_tune_report(run: TuneRun, redact: bool = False) -> Report:
    """The tuning report of ``run`` as a :class:`Report` (no file is written)."""
    sections = [
        _setup(run, redact),
        tune_sections.best_section(run, redact),
        tune_sections.history_section(run),
        tune_sections.parameters_section(run, redact),
        tune_sections.importance_section(run, redact),
        tune_sections.curves_section(run),
        tune_sections.failures_section(run, redact),
        tune_sections.trials_section(run, redact),
    ]
    return Report(
        kind="tune",
        title=f"Tuning report: {folder_name(run.run_dir)}",
        subtitle=_subtitle(run),
        redacted=redact,
        banner=Note(REDACTED_NOTE, "info") if redact else Note(PRIVATE_NOTE, "warn"),
        sections=sections,
        footer=fmt.provenance(
            f"{folder_name(run.run_dir)}/run.json and its sealed journal", "the run itself"
        ),
        private=not redact,
    )


def _subtitle(run: TuneRun) -> str:
    """What was tuned, by which optimizer, how far, when."""
    info = run.info
    model = info.get("model") or {}
    tuned = (
        f"{model.get('arch', '?')}/{model.get('backbone', '?')} on {_data_name(run)}"
        if run.detector
        else _objective_name(run)
    )
    parts = (
        tuned,
        str(info.get("optimizer", "")),
        f"{len(run.trials)} of {info.get('budget', '?')} trials",
        _when(info.get("updated_at")),
    )
    return " · ".join(s for s in parts if s)


# -- the setup section ---------------------------------------------------------------------


def _setup(run: TuneRun, redact: bool) -> Section:
    """What was run: data or objective, model, optimizer, budget, counts, the search space."""
    info, summary = run.info, run.summary
    model = info.get("model") or {}
    counts = {s: sum(t.status == s for t in run.trials) for s in ("ok", "pruned", "failed")}
    seconds = summary.get("seconds", sum(t.seconds for t in run.trials))
    epochs_run = summary.get("epochs_run", sum(t.epochs_run for t in run.trials))
    settings = run.settings
    items = [
        ("Run folder", folder_name(run.run_dir)),
        ("Status", str(info.get("status", "unknown"))),
        *(
            [
                ("Data", _data_description(run)),
                (
                    "Model",
                    f"{model.get('arch', '?')} with a {model.get('backbone', '?')} backbone, "
                    f"{model.get('image_size', '?')} px",
                ),
            ]
            if run.detector
            else [("Objective", _objective_name(run))]
        ),
        ("Optimizer", str(info.get("optimizer", "?"))),
        ("Budget", f"{info.get('budget', '?')} trials of up to {info.get('epochs', '?')} epochs"),
        ("Fitness", _fitness_text(info, settings)),
        ("Pruner", str(info.get("pruner", settings.get("pruner", "?")))),
        ("Freezing", _freezing(run)),
        ("Workers", f"{info.get('workers', 1)} ({info.get('executor', 'local')})"),
        (
            "Trials",
            f"{len(run.trials)} finished: {counts['ok']} completed, "
            f"{counts['pruned']} pruned, {counts['failed']} failed",
        ),
        (
            "Compute",
            f"{fmt.seconds(seconds)} in {epochs_run} epochs"
            + (
                f"; pruning saved {summary['epochs_saved']} epochs"
                if summary.get("epochs_saved")
                else ""
            ),
        ),
    ]
    if summary.get("duplicates_avoided"):
        items.append(("Repeats avoided", f"{summary['duplicates_avoided']} duplicate asks"))
    if settings.get("warm_start_runs"):
        items.append(("Warm start", _warm_start(run)))
    section = Section("setup", SECTIONS["setup"])
    status = info.get("status")
    if status != "finished":
        section.add(
            Note(
                f"The run's status is '{status}': this report shows the "
                f"{len(run.trials)} trials finished so far.",
                "warn",
            )
        )
    section.add(Facts(tuple(items)), _space_table(run, redact))
    return section


def _warm_start(run: TuneRun) -> str:
    """How many configs came from how many earlier runs, and the trials that ran them
    (numbers only: the configs are in the trial table)."""
    from tuner.cli_support import count
    from tuner.search.optimizers import point_key

    enqueued = [c for c in run.settings.get("enqueued") or [] if isinstance(c, dict)]
    keys = {point_key(c) for c in enqueued}
    numbers = [str(t.number) for t in run.trials if point_key(t.params) in keys]
    runs = int(run.settings.get("warm_start_runs") or 0)
    text = f"{count(len(enqueued), 'config')} from {count(runs, 'earlier run')}"
    if not numbers:
        return text
    return f"{text}, run as {'trial' if len(numbers) == 1 else 'trials'} {', '.join(numbers)}"


def _space_table(run: TuneRun, redact: bool) -> Table:
    """Each parameter's type and role (and, not redacted, its range, default, condition)."""
    frozen = run.frozen
    rows = []
    for p in run.space:
        role = "frozen" if p.name in frozen else ("searched" if p.searched else "fixed")
        if redact:
            rows.append((p.name, p.kind, role))
            continue
        if p.kind == "choice":
            span = ", ".join(fmt.param(c) for c in p.choices)
        elif p.kind == "fixed":
            span = DASH
        else:
            span = f"{fmt.param(p.low)} … {fmt.param(p.high)}"
        when = "; ".join(f"when {k} = {'/'.join(map(str, v))}" for k, v in p.when.items())
        rows.append((p.name, p.kind, role, span, fmt.param(p.default), when))
    columns = ("parameter", "type", "role")
    if not redact:
        columns += ("range or choices", "default", "condition")
    caption = "The search space." + ("" if not redact else " Ranges and defaults hidden.")
    return Table(columns, tuple(rows), caption=caption)


# -- describing the run --------------------------------------------------------------------


def _data_name(run: TuneRun) -> str:
    data = str(run.info.get("data", "?"))
    return data if data == "synthetic" else Path(data).name or data


def _fitness_text(info: dict[str, Any], settings: dict[str, Any]) -> str:
    text = str(info.get("fitness", settings.get("fitness", "mAP")))
    if settings.get("direction", "maximize") == "minimize":
        return f"{text}, minimized (fitness is its negative)"
    return text


def _objective_name(run: TuneRun) -> str:
    """What a run of your own code tuned: the function, or the command's program."""
    spec = run.objective
    if spec.get("kind") == "command":
        argv = [Path(str(w)).name for w in spec.get("argv") or []][:3]
        return "command " + " ".join(argv) if argv else "a command"
    ref = str(spec.get("ref") or "a Python function")
    where, _, name = ref.rpartition(":")
    return f"Python function {Path(where).name}:{name}" if where else f"Python function {ref}"


def _data_description(run: TuneRun) -> str:
    data = str(run.info.get("data", "?"))
    opts = run.options
    if data == "synthetic":
        return (
            f"synthetic driving scenes: {opts.get('synthetic_images', '?')} images, "
            f"seed {opts.get('synthetic_seed', '?')}"
        )
    return f"COCO folder {data}"


def _freezing(run: TuneRun) -> str:
    s = run.settings
    if not s.get("freeze_unimportant"):
        return "off"
    return f"on: importance below {s.get('freeze_threshold', 0.05)} frozen mid-search"


def _when(stamp: Any) -> str:
    if not stamp:
        return ""
    try:
        when = _dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    return when.strftime("%Y-%m-%d %H:%M UTC")
