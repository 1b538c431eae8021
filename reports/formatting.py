"""How numbers and values are written in reports (one place, so redaction is predictable).

Fitness and metrics always carry four decimals, importances three, seconds
one: fixed widths, so that no formatted score can be mistaken for (or
collide with) a hyperparameter value in a redacted report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tuner.search.trial import masked_reason

DASH = "–"


def is_number(value: Any) -> bool:
    """True for a finite int or float (bools excluded)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def score(value: Any) -> str:
    """A fitness or metric value: four decimals, or a dash when missing."""
    return f"{float(value):.4f}" if is_number(value) else DASH


def signed(value: Any) -> str:
    """A difference of scores: sign and four decimals."""
    return f"{float(value):+.4f}" if is_number(value) else DASH


def importance(value: Any) -> str:
    """An importance share: three decimals."""
    return f"{float(value):.3f}" if is_number(value) else DASH


def seconds(value: Any) -> str:
    """A duration: ``12.3 s``, ``4 min 05 s`` or ``1 h 02 min``."""
    if not is_number(value):
        return DASH
    total = float(value)
    if total < 60:
        return f"{total:.1f} s"
    minutes, secs = divmod(int(round(total)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def sci(value: Any, digits: int = 2) -> str:
    """An error or a ratio in scientific notation (``3.1e-05``)."""
    return f"{float(value):.{digits}e}" if is_number(value) else DASH


def param(value: Any) -> str:
    """A hyperparameter value as a person reads it (only in reports that are not redacted)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def percent(value: Any, digits: int = 0) -> str:
    """A fraction as a percentage."""
    return f"{100 * float(value):.{digits}f}%" if is_number(value) else DASH


def provenance(source: str, numbers_from: str) -> str:
    """A report's footer: the hyperseal version that made it, from which files."""
    from tuner import __version__

    return (
        f"Made by hyperseal {__version__} from {source}. Reports only render: every number "
        f"comes from {numbers_from}."
    )


# -- redaction -----------------------------------------------------------------------------


def value_forms(value: Any) -> set[str]:
    """The ways a value may be written: ``repr``, ``str``, ``:g``, ``:.3g``, ``:.4f``, ..."""
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, str):
        return {value} if value else set()
    if not is_number(value):
        return {str(value)}
    number = float(value)
    forms = {repr(value), str(value), repr(number), param(value)}
    for spec in ("g", ".2g", ".3g", ".4g", ".6g", ".2f", ".3f", ".4f", ".2e", ".3e"):
        forms.add(format(number, spec))
    return forms


def scrub(text: str, values: Iterable[Any]) -> str:
    """``text`` with every number and every given value replaced by ``…``.

    Used on free text (a failed trial's reason) in redacted reports: an
    error message may quote the learning rate that broke the run.
    """
    for value in sorted({f for v in values for f in value_forms(v)}, key=len, reverse=True):
        if len(value) >= 2 or not value.isdigit():
            text = text.replace(value, "…")
    return masked_reason(text)


ERROR_BANDS: tuple[tuple[float, str], ...] = (
    (0.0212, "within 5%"),
    (0.0970, "within 25%"),
    (0.3011, "within 2×"),
    (1.0, "within 10×"),
    (float("inf"), "more than 10× off"),
)
"""Bands of ``|log10(estimate / truth)|`` and their names (redacted audit reports)."""
UNKNOWN_ERROR = "unknown"


def error_band(log10_error: Any, relative_error: Any = None) -> int | None:
    """Index into :data:`ERROR_BANDS` (from the log10 error, else the relative error)."""
    if is_number(log10_error):
        value = abs(float(log10_error))
    elif is_number(relative_error):
        value = math.log10(1.0 + abs(float(relative_error)))
    else:
        return None
    return next(i for i, (limit, _) in enumerate(ERROR_BANDS) if value <= limit)


def error_category(log10_error: Any, relative_error: Any = None) -> str:
    """An estimation error as words (``within 25%``), for reports that hide the numbers."""
    band = error_band(log10_error, relative_error)
    return UNKNOWN_ERROR if band is None else ERROR_BANDS[band][1]
