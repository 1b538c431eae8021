"""The plots of the tuning report that draw no hyperparameter value: history, importances, curves.

Each function draws one thing from a :class:`~reports.inputs.TuneRun` and
returns a :class:`~reports.document.Figure` (or None when there is nothing to
draw). The plots that put parameter values on an axis are in
:mod:`reports.plots_params`, which shares this module's trial marks
(:func:`mark_trials`, :func:`legend_handles`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports.document import Figure
from reports.style import (
    BEST,
    DEFAULT,
    SMALL,
    STATUS,
    figure,
    finish,
    label_at,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from reports.inputs import TuneRun
    from tuner.search.trial import TrialResult


def fitness_label(run: TuneRun) -> str:
    """The fitness axis's label (names the metric)."""
    return f"fitness ({run.settings.get('fitness', 'mAP')})"


def finite(value: float) -> bool:
    """True for a number that can be drawn (not None, not NaN, not infinite)."""
    return value is not None and math.isfinite(value)


def best_so_far(trials: list[TrialResult]) -> list[float]:
    """Running best fitness of completed (``ok``) trials, NaN before the first one."""
    best, out = -math.inf, []
    for t in trials:
        if t.status == "ok" and finite(t.fitness):
            best = max(best, t.fitness)
        out.append(best if best > -math.inf else math.nan)
    return out


