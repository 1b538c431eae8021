"""The sections of the tuning report after its setup: what won, how the search went, every trial.

Each ``*_section`` function builds one :class:`~reports.document.Section` from
a :class:`~reports.inputs.TuneRun`; with ``redact=True`` it writes no
hyperparameter value (plots that show values are left out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports import plots_params, plots_tune
from reports.document import Card, Cards, Facts, Gallery, Note, Section, Table
from reports.formatting import DASH
from tuner.plaintext import public_metrics

if TYPE_CHECKING:
    from reports.inputs import TuneRun
    from tuner.search.trial import TrialResult

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


def best_section(run: TuneRun, redact: bool) -> Section:
    """Best fitness against the default's, their metrics and (not redacted) their values."""
    section = Section("best", SECTIONS["best"])
    best, default = run.best, run.default
    if best is None:
        return section.add(
            Note("No trial completed yet, so there is no best configuration.", "warn")
        )
    section.add(_best_cards(best, default), _metrics_table(run, best, default))
    if redact:
        return section.add(
            Note("The two configurations' values are hidden in this redacted report.")
        )
    return section.add(_configurations_table(run, best, default))


def _best_cards(best: TrialResult, default: TrialResult | None) -> Cards:
    """Best fitness, the default's, and the gain."""
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
    return Cards(tuple(cards))


def _metrics_table(run: TuneRun, best: TrialResult, default: TrialResult | None) -> Table | None:
    """Each metric of the default and of the best trial (None when they report none)."""
    rows = []
    for m in metric_names([t for t in (best, default) if t is not None]):
        b = best.metrics.get(m)
        d = default.metrics.get(m) if default is not None else None
        change = fmt.signed(b - d) if fmt.is_number(b) and fmt.is_number(d) else DASH
        rows.append((m, fmt.score(d), fmt.score(b), change))
    if not rows:
        return None
    return Table(
        ("metric", "default (trial 0)", f"best (trial {best.number})", "change"),
        tuple(rows),
        numeric=frozenset({1, 2, 3}),
        caption=(
            "Validation metrics (COCO) at the end of training."
            if run.detector
            else "Metrics the objective reported at the end of the trial."
        ),
    )


def _configurations_table(run: TuneRun, best: TrialResult, default: TrialResult | None) -> Table:
    """The best trial's values beside the default's, changed rows marked (shows values)."""
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
    return Table(
        ("parameter", "default", "best", ""),
        tuple(cfg),
        numeric=frozenset({1, 2}),
        highlight=frozenset(changed),
        caption="Best configuration against the default; changed rows are marked.",
    )


def history_section(run: TuneRun) -> Section:
    """Best fitness so far, by trial and by compute spent."""
    section = Section("history", SECTIONS["history"])
    figures = plots_tune.history(run)
    if not figures:
        return section.add(Note("No trial has finished yet."))
    return section.add(Gallery(tuple(figures)))


def parameters_section(run: TuneRun, redact: bool) -> Section:
    """Each parameter against fitness and the parallel coordinates (left out when redacted)."""
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


def importance_section(run: TuneRun, redact: bool) -> Section:
    """Importances and which parameters were frozen (and, not redacted, at which value)."""
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


def curves_section(run: TuneRun) -> Section:
    """Fitness after each epoch of every trial, and what pruning saved."""
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


def failures_section(run: TuneRun, redact: bool) -> Section:
    """Why trials failed (numbers in the reasons masked when redacted)."""
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


def trials_section(run: TuneRun, redact: bool) -> Section:
    """Every trial in one table (parameter columns left out when redacted)."""
    section = Section("trials", SECTIONS["trials"])
    if not run.trials:
        return section.add(Note("No trial has finished yet."))
    metrics = metric_names(run.trials)
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


def metric_names(trials: list[TrialResult]) -> list[str]:
    """The metrics the trials report (public ones only), the COCO ones first."""
    seen = {m for t in trials for m in public_metrics(t.metrics, t.params)}
    return [m for m in METRIC_ORDER if m in seen] + sorted(seen - set(METRIC_ORDER))
