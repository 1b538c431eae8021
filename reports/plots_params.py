"""The plots that put hyperparameter values on an axis: each parameter against fitness, and
parallel coordinates of all trials.

Only reports that are not redacted call them. They draw trials with the marks
of :mod:`reports.plots_tune`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports.document import Figure
from reports.plots_tune import finite, fitness_label, legend_handles, mark_trials
from reports.style import BEST, CMAP, GREY, SMALL, figure, finish, label_at, log_axis

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap

    from reports.inputs import SpaceParam, TuneRun
    from tuner.search.trial import TrialResult

#: Colour of the vertical axes of the parallel coordinates and of their labels.
AXIS = "#52606d"
AXIS_LABEL = "#323f4b"


def _positions(param: SpaceParam, values: list[Any]) -> tuple[list[float], list[Any]]:
    """x positions of values (category index for choices) and the category order."""
    if param.kind != "choice":
        return [float(v) for v in values], []
    order = list(param.choices) + [v for v in dict.fromkeys(values) if v not in param.choices]
    return [float(order.index(v)) for v in values], order


def parameter_scatter(run: TuneRun) -> list[Figure]:
    """Each searched parameter against fitness: log axes for log parameters, choices as categories.

    Shows parameter values: only for reports that are not redacted.
    """
    out = []
    frozen = run.frozen
    for param in run.searched:
        trials = [t for t in run.trials if param.name in t.params and param.active(t.params)]
        if not trials:
            continue
        xs, order = _positions(param, [t.params[param.name] for t in trials])
        if order:  # spread points of one category a little so they do not hide each other
            xs = [x + 0.06 * ((t.number % 5) - 2) for x, t in zip(xs, trials, strict=True)]
        with figure(SMALL) as fig:
            ax = fig.add_subplot()
            mark_trials(ax, xs, trials, run)
            if param.kind == "log":
                log_axis(ax, "x")
            if order:
                ax.set_xticks(range(len(order)), [fmt.param(c) for c in order])
                ax.set_xlim(-0.5, len(order) - 0.5)
                ax.grid(False, axis="x")
            elif param.low is not None and param.high is not None and param.low < param.high:
                pad = 0.0 if param.kind == "log" else 0.03 * (param.high - param.low)
                ax.set_xlim(param.low - pad, param.high + pad)
            title = param.name + ("  (frozen)" if param.name in frozen else "")
            ax.set_title(title)
            ax.set_xlabel(f"{param.name} ({param.kind})")
            ax.set_ylabel(fitness_label(run))
            when = ", ".join(f"{k} = {'/'.join(map(str, v))}" for k, v in param.when.items())
            caption = f"Only trials where {when}." if when else ""
            out.append(finish(fig, f"param-{param.name}", f"{param.name} against fitness", caption))
    return out


# -- parallel coordinates ------------------------------------------------------------------


def _unit(param: SpaceParam, value: Any, order: list[Any]) -> float:
    """A value placed on [0, 1] along its parallel-coordinates axis."""
    if param.kind == "choice":
        return order.index(value) / max(1, len(order) - 1) if len(order) > 1 else 0.5
    lo, hi, v = param.low, param.high, float(value)
    if lo is None or hi is None or hi <= lo:
        return 0.5
    if param.kind == "log" and lo > 0 and v > 0:
        lo, hi, v = math.log10(lo), math.log10(hi), math.log10(v)
    return min(1.0, max(0.0, (v - lo) / (hi - lo)))


def _param_ticks(param: SpaceParam, order: list[Any]) -> list[tuple[float, str]]:
    """Where a parameter's axis is labelled: every choice, or the two ends of its range."""
    if param.kind == "choice":
        return [(_unit(param, c, order), fmt.param(c)) for c in order]
    return [(0.0, fmt.param(param.low)), (1.0, fmt.param(param.high))]


