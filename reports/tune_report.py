"""The tuning report: what was run, what won, how the search went, every trial.

:func:`build_tune_report` turns a :class:`~reports.inputs.TuneRun` into a
:class:`~reports.document.Report`; :func:`render_tune_report` reads a run
folder with its key and writes the HTML page and its Markdown twin.

With ``redact=True`` no hyperparameter value is written anywhere: not in the
text, not in a table, not on a plot's axis. Fitness, metrics, importances
and failure reasons (with numbers masked) remain.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports import plots_params, plots_tune
from reports.document import Card, Cards, Facts, Gallery, Note, Report, Section, Table
from reports.inputs import TuneRun, read_tune_run
from reports.output import ReportPaths, check_writable, report_paths, write_report
from tuner.outputs import folder_name
from tuner.plaintext import public_metrics

if TYPE_CHECKING:
    from tuner.search.trial import TrialResult
    from tuner.vault import KeySource

DASH = fmt.DASH
METRIC_ORDER = ("mAP", "mAP50", "mAP75", "AR100")
SECTIONS = {
    "setup": "Setup",
    "best": "Best configuration against the default",
    "history": "Optimisation history",
    "parameters": "Parameters against fitness",
    "importance": "Parameter importance and freezing",
    "curves": "Learning curves",
    "failures": "Failed trials",
    "trials": "All trials",
}
"""Section anchors and headings, in order."""

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
    sealed: dict[str, list[Any]] = {}
    for trial in run.trials:
        for name, value in trial.params.items():
            sealed.setdefault(name, []).append(value)
    return write_report(paths, to_html(report), to_markdown(report), private=report.private,
                        sealed=sealed)  # fmt: skip


def build_tune_report(run: TuneRun, redact: bool = False) -> Report:
    """The tuning report of ``run`` as a :class:`Report` (no file is written)."""
    info = run.info
    model = info.get("model") or {}
    sections = [
        _setup(run, redact),
        _best(run, redact),
        _history(run),
        _parameters(run, redact),
        _importance(run, redact),
        _curves(run),
        _failures(run, redact),
        _trials(run, redact),
    ]
    tuned = (
        f"{model.get('arch', '?')}/{model.get('backbone', '?')} on {_data_name(run)}"
        if run.detector
        else _objective_name(run)
    )
    subtitle = " · ".join(
        s
        for s in (
            tuned,
            str(info.get("optimizer", "")),
            f"{len(run.trials)} of {info.get('budget', '?')} trials",
            _when(info.get("updated_at")),
        )
        if s
    )
    return Report(
        kind="tune",
        title=f"Tuning report: {folder_name(run.run_dir)}",
        subtitle=subtitle,
        redacted=redact,
        banner=Note(REDACTED_NOTE, "info") if redact else Note(PRIVATE_NOTE, "warn"),
        sections=sections,
        footer=_footer(run),
        private=not redact,
    )


# -- sections ------------------------------------------------------------------------------


def _setup(run: TuneRun, redact: bool) -> Section:
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


def _space_table(run: TuneRun, redact: bool) -> Table:
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


def _best(run: TuneRun, redact: bool) -> Section:
    section = Section("best", SECTIONS["best"])
    best, default = run.best, run.default
    if best is None:
        return section.add(
            Note("No trial completed yet, so there is no best configuration.", "warn")
        )
    cards = [
        Card(
            "best fitness",
            fmt.score(best.fitness),
            f"trial {best.number}" + ("" if best.status == "ok" else f" ({best.status})"),
            "good",
        )
    ]
    if default is not None:
        gain = best.fitness - default.fitness if default.status != "failed" else None
        cards.append(Card("default config", fmt.score(default.fitness), "trial 0"))
        if gain is not None:
            rel = (
                f"{gain / default.fitness:+.0%} relative" if default.fitness > 0 else "over trial 0"
            )
            cards.append(Card("gain", fmt.signed(gain), rel, "good" if gain > 0 else "neutral"))
    section.add(Cards(tuple(cards)))
    metrics = _metric_names([t for t in (best, default) if t is not None])
    rows = []
    for m in metrics:
        b = best.metrics.get(m)
        d = default.metrics.get(m) if default is not None else None
        change = fmt.signed(b - d) if fmt.is_number(b) and fmt.is_number(d) else DASH
        rows.append((m, fmt.score(d), fmt.score(b), change))
    if rows:
        section.add(
            Table(
                ("metric", "default (trial 0)", f"best (trial {best.number})", "change"),
                tuple(rows),
                numeric=frozenset({1, 2, 3}),
                caption=(
                    "Validation metrics (COCO) at the end of training."
                    if run.detector
                    else "Metrics the objective reported at the end of the trial."
                ),
            )
        )
    if redact:
        section.add(Note("The two configurations' values are hidden in this redacted report."))
        return section
    names = [p.name for p in run.space if p.name in best.params]
    names += [n for n in best.params if n not in names]
    cfg = []
    changed = set()
    for i, name in enumerate(names):
        d = default.params.get(name) if default is not None else None
        b = best.params.get(name)
        if default is not None and d != b:
            changed.add(i)
        cfg.append(
            (
                name,
                fmt.param(d) if default is not None else DASH,
                fmt.param(b),
                "changed" if i in changed else "",
            )
        )
    section.add(
        Table(
            ("parameter", "default", "best", ""),
            tuple(cfg),
            numeric=frozenset({1, 2}),
            highlight=frozenset(changed),
            caption="Best configuration against the default; changed rows are marked.",
        )
    )
    return section


def _history(run: TuneRun) -> Section:
    section = Section("history", SECTIONS["history"])
    figures = plots_tune.history(run)
    if not figures:
        return section.add(Note("No trial has finished yet."))
    return section.add(Gallery(tuple(figures)))


def _parameters(run: TuneRun, redact: bool) -> Section:
    section = Section("parameters", SECTIONS["parameters"])
    if redact:
        return section.add(
            Note(
                "Left out of the redacted report: these plots put parameter values on their axes, "
                "and even ranks against a known search space give the values away roughly."
            )
        )
    figures = plots_params.parameter_scatter(run)
    if not figures:
        return section.add(Note("No searched parameter to show."))
    section.add(Gallery(tuple(figures)), plots_params.parallel_coordinates(run))
    return section


def _importance(run: TuneRun, redact: bool) -> Section:
    section = Section("importance", SECTIONS["importance"])
    frozen = run.frozen
    freeze_values = {n: v for r in run.freezes for n, v in (r.get("params") or {}).items()}
    rows = run.importance
    if not rows:
        from tuner.search.importance import MIN_TRIALS

        section.add(
            Note(
                f"No importances: they need at least {MIN_TRIALS} completed trials "
                f"and this run has {sum(t.status == 'ok' for t in run.trials)}."
            )
        )
    else:
        section.add(plots_tune.importance(run))
        table = []
        for r in rows:
            name = str(r["param"])
            row = (
                str(r.get("rank", "")),
                name,
                fmt.importance(r.get("importance")),
                _frozen_text(name, frozen),
            )
            table.append(row + (() if redact else (_frozen_value(name, freeze_values),)))
        columns = ("rank", "parameter", "importance", "frozen")
        section.add(
            Table(
                columns + (() if redact else ("frozen at",)),
                tuple(table),
                numeric=frozenset({0, 2}),
                caption="Importance: share of the fitness variance each parameter "
                "explains over completed trials (f-ANOVA).",
            )
        )
    if frozen and not rows:
        section.add(Facts(tuple((n, _frozen_text(n, frozen)) for n in frozen)))
    if not frozen:
        enabled = run.settings.get("freeze_unimportant")
        section.add(
            Note(
                "No parameter was frozen."
                if enabled
                else "Freezing of unimportant parameters was off for this run."
            )
        )
    return section


def _frozen_text(name: str, frozen: dict[str, int]) -> str:
    if name not in frozen:
        return "no"
    after = frozen[name]
    return f"after {after} trials" if after else "yes"


def _frozen_value(name: str, values: dict[str, Any]) -> str:
    return fmt.param(values[name]) if name in values else ""


def _curves(run: TuneRun) -> Section:
    section = Section("curves", SECTIONS["curves"])
    figure = plots_tune.learning_curves(run)
    if figure is None:
        return section.add(Note("No learning curve was recorded."))
    pruned = [t for t in run.trials if t.status == "pruned"]
    note = f"{len(pruned)} trial(s) pruned by the {run.info.get('pruner', '?')} rule" + (
        f", saving {run.summary['epochs_saved']} epochs."
        if run.summary.get("epochs_saved")
        else "."
    )
    return section.add(figure, Note(note))


def _failures(run: TuneRun, redact: bool) -> Section:
    section = Section("failures", SECTIONS["failures"])
    failed = [t for t in run.trials if t.status == "failed"]
    if not failed:
        return section.add(Note("No trial failed.", "good"))
    values = run.values()
    rows = []
    for t in failed:
        reason = t.error or "no reason recorded"
        if redact:
            reason = fmt.scrub(reason, values)
        rows.append((str(t.number), str(t.epochs_run), reason))
    caption = (
        "A failed trial is told to the optimizer as the worst fitness seen; the search went on."
    )
    if redact:
        caption += " Numbers in the reasons are masked."
    return section.add(
        Table(
            ("trial", "epochs", "reason"), tuple(rows), numeric=frozenset({0, 1}), caption=caption
        )
    )


def _trials(run: TuneRun, redact: bool) -> Section:
    section = Section("trials", SECTIONS["trials"])
    if not run.trials:
        return section.add(Note("No trial has finished yet."))
    metrics = _metric_names(run.trials)
    params = [] if redact else [p.name for p in run.searched]
    columns = ("trial", "status", "fitness", *metrics, "epochs", "time", *params)
    best = run.best
    rows, highlight = [], set()
    for i, t in enumerate(run.trials):
        if t is best:
            highlight.add(i)
        row = [str(t.number), t.status + (" ★" if t is best else ""), fmt.score(t.fitness)]
        row += [fmt.score(t.metrics.get(m)) for m in metrics]
        row += [str(t.epochs_run), fmt.seconds(t.seconds)]
        row += [fmt.param(t.params[p]) if p in t.params else DASH for p in params]
        rows.append(tuple(row))
    kinds = {p.name: p.kind for p in run.space}
    first_param = 5 + len(metrics)
    numeric = frozenset({0, *range(2, first_param)}) | frozenset(
        first_param + i for i, p in enumerate(params) if kinds.get(p) != "choice"
    )
    caption = "★ marks the best trial. Trial 0 is the default configuration."
    if redact:
        caption += " Parameter columns are left out."
    return section.add(
        Table(
            columns, tuple(rows), numeric=numeric, highlight=frozenset(highlight), caption=caption
        )
    )


# -- helpers -------------------------------------------------------------------------------


def _metric_names(trials: list[TrialResult]) -> list[str]:
    seen = {m for t in trials for m in public_metrics(t.metrics, t.params)}
    return [m for m in METRIC_ORDER if m in seen] + sorted(seen - set(METRIC_ORDER))


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


def _footer(run: TuneRun) -> str:
    from tuner import __version__

    return (
        f"Made by hyperseal {__version__} from {folder_name(run.run_dir)}/run.json and its sealed "
        "journal. Reports only render: every number comes from the run itself."
    )
