"""Which hyperparameters matter: main effects on a random-forest surrogate (f-ANOVA style).

A random forest (scikit-learn) is fitted to fitness as a function of the
searched parameters (log-scaled ones on a log axis, choices as category
codes); each parameter's importance is the share of variance of its main
effect over the space. Parameters below a threshold can then be
frozen at their best values for the rest of the search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.search.space import Param, SearchSpace

if TYPE_CHECKING:
    import pandas as pd

#: Fewer finished trials than this give no importance estimate.
MIN_TRIALS = 8


def encode(space: SearchSpace, rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, list[str]]:
    """The searched parameters of ``rows`` as a numeric matrix (log axes, category codes)."""
    params = space.searched
    columns = []
    for p in params:
        columns.append([_encode_value(p, row.get(p.name, p.default)) for row in rows])
    return np.array(columns, dtype=float).T.reshape(len(rows), len(params)), [
        p.name for p in params
    ]


def _encode_value(p: Param, value: Any) -> float:
    if p.kind == "choice":
        return float(p.choices.index(value)) if value in p.choices else -1.0
    if p.kind == "log":
        return math.log10(float(value))
    return float(value)


def parameter_importance(
    space: SearchSpace,
    rows: Sequence[dict[str, Any]],
    fitness: Sequence[float],
    *,
    seed: int = 0,
    samples: int = 400,
    grid: int = 16,
) -> pd.DataFrame:
    """Importance of each searched parameter, highest first.

    A random forest is fitted to the trials; each parameter's importance is the
    variance of its partial-dependence curve over the whole space (its main
    effect, as in functional ANOVA), as a share of the sum over parameters.
    Averaging over points drawn uniformly from the space, rather than over the
    trials, keeps an optimizer's habit of sampling near its incumbent from
    hiding a parameter that matters.

    Args:
        space: The space the rows were drawn from.
        rows: Parameter values of finished trials.
        fitness: Their fitness.
        seed: Seed of the forest and the background sample.
        samples: Background points the partial dependence averages over.
        grid: Grid points per numeric parameter.

    Returns:
        DataFrame with columns ``param``, ``importance`` (sums to 1, or all 0 when
        the surrogate explains nothing) and ``rank`` (1 = most important).
    """
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    x, names = encode(space, rows)
    y = np.asarray(fitness, dtype=float)
    scores = np.zeros(len(names))
    if len(y) >= MIN_TRIALS and np.ptp(y) > 0.0:
        forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=seed)
        forest.fit(x, y)
        rng = np.random.default_rng(seed)
        axes = [_axis(p, grid) for p in space.searched]
        background = np.column_stack([rng.choice(axis, size=samples) for axis in axes])
        for j, axis in enumerate(axes):
            stacked = np.repeat(background[None], len(axis), axis=0)
            stacked[:, :, j] = axis[:, None]
            curve = forest.predict(stacked.reshape(-1, len(axes))).reshape(len(axis), -1).mean(1)
            scores[j] = curve.var()
        total = scores.sum()
        scores = scores / total if total > 0 else scores
    frame = pd.DataFrame({"param": names, "importance": scores})
    frame = frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame


def _axis(p: Param, grid: int) -> np.ndarray:
    """Encoded values spanning a parameter's range."""
    if p.kind == "choice":
        return np.arange(len(p.choices), dtype=float)
    assert p.low is not None and p.high is not None
    low, high = (math.log10(p.low), math.log10(p.high)) if p.kind == "log" else (p.low, p.high)
    return np.linspace(low, high, grid)


def unimportant(importance: pd.DataFrame, threshold: float) -> list[str]:
    """Parameters to freeze: importance below ``threshold`` and in the lower half by rank.

    The rank condition guards against a noisy early estimate freezing most of
    the space; nothing is frozen when the surrogate explained nothing.
    """
    if importance.empty or float(importance["importance"].sum()) == 0.0:
        return []
    lower_half = importance[importance["rank"] > len(importance) // 2]
    return list(lower_half[lower_half["importance"] < threshold]["param"])