def _vertical_axis(
    ax: Axes, x: float, ticks: list[tuple[float, str]], color: str | None = AXIS_LABEL
) -> None:
    """One vertical axis at ``x``, labelled at heights on [0, 1] (``color`` None: the ink)."""
    ax.axvline(x, color=AXIS, linewidth=0.9, zorder=1)
    for y, text in ticks:
        label_at(ax, text, (x, y), fontsize=8, va="center", color=color)


def _trial_lines(
    ax: Axes,
    run: TuneRun,
    trials: list[TrialResult],
    orders: dict[str, list[Any]],
    scale: tuple[float, float],
    cmap: Colormap,
) -> None:
    """One line per trial, coloured by fitness on ``scale`` (low, high); the best on top."""
    params = run.searched
    lo, span = scale[0], (scale[1] - scale[0]) or 1.0
    best = run.best
    ordered = sorted(trials, key=lambda t: (t is best, t.fitness if finite(t.fitness) else -1))
    for t in ordered:
        ys = [_unit(p, t.params[p.name], orders[p.name]) for p in params]
        if finite(t.fitness):
            ys.append((t.fitness - lo) / span)
            colour, width, style = cmap((t.fitness - lo) / span), 1.3, "-"
        else:
            colour, width, style = GREY, 1.0, ":"
        if t.status == "pruned":
            style = "--"
        xs = list(range(len(ys)))
        if t is best:
            ax.plot(xs, ys, color="white", linewidth=5.0, zorder=4)
            colour, width = BEST, 2.8
        ax.plot(
            xs,
            ys,
            color=colour,
            linewidth=width,
            linestyle=style,
            alpha=0.9,
            zorder=5 if t is best else 3,
        )


def parallel_coordinates(run: TuneRun) -> Figure | None:
    """Every trial as a line across the searched parameters and fitness, coloured by fitness.

    Shows parameter values: only for reports that are not redacted.
    """
    import matplotlib as mpl

    params = run.searched
    trials = [t for t in run.trials if all(p.name in t.params for p in params)]
    if not params or not trials:
        return None
    orders = {p.name: _positions(p, [t.params[p.name] for t in trials])[1] for p in params}
    scores = [t.fitness for t in trials if finite(t.fitness)]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    cmap = mpl.colormaps[CMAP]
    n = len(params) + 1
    crowded = n > 6
    with figure((max(7.5, 1.05 * n + 1.5), 4.2)) as fig:
        ax = fig.add_subplot()
        _trial_lines(ax, run, trials, orders, (lo, hi), cmap)
        for i, p in enumerate(params):
            _vertical_axis(ax, i, _param_ticks(p, orders[p.name]))
        _vertical_axis(ax, n - 1, [(0.0, fmt.score(lo)), (1.0, fmt.score(hi))], color=None)
        labels = [p.name + (" (log)" if p.kind == "log" else "") for p in params]
        ax.set_xticks(
            list(range(n)),
            [*labels, run.settings.get("fitness", "fitness")],
            rotation=25 if crowded else 0,
            ha="right" if crowded else "center",
        )
        ax.set_yticks([])
        ax.set_ylim(-0.04, 1.04)
        ax.set_xlim(-0.2, n - 0.6)
        ax.grid(False)
        ax.spines[["left", "bottom"]].set_visible(False)
        ax.set_title("Parallel coordinates (each line is a trial)")
        sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(lo, hi), cmap=cmap)
        fig.colorbar(sm, ax=ax, label=fitness_label(run), pad=0.01, fraction=0.03)
        handles = legend_handles(
            ("best", {"color": BEST, "linewidth": 2.8}),
            ("pruned", {"color": GREY, "linestyle": "--"}),
            ("failed", {"color": GREY, "linestyle": ":"}),
        )
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0, -0.18 if crowded else -0.1),
            ncols=3,
        )
        return finish(
            fig,
            "parallel",
            "Parallel coordinates of all trials",
            "Axes run from the low to the high end of each range (log where the space is "
            "log); choices are spread evenly.",
            wide=True,
        )
