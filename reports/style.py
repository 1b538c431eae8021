"""The look of every plot: one matplotlib style, the Okabe–Ito palette, PNG data URIs.

Figures are made with :class:`matplotlib.figure.Figure` and drawn by the Agg
canvas directly, never through ``pyplot``: no global backend is switched, no
window can open, and nothing is left in pyplot's figure registry.

Okabe & Ito's eight colours stay distinguishable under the common forms of
colour blindness; statuses and highlights use fixed members of it, and
continuous scales use ``cividis``.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from reports import document

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
GREY = "#8c8c8c"
INK = "#1f2933"

#: Colour of each trial status, and of the marks that stand out.
STATUS = {"ok": OKABE_ITO["blue"], "pruned": OKABE_ITO["orange"], "failed": OKABE_ITO["vermillion"]}
BEST = OKABE_ITO["green"]
DEFAULT = OKABE_ITO["black"]
SERIES = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black")]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
CMAP = "cividis"

DPI = 144
SMALL = (4.6, 3.3)

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10.5,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#9aa5b1",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e4e7eb",
    "grid.linewidth": 0.8,
    "xtick.color": "#52606d",
    "ytick.color": "#52606d",
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.6,
    "lines.markersize": 6,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "text.color": INK,
    "axes.prop_cycle": None,  # filled in by :func:`rc`
    "savefig.facecolor": "white",
}


def rc() -> dict[str, Any]:
    """The rc settings (with the Okabe–Ito colour cycle)."""
    from cycler import cycler

    return {**RC, "axes.prop_cycle": cycler(color=SERIES)}


@contextmanager
def figure(size: tuple[float, float] = SMALL) -> Iterator[Figure]:
    """A new figure drawn with the report style (use inside ``with``)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(rc()):
        fig = Figure(figsize=size, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig


def encode(fig: Figure) -> tuple[str, tuple[str, ...]]:
    """The figure as a PNG data URI, and every text drawn on it.

    The texts (titles, labels, tick labels, annotations) travel with the
    image so that tests can check that a redacted figure shows no value.
    The PNG carries no metadata, so the same figure gives the same bytes.
    """
    from matplotlib.text import Text

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    texts = tuple(t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text())
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return uri, texts


def finish(
    fig: Figure, name: str, alt: str, caption: str = "", wide: bool = False
) -> document.Figure:
    """The drawn figure as a report block (see :class:`reports.document.Figure`)."""
    uri, texts = encode(fig)
    return document.Figure(uri=uri, alt=alt, caption=caption, wide=wide, name=name, texts=texts)


def label_at(
    ax: Any, text: str, xy: tuple[float, float], offset: tuple[float, float] = (4, 0), **style: Any
) -> None:
    """``text`` beside the point ``xy``, ``offset`` away in points (the same at any scale)."""
    ax.annotate(text, xy, xytext=offset, textcoords="offset points", **style)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(value: float) -> str:
    """``10⁻³`` for 0.001, ``2×10⁻⁴`` for 0.0002 (plain text: no mathtext, so plots draw fast)."""
    if value <= 0 or not math.isfinite(value):
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10.0**exponent
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    if abs(mantissa - 1.0) < 1e-6:
        return power
    return f"{mantissa:.2g}×{power}"


def log_axis(ax: Any, which: str = "y", labels: bool = True) -> None:
    """A log axis with readable ticks: decades (1, 2, 5 within a narrow range), ``10ⁿ`` labels.

    Args:
        ax: The axes.
        which: ``"x"`` or ``"y"``.
        labels: False to draw the ticks without labels (a hidden value axis).
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    class _Readable(LogLocator):
        def __init__(self) -> None:
            super().__init__(base=10, numticks=7)

        def tick_values(self, vmin: float, vmax: float) -> Any:
            lo, hi = min(vmin, vmax), max(vmin, vmax)
            if lo > 0 and math.log10(hi / lo) <= 2.5:
                return LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12).tick_values(lo, hi)
            return super().tick_values(vmin, vmax)

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(_Readable())
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(
        FuncFormatter(lambda v, _: power_label(v)) if labels else NullFormatter()
    )


def series_style(i: int) -> dict[str, Any]:
    """Colour and marker of the i-th series: distinct pairs for up to 49 series."""
    return {"color": SERIES[i % len(SERIES)], "marker": MARKERS[(i // len(SERIES)) % len(MARKERS)]}
