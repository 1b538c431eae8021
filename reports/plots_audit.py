"""The plots of the audit reports: a detector audit's groups and defences, the paper's figures.

Functions that put hyperparameter values on an axis take ``redact`` and then
hide those ticks (reproduction figures) or are not called at all (a detector
audit's estimates). Errors in a redacted detector audit are drawn as bands,
never as numbers: with the released weights anyone can redo the estimate,
and an exact error would turn it back into the truth.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt
from reports.document import Figure
from reports.style import (
    BEST,
    GREY,
    SERIES,
    SMALL,
    STATUS,
    figure,
    finish,
    label_at,
    log_axis,
    series_style,
)

if TYPE_CHECKING:
    import pandas as pd

    from reports.inputs import ModelAudit, Reproduction

#: Errors of exactly zero (exact solvers) are drawn at this floor on log axes.
FLOOR = 1e-17


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


# -- detector audit ------------------------------------------------------------------------


def group_estimates(audit: ModelAudit) -> Figure | None:
    """Each parameter group's estimate against the truth (log axis); scale-invariant groups hollow.

    Shows estimates: only for reports that are not redacted.
    """
    groups = [g for g in audit.groups if _num(g.get("estimate")) > 0]
    if not groups:
        return None
    r = audit.result
    truth, estimate = _num(r.get("truth")), _num(r.get("estimate"))
    ci = r.get("ci") or None
    names = [str(g.get("group", "?")) for g in groups]
    with figure((SMALL[0] + 1.8, 0.42 * len(groups) + 2.4)) as fig:
        ax = fig.add_subplot()
        ys = list(range(len(groups)))[::-1]
        if ci and len(ci) == 2 and all(_num(c) > 0 for c in ci):
            ax.axvspan(
                _num(ci[0]),
                _num(ci[1]),
                color=SERIES[0],
                alpha=0.12,
                lw=0,
                label="confidence interval",
            )
        if estimate > 0:
            ax.axvline(estimate, color=SERIES[0], linestyle="--", linewidth=1.4, label="estimate")
        if truth > 0:
            ax.axvline(truth, color="black", linewidth=1.8, label="truth")
        for y, g in zip(ys, groups, strict=True):
            invariant = bool(g.get("scale_invariant"))
            ax.plot(
                [_num(g["estimate"])],
                [y],
                marker="o",
                markersize=8,
                linestyle="none",
                color=GREY if invariant else SERIES[1],
                markerfacecolor="white" if invariant else SERIES[1],
                markeredgewidth=1.6,
            )
        ax.set_yticks(
            ys,
            [
                n + ("  (scale-invariant)" if g.get("scale_invariant") else "")
                for n, g in zip(names, groups, strict=True)
            ],
        )
        log_axis(ax, "x")
        ax.set_xlabel("weight decay (log)")
        ax.set_title("Estimate per parameter group")
        ax.grid(False, axis="y")
        from matplotlib.lines import Line2D

        handles, _ = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], marker="o", color=SERIES[1], linestyle="none", label="group estimate"),
            Line2D(
                [],
                [],
                marker="o",
                color=GREY,
                markerfacecolor="white",
                linestyle="none",
                label="scale-invariant (no signal)",
            ),
        ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.4, -0.16), ncols=3)
        return finish(
            fig,
            "groups",
            "Estimate of each parameter group against the truth",
            "Hollow points are groups followed by a normalisation layer: their weights "
            "carry no signal about weight decay, so the estimate leaves them out.",
        )


def defence_tradeoff(audit: ModelAudit, redact: bool) -> Figure | None:
    """Estimation error against mAP lost, one point per defence; the recommended one starred.

    Redacted, the error axis shows bands (``within 25%``...) instead of numbers.
    """
    defences = audit.defences
    if not defences:
        return None
    with figure((SMALL[0] + 1.4, SMALL[1] + 0.6)) as fig:
        ax = fig.add_subplot()
        points = []
        for d in defences:
            x = _num(d.get("mAP_lost"))
            if redact:
                band = fmt.error_band(d.get("log10_error"), d.get("relative_error"))
                y = math.nan if band is None else float(band)
            else:
                y = _num(d.get("relative_error"))
                y = max(y, FLOOR) if math.isfinite(y) else math.nan
            points.append((x, y, d))
        for x, y, d in points:
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            rec = bool(d.get("recommended"))
            ax.plot(
                [x],
                [y],
                marker="*" if rec else "o",
                markersize=17 if rec else 8,
                color=BEST if rec else SERIES[0],
                markeredgecolor="white",
                linestyle="none",
                zorder=4 if rec else 3,
            )
            label = str(d.get("defence", "?")) + ("  (recommended)" if rec else "")
            label_at(
                ax,
                label,
                (x, y),
                offset=(7, 5),
                fontsize=8.5,
                fontweight="bold" if rec else "normal",
            )
        if redact:
            ax.set_yticks(range(len(fmt.ERROR_BANDS)), [b for _, b in fmt.ERROR_BANDS])
            ax.set_ylim(-0.5, len(fmt.ERROR_BANDS) - 0.5)
            ax.set_ylabel("estimation error (band)")
        else:
            log_axis(ax, "y")
            ax.set_ylabel("relative estimation error (log)")
        ax.set_xlabel("mAP lost")
        ax.set_title("Defence trade-off")
        xs = [p[0] for p in points if math.isfinite(p[0])]
        if xs:
            span = (max(xs) - min(xs)) or 0.01
            ax.set_xlim(min(xs) - 0.08 * span, max(xs) + 0.35 * span)
        return finish(
            fig,
            "defences",
            "Estimation error against mAP lost for each defence",
            "Up is safer (a worse estimate for the attacker), left is cheaper. The star "
            "is the recommended defence.",
        )


# -- reproduction of Wang & Gong -----------------------------------------------------------


def _run_x(frame: pd.DataFrame) -> pd.Series:
    """For each row, the true value of its run's first hyperparameter (the one varied)."""
    first = frame.groupby("run")["true_value"].transform("first")
    return first


