"""The plots of the tuning report: history, parameters against fitness, importances, curves.

Each function draws one thing from a :class:`~reports.inputs.TuneRun` and
returns a :class:`~reports.document.Figure` (or None when there is nothing to
draw). The functions that put parameter values on an axis
(:func:`parameter_scatter`, :func:`parallel_coordinates`) are only called for
reports that are not redacted; the others draw no value at all.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports.document import Figure
from reports.style import (
    BEST,
    CMAP,
    DEFAULT,
    GREY,
    SMALL,
    STATUS,
    encode,
    figure,
    log_axis,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from reports.inputs import SpaceParam, TuneRun
    from tuner.search.trial import TrialResult


def _done(fig: Any, name: str, alt: str, caption: str = "", wide: bool = False) -> Figure:
    uri, texts = encode(fig)
    return Figure(uri=uri, alt=alt, caption=caption, wide=wide, name=name, texts=texts)


def _fitness_label(run: TuneRun) -> str:
    return f"fitness ({run.settings.get('fitness', 'mAP')})"


def _finite(value: float) -> bool:
    return value is not None and math.isfinite(value)


def best_so_far(trials: list[TrialResult]) -> list[float]:
    """Running best fitness of completed (``ok``) trials, NaN before the first one."""
    best, out = -math.inf, []
    for t in trials:
        if t.status == "ok" and _finite(t.fitness):
            best = max(best, t.fitness)
        out.append(best if best > -math.inf else math.nan)
    return out


def _legend_handles(*entries: tuple[str, dict[str, Any]]) -> list[Any]:
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


def _mark_trials(ax: Axes, xs: list[float], trials: list[TrialResult], run: TuneRun) -> None:
    """Trials as status-coloured points; failed ones as crosses along the bottom edge."""
    for status in ("ok", "pruned"):
        pts = [
            (x, t.fitness)
            for x, t in zip(xs, trials, strict=True)
            if t.status == status and _finite(t.fitness)
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
        x for x, t in zip(xs, trials, strict=True) if t.status == "failed" or not _finite(t.fitness)
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
        if trial is not None and trial in trials and _finite(trial.fitness):
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
    handles = _legend_handles(*entries, *extra)
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
        _mark_trials(ax, numbers, trials, run)
        if run.default is not None and _finite(run.default.fitness):
            ax.axhline(run.default.fitness, color=DEFAULT, linestyle=(0, (4, 3)), linewidth=1)
        ax.set_xlabel("trial number")
        ax.set_ylabel(_fitness_label(run))
        ax.set_title("Best so far, by trial")
        ax.xaxis.get_major_locator().set_params(integer=True)
        _legend(ax, run, (("best so far", {"color": BEST, "linewidth": 2.2}),), below=True)
        out.append(
            _done(
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
            _mark_trials(ax, spent, trials, run)
            ax.set_xlabel(unit)
            ax.set_ylabel(_fitness_label(run))
            ax.set_title(f"Best so far, by {name} spent")
            ax.set_xlim(left=0)
            out.append(
                _done(
                    fig,
                    f"history-{name}",
                    f"Best fitness so far against {name} spent",
                    f"Compute in {name}: pruned trials cost less, failed ones little.",
                )
            )
    return out


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
            _mark_trials(ax, xs, trials, run)
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
            ax.set_ylabel(_fitness_label(run))
            when = ", ".join(f"{k} = {'/'.join(map(str, v))}" for k, v in param.when.items())
            caption = f"Only trials where {when}." if when else ""
            out.append(_done(fig, f"param-{param.name}", f"{param.name} against fitness", caption))
    return out


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
    scores = [t.fitness for t in trials if _finite(t.fitness)]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    span = hi - lo or 1.0
    cmap = mpl.colormaps[CMAP]
    n = len(params) + 1
    with figure((max(7.5, 1.05 * n + 1.5), 4.2)) as fig:
        ax = fig.add_subplot()
        xs = list(range(n))
        best = run.best
        ordered = sorted(trials, key=lambda t: (t is best, t.fitness if _finite(t.fitness) else -1))
        for t in ordered:
            ys = [_unit(p, t.params[p.name], orders[p.name]) for p in params]
            if _finite(t.fitness):
                ys.append((t.fitness - lo) / span)
                colour, width, style = cmap((t.fitness - lo) / span), 1.3, "-"
            else:
                colour, width, style = GREY, 1.0, ":"
            if t.status == "pruned":
                style = "--"
            if t is best:
                ax.plot(xs[: len(ys)], ys, color="white", linewidth=5.0, zorder=4)
                colour, width = BEST, 2.8
            ax.plot(
                xs[: len(ys)],
                ys,
                color=colour,
                linewidth=width,
                linestyle=style,
                alpha=0.9,
                zorder=5 if t is best else 3,
            )
        for i, p in enumerate(params):
            ax.axvline(i, color="#52606d", linewidth=0.9, zorder=1)
            if p.kind == "choice":
                order = orders[p.name]
                for j, c in enumerate(order):
                    y = j / max(1, len(order) - 1) if len(order) > 1 else 0.5
                    ax.annotate(
                        fmt.param(c),
                        (i, y),
                        xytext=(4, 0),
                        textcoords="offset points",
                        fontsize=8,
                        va="center",
                        color="#323f4b",
                    )
            else:
                for y, v in ((0.0, p.low), (1.0, p.high)):
                    ax.annotate(
                        fmt.param(v),
                        (i, y),
                        xytext=(4, 0),
                        textcoords="offset points",
                        fontsize=8,
                        va="center",
                        color="#323f4b",
                    )
        ax.axvline(n - 1, color="#52606d", linewidth=0.9, zorder=1)
        for y, v in ((0.0, lo), (1.0, hi)):
            ax.annotate(
                fmt.score(v),
                (n - 1, y),
                xytext=(4, 0),
                textcoords="offset points",
                fontsize=8,
                va="center",
            )
        labels = [p.name + (" (log)" if p.kind == "log" else "") for p in params]
        ax.set_xticks(
            xs,
            [*labels, run.settings.get("fitness", "fitness")],
            rotation=25 if n > 6 else 0,
            ha="right" if n > 6 else "center",
        )
        ax.set_yticks([])
        ax.set_ylim(-0.04, 1.04)
        ax.set_xlim(-0.2, n - 0.6)
        ax.grid(False)
        ax.spines[["left", "bottom"]].set_visible(False)
        ax.set_title("Parallel coordinates (each line is a trial)")
        sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(lo, hi), cmap=cmap)
        fig.colorbar(sm, ax=ax, label=_fitness_label(run), pad=0.01, fraction=0.03)
        extra = _legend_handles(
            ("best", {"color": BEST, "linewidth": 2.8}),
            ("pruned", {"color": GREY, "linestyle": "--"}),
            ("failed", {"color": GREY, "linestyle": ":"}),
        )
        ax.legend(
            handles=extra, loc="upper left", bbox_to_anchor=(0, -0.18 if n > 6 else -0.1), ncols=3
        )
        return _done(
            fig,
            "parallel",
            "Parallel coordinates of all trials",
            "Axes run from the low to the high end of each range (log where the space is "
            "log); choices are spread evenly.",
            wide=True,
        )


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
            ax.annotate(
                fmt.importance(v),
                (v, y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8.5,
            )
        ax.set_xlim(0, max([*values, 0.01]) * 1.18)
        ax.set_xlabel("importance (share of fitness variance)")
        ax.grid(False, axis="y")
        handles = [
            _legend_handles(("searched to the end", {"color": STATUS["ok"], "linewidth": 6}))[0]
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
        return _done(fig, "importance", "Parameter importance bar chart")


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
        ax.set_ylabel(_fitness_label(run))
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
        ax.legend(handles=_legend_handles(*entries), loc="upper left", ncols=1)
        return _done(
            fig,
            "curves",
            "Learning curves of all trials",
            "Fitness measured after each epoch. Pruned trials stopped early, where the cross is.",
        )