def legend_handles(*entries: tuple[str, dict[str, Any]]) -> list[Any]:
    """Legend entries drawn with the given line styles (label, style)."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], label=label, **style) for label, style in entries]


_MARK = {
    "ok": {"marker": "o", "color": STATUS["ok"], "linestyle": "none", "markersize": 6},
    "pruned": {"marker": "^", "color": STATUS["pruned"], "linestyle": "none", "markersize": 6},
    "failed": {
        "marker": "x",
        "color": STATUS["failed"],
        "linestyle": "none",
        "markersize": 7,
        "markeredgewidth": 1.8,
    },
    "best": {
        "marker": "*",
        "color": BEST,
        "linestyle": "none",
        "markersize": 14,
        "markeredgecolor": "white",
        "markeredgewidth": 0.6,
    },
    "default": {
        "marker": "o",
        "markerfacecolor": "none",
        "markeredgecolor": DEFAULT,
        "linestyle": "none",
        "markersize": 11,
        "markeredgewidth": 1.4,
    },
}


def mark_trials(ax: Axes, xs: list[float], trials: list[TrialResult], run: TuneRun) -> None:
    """Trials as status-coloured points; failed ones as crosses along the bottom edge."""
    for status in ("ok", "pruned"):
        pts = [
            (x, t.fitness)
            for x, t in zip(xs, trials, strict=True)
            if t.status == status and finite(t.fitness)
        ]
        if pts:
            style = {k: v for k, v in _MARK[status].items() if k != "linestyle"}
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                linestyle="none",
                alpha=0.85,
                zorder=3,
                **style,
            )
    failed = [
        x for x, t in zip(xs, trials, strict=True) if t.status == "failed" or not finite(t.fitness)
    ]
    if failed:
        style = {k: v for k, v in _MARK["failed"].items() if k != "linestyle"}
        ax.plot(
            failed,
            [0.03] * len(failed),
            transform=ax.get_xaxis_transform(),
            linestyle="none",
            zorder=4,
            clip_on=False,
            **style,
        )
    best, default = run.best, run.default
    for trial, kind in ((default, "default"), (best, "best")):
        if trial is not None and trial in trials and finite(trial.fitness):
            x = xs[trials.index(trial)]
            style = {k: v for k, v in _MARK[kind].items() if k != "linestyle"}
            ax.plot([x], [trial.fitness], linestyle="none", zorder=5, **style)


def _legend(
    ax: Axes,
    run: TuneRun,
    extra: tuple[tuple[str, dict[str, Any]], ...] = (),
    below: bool = False,
) -> None:
    statuses = {t.status for t in run.trials}
    entries = [(s, _MARK[s]) for s in ("ok", "pruned", "failed") if s in statuses]
    if run.best is not None:
        entries.append(("best", _MARK["best"]))
    if run.default is not None:
        entries.append(("default config", _MARK["default"]))
    handles = legend_handles(*entries, *extra)
    if below:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3)
    else:
        ax.legend(handles=handles, loc="best", ncols=2)


def history(run: TuneRun) -> list[Figure]:
    """Best so far against trial number, compute seconds and epochs (three small figures)."""
    trials = run.trials
    if not trials:
        return []
    running = best_so_far(trials)
    numbers = [t.number for t in trials]
    out = []
    with figure(SMALL) as fig:
        ax = fig.add_subplot()
        ax.plot(numbers, running, drawstyle="steps-post", color=BEST, linewidth=2.2, zorder=2)
        mark_trials(ax, numbers, trials, run)
        if run.default is not None and finite(run.default.fitness):
            ax.axhline(run.default.fitness, color=DEFAULT, linestyle=(0, (4, 3)), linewidth=1)
        ax.set_xlabel("trial number")
        ax.set_ylabel(fitness_label(run))
        ax.set_title("Best so far, by trial")
        ax.xaxis.get_major_locator().set_params(integer=True)
        _legend(ax, run, (("best so far", {"color": BEST, "linewidth": 2.2}),), below=True)
        out.append(
            finish(
                fig,
                "history-trials",
                "Best fitness so far against trial number",
                "Each point is a trial; the green line is the best completed trial so far.",
            )
        )
    for name, unit, values in (
        ("seconds", "compute seconds (all trials, summed)", [t.seconds for t in trials]),
        ("epochs", "training epochs (all trials, summed)", [float(t.epochs_run) for t in trials]),
    ):
        spent, total = [], 0.0
        for v in values:
            total += v
            spent.append(total)
        with figure(SMALL) as fig:
            ax = fig.add_subplot()
            ax.plot(
                [0.0, *spent],
                [math.nan, *running],
                drawstyle="steps-post",
                color=BEST,
                linewidth=2.2,
            )
            mark_trials(ax, spent, trials, run)
            ax.set_xlabel(unit)
            ax.set_ylabel(fitness_label(run))
            ax.set_title(f"Best so far, by {name} spent")
            ax.set_xlim(left=0)
            out.append(
                finish(
                    fig,
                    f"history-{name}",
                    f"Best fitness so far against {name} spent",
                    f"Compute in {name}: pruned trials cost less, failed ones little.",
                )
            )
    return out


def importance(run: TuneRun) -> Figure | None:
    """Importance of each parameter as horizontal bars; frozen ones hatched."""
    rows = run.importance
    if not rows:
        return None
    frozen = run.frozen
    rows = list(reversed(rows))
    names = [str(r["param"]) for r in rows]
    values = [float(r["importance"]) for r in rows]
    with figure((SMALL[0] + 0.8, 0.42 * len(rows) + 1.2)) as fig:
        ax = fig.add_subplot()
        colours = [STATUS["pruned"] if n in frozen else STATUS["ok"] for n in names]
        bars = ax.barh(names, values, color=colours, height=0.62)
        for bar, n in zip(bars, names, strict=True):
            if n in frozen:
                bar.set_hatch("///")
                bar.set_edgecolor("white")
        for y, v in enumerate(values):
            label_at(ax, fmt.importance(v), (v, y), va="center", fontsize=8.5)
        ax.set_xlim(0, max([*values, 0.01]) * 1.18)
        ax.set_xlabel("importance (share of fitness variance)")
        ax.grid(False, axis="y")
        handles = [
            legend_handles(("searched to the end", {"color": STATUS["ok"], "linewidth": 6}))[0]
        ]
        if frozen:
            from matplotlib.patches import Patch

            handles.append(
                Patch(
                    facecolor=STATUS["pruned"],
                    hatch="///",
                    edgecolor="white",
                    label="frozen mid-search",
                )
            )
        ax.legend(handles=handles, loc="lower right")
        return finish(fig, "importance", "Parameter importance bar chart")


def learning_curves(run: TuneRun) -> Figure | None:
    """Fitness after each epoch for every trial; pruned trials dashed and crossed where stopped."""
    trials = [t for t in run.trials if t.curve]
    if not trials:
        return None
    best, default = run.best, run.default
    with figure((SMALL[0] + 1.6, SMALL[1] + 0.4)) as fig:
        ax = fig.add_subplot()
        for t in trials:
            epochs = [e for e, _ in t.curve]
            values = [v for _, v in t.curve]
            if t is best or t is default:
                continue
            if t.status == "pruned":
                ax.plot(
                    epochs,
                    values,
                    color=STATUS["pruned"],
                    linestyle="--",
                    linewidth=1.2,
                    alpha=0.85,
                )
                ax.plot(
                    epochs[-1:],
                    values[-1:],
                    marker="x",
                    color=STATUS["pruned"],
                    markersize=8,
                    markeredgewidth=2,
                    linestyle="none",
                )
            elif t.status == "failed":
                ax.plot(epochs, values, color=STATUS["failed"], linestyle=":", linewidth=1.2)
            else:
                ax.plot(epochs, values, color=STATUS["ok"], linewidth=1.1, alpha=0.55)
        for t, colour, width, style in (
            (default, DEFAULT, 1.8, (0, (4, 2))),
            (best, BEST, 2.8, "-"),
        ):
            if t is not None and t.curve:
                ax.plot(
                    [e for e, _ in t.curve],
                    [v for _, v in t.curve],
                    color=colour,
                    linewidth=width,
                    linestyle=style,
                    marker="o",
                    markersize=4,
                    zorder=5,
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(fitness_label(run))
        ax.xaxis.get_major_locator().set_params(integer=True)
        entries = [("completed", {"color": STATUS["ok"], "alpha": 0.7})]
        if any(t.status == "pruned" for t in trials):
            entries.append(
                (
                    "pruned (× where stopped)",
                    {"color": STATUS["pruned"], "linestyle": "--", "marker": "x"},
                )
            )
        if any(t.status == "failed" for t in trials):
            entries.append(("failed", {"color": STATUS["failed"], "linestyle": ":"}))
        if best is not None:
            entries.append(("best", {"color": BEST, "linewidth": 2.8}))
        if default is not None:
            entries.append(("default config", {"color": DEFAULT, "linestyle": (0, (4, 2))}))
        ax.legend(handles=legend_handles(*entries), loc="upper left", ncols=1)
        return finish(
            fig,
            "curves",
            "Learning curves of all trials",
            "Fitness measured after each epoch. Pruned trials stopped early, where the cross is.",
        )