def estimation_panels(rep: Reproduction, redact: bool) -> list[Figure]:
    """Relative error against the true hyperparameter, log–log, one figure per learner.

    Lines join the ``ok`` rows; rows with an estimate but another status
    (out of range, collapsed, not identifiable, not converged) are hollow grey
    points, and rows without an estimate are crosses at the top. Redacted, the
    true-value axis keeps its log scale but shows no tick labels.
    """
    frame = rep.tables["estimation"]
    if frame.empty:
        return []
    frame = frame.assign(x=_run_x(frame) if "run" in frame else frame["true_value"])
    out = []
    for learner, rows in frame.groupby("learner", sort=False):
        with figure(SMALL) as fig:
            ax = fig.add_subplot()
            series = list(rows.groupby(["dataset", "hyperparameter"], sort=False))
            for i, ((dataset, hp), part) in enumerate(series):
                ok = part[part["status"] == "ok"].sort_values("x")
                if ok.empty:
                    continue
                label = dataset if len({h for (_, h), _ in series}) == 1 else f"{dataset}: {hp}"
                ax.plot(
                    ok["x"], ok["relative_error"].clip(lower=FLOOR), label=label, **series_style(i)
                )
            judged = rows[(rows["status"] != "ok") & rows["relative_error"].notna()]
            if not judged.empty:  # an estimate the rules left out of the medians
                ax.plot(
                    judged["x"],
                    judged["relative_error"].clip(lower=FLOOR),
                    marker="o",
                    markersize=7,
                    markerfacecolor="white",
                    markeredgewidth=1.4,
                    color=GREY,
                    linestyle="none",
                    label="not ok (left out)",
                )
            failed = rows[(rows["status"] != "ok") & rows["relative_error"].isna()]
            if not failed.empty:
                ax.plot(
                    failed["x"],
                    [0.96] * len(failed),
                    transform=ax.get_xaxis_transform(),
                    marker="x",
                    color=STATUS["failed"],
                    linestyle="none",
                    label="no estimate",
                )
            log_axis(ax, "x", labels=not redact)
            log_axis(ax, "y")
            ax.axhspan(FLOOR / 2, 1e-13, color=GREY, alpha=0.12, lw=0)
            ax.set_title(str(learner))
            ax.set_xlabel("true value (log)" if not redact else "true value (log; values hidden)")
            ax.set_ylabel("relative error (log)")
            ax.legend(loc="best")
            out.append(
                finish(fig, f"estimation-{learner}", f"Relative estimation error of {learner}")
            )
    return out


def tolerance_plot(rep: Reproduction) -> Figure | None:
    """Relative error against solver tolerance, log–log, one line per learner."""
    frame = rep.table("tolerance")
    if frame is None:
        return None
    groups = list(frame.groupby(["learner", "hyperparameter"], sort=False))
    with figure((SMALL[0] + 2.8, SMALL[1] + 0.6)) as fig:
        ax = fig.add_subplot()
        for i, ((learner, hp), part) in enumerate(groups):
            ok = part[part["status"] == "ok"].sort_values("tol")
            if ok.empty:
                continue
            label = (
                str(learner) if frame["learner"].nunique() == len(groups) else f"{learner} ({hp})"
            )
            ax.plot(
                ok["tol"], ok["relative_error"].clip(lower=FLOOR), label=label, **series_style(i)
            )
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.invert_xaxis()
        ax.set_xlabel("solver tolerance (log; tighter to the right)")
        ax.set_ylabel("relative error (log)")
        ax.set_title("Error against the solver's tolerance")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return finish(
            fig,
            "tolerance",
            "Relative error against solver tolerance",
            "Iterative solvers stop at their tolerance: the error follows it down.",
            wide=True,
        )


def tsr_plot(rep: Reproduction) -> Figure | None:
    """Train-Steal-Retrain: speed-up against the change in test score, one point per run."""
    frame = rep.table("train_steal_retrain")
    if frame is None:
        return None
    with figure(SMALL) as fig:
        ax = fig.add_subplot()
        for i, (learner, part) in enumerate(frame.groupby("learner", sort=False)):
            ax.plot(
                part["speedup"],
                part["score_change"],
                markersize=8,
                linestyle="none",
                label=str(learner),
                **series_style(i),
            )
        ax.axvline(1.0, color=GREY, linewidth=1)
        ax.axhline(0.0, color=GREY, linewidth=1)
        log_axis(ax, "x")
        ax.ticklabel_format(axis="y", useOffset=False)
        changes = frame["score_change"].abs().dropna()
        if changes.empty or changes.max() < 1e-3:
            ax.set_ylim(-0.01, 0.01)
        ax.set_xlabel("speed-up over tuning on all rows (log)")
        ax.set_ylabel("test score change")
        ax.set_title("Speed-up against score change")
        ax.legend(loc="best")
        return finish(
            fig,
            "tsr",
            "Train-Steal-Retrain speed-up against test score change",
            "Right of the vertical line: faster than tuning on all the data; above the "
            "horizontal line: a better test score.",
        )


def defence_plots(rep: Reproduction) -> Figure | None:
    """Rounding: estimation error and test-score change against decimals kept, per learner."""
    frame = rep.table("defences")
    if frame is None:
        return None
    rounded = frame[frame["defence"] == "round"]
    if rounded.empty:
        return None
    groups = list(rounded.groupby(["learner", "hyperparameter"], sort=False))
    one_each = rounded["learner"].nunique() == len(groups)
    with figure((SMALL[0] * 2 + 1.6, SMALL[1] + 0.4)) as fig:
        err_ax, cost_ax = fig.subplots(1, 2)
        priced: set[str] = set()
        for i, ((learner, hp), part) in enumerate(groups):
            part = part.sort_values("level")
            label = str(learner) if one_each else f"{learner} ({hp})"
            err_ax.plot(
                part["level"],
                part["relative_error"].abs().clip(lower=FLOOR),
                label=label,
                **series_style(i),
            )
            if learner not in priced:  # one score per model, whatever its hyperparameters
                priced.add(learner)
                cost_ax.plot(part["level"], part["score_change"], **series_style(i))
        log_axis(err_ax, "y")
        err_ax.set_ylabel("relative error (log)")
        err_ax.set_title("Estimation error")
        cost_ax.axhline(0, color=GREY, linewidth=1)
        cost_ax.set_ylabel("test score change")
        cost_ax.set_title("Cost in test score")
        for ax in (err_ax, cost_ax):
            ax.set_xlabel("decimals kept")
            ax.xaxis.get_major_locator().set_params(integer=True)
        cost_ax.ticklabel_format(axis="y", useOffset=False)
        cost_ax.legend(
            *err_ax.get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(1.02, 1.0)
        )
        return finish(
            fig,
            "rounding",
            "Rounding defence: estimation error and test score change against decimals kept",
            "Fewer decimals: a worse estimate for the attacker, and at some point a worse model.",
            wide=True,
        )
