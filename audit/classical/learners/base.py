"""What every learner provides to the attack, and the checks they share.

A *learner* is one training objective exactly as a library defines it. It
turns released weights (a plain mapping of arrays and settings, the
*coefficients*) plus the training data into the stationarity equation
``b + A λ = 0`` (:class:`Equation`), and converts between the paper's ``λ``
and the library's own hyperparameters (``alpha``, ``C``, ``l1_ratio``).

Coefficients are plain data so that a scikit-learn estimator (through
:meth:`Learner.coefficients`), a ``.npz`` file and a JSON file all meet the
same code.
"""

from __future__ import annotations

import importlib
import reprlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from audit.errors import (
    ModelFileError,
    NonFiniteError,
    ShapeMismatchError,
    UnknownLearnerError,
    UnsupportedModelError,
)

__all__ = ["Coefficients", "Equation", "Learner"]

Coefficients = Mapping[str, Any]
"""Released weights and the (non-secret) settings of the algorithm, by name."""


@dataclass(frozen=True)
class Equation:
    """The stationarity equation ``b + A λ = 0`` of one learner at its weights.

    Attributes:
        b: Loss gradient, one entry per equation.
        A: Regulariser gradients, one column per hyperparameter, then the
            nuisance columns.
        n_nuisance: Number of trailing nuisance columns in ``A``.
        extras: Learner-specific diagnostics (bounds, counts) for the report.
        notes: Plain-language caveats for the reviewer.
    """

    b: np.ndarray
    A: np.ndarray
    n_nuisance: int = 0
    extras: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


class Learner(ABC):
    """One training objective, exactly as its library defines it.

    Subclasses set the class attributes and implement the abstract methods.
    """

    name: ClassVar[str]
    """Registry name, e.g. ``"ridge"``."""
    task: ClassVar[str]
    """``"regression"`` or ``"classification"``."""
    library: ClassVar[str]
    """The estimator it models, e.g. ``"sklearn.linear_model.Ridge"``."""
    objective: ClassVar[str]
    """The objective in the library's convention, as one line of text."""
    hyperparameters: ClassVar[tuple[str, ...]]
    """The library's names for what the attack recovers, e.g. ``("alpha",)``."""
    lambda_names: ClassVar[tuple[str, ...]] = ("lambda",)
    """The paper's names, one per column of ``A``."""
    paper_form: ClassVar[str]
    """The objective written as ``L(w) + λ R(w)``, as one line of text."""
    weight_keys: ClassVar[tuple[str, ...]]
    """Coefficient entries that are released weights (what a defence perturbs)."""
    iterative: ClassVar[bool] = True
    """Whether the library's solver stops at a tolerance (versus solving exactly)."""
    binary_only: ClassVar[bool] = False
    """Whether only two-class problems are supported."""
    hyperparameter_defaults: ClassVar[Mapping[str, float]] = {}
    """Values :meth:`make_estimator` uses for hyperparameters its ``hyper`` leaves out."""
    estimator_defaults: ClassVar[Mapping[str, Any]] = {}
    """Fixed arguments of the estimator :meth:`make_estimator` builds (solver, iterations)."""
    seeded: ClassVar[bool] = False
    """Whether :meth:`make_estimator` passes its ``random_state`` to the estimator."""
    takes_tol: ClassVar[bool] = True
    """Whether the estimator has a ``tol`` argument (an exact solver has none)."""

    # -- conversions -------------------------------------------------------------------
    @abstractmethod
    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        """Convert the paper's ``λ`` (in ``lambda_names`` order) to library hyperparameters."""

    @abstractmethod
    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        """Convert library hyperparameters to the paper's ``λ``."""

    # -- the attack --------------------------------------------------------------------
    @abstractmethod
    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        """Build ``b + A λ = 0`` at the released weights on the training data."""

    # -- scikit-learn side -------------------------------------------------------------
    def estimator_class(self) -> type:
        """The estimator class :attr:`library` names (imported on use)."""
        module, _, name = self.library.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def accepts(self, estimator: Any) -> bool:
        """Whether this learner's objective is the one ``estimator`` was trained with."""
        return type(estimator) is self.estimator_class()

    @abstractmethod
    def coefficients(self, estimator: Any) -> dict[str, Any]:
        """Extract the coefficients (and algorithm settings) from a fitted estimator."""

    def estimator_settings(self, hyper: Mapping[str, float]) -> dict[str, Any]:
        """The estimator's arguments for these hyperparameters (``tol`` and seed aside)."""
        values = {**self.hyperparameter_defaults, **hyper}
        settings = {name: float(values[name]) for name in self.hyperparameters}
        return {**settings, **self.estimator_defaults}

    def make_estimator(
        self, hyper: Mapping[str, float], *, tol: float | None = None, random_state: int = 0
    ) -> Any:
        """An unfitted estimator with these hyperparameters (``tol=None``: library default)."""
        settings = self.estimator_settings(hyper)
        if self.seeded:
            settings["random_state"] = random_state
        if tol is not None and self.takes_tol:
            settings["tol"] = tol
        return self.estimator_class()(**settings)

    def declared(self, estimator: Any) -> dict[str, float]:
        """Hyperparameters the estimator object itself stores (a file leaks them as is)."""
        params = estimator.get_params() if hasattr(estimator, "get_params") else {}
        out: dict[str, float] = {}
        for name in self.hyperparameters:
            value = params.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[name] = float(value)
        return out

    def weights(self, coefs: Coefficients) -> list[str]:
        """Names of the entries of ``coefs`` that are released weights."""
        return [key for key in self.weight_keys if key in coefs]

    # -- predictions (for pricing defences) --------------------------------------------
    @abstractmethod
    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        """Raw outputs: predictions for regression, decision scores for classification."""

    def predict(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        """Predicted targets (labels for classifiers)."""
        scores = self.decision(coefs, X)
        if self.task == "regression":
            return scores
        classes = np.asarray(coefs["classes"])
        if scores.ndim == 1:
            return classes[(scores > 0).astype(int)]
        return classes[np.argmax(scores, axis=1)]

    def score(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> float:
        """R² for regression, accuracy for classification (higher is better)."""
        pred = self.predict(coefs, X)
        y = np.asarray(y)
        if self.task == "regression":
            resid = float(np.sum((y - pred) ** 2))
            total = float(np.sum((y - y.mean()) ** 2))
            return 1.0 - resid / total if total > 0 else 0.0
        return float(np.mean(pred == y))

    @property
    def metric(self) -> str:
        """Name of :meth:`score`'s metric."""
        return "r2" if self.task == "regression" else "accuracy"

    def __repr__(self) -> str:
        return f"<learner {self.name}: {self.library}>"


class AlphaLearner(Learner):
    """A learner whose one hyperparameter is the strength ``alpha`` itself: ``λ = alpha``."""

    hyperparameters = ("alpha",)

    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        return {"alpha": float(lambdas[0])}

    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        return np.array([float(hyper["alpha"])])


class InverseCLearner(Learner):
    """A learner whose one hyperparameter is ``C``, the inverse strength: ``λ = 1/C``."""

    hyperparameters = ("C",)

    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        return {"C": 1.0 / float(lambdas[0])}

    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        return np.array([1.0 / float(hyper["C"])])


# -- shared checks ---------------------------------------------------------------------------


def as_floats(value: Any, error: Exception) -> np.ndarray:
    """``value`` as a float array; raises ``error`` when it is not numeric."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise error from None


def require(coefs: Coefficients, key: str, learner: str) -> Any:
    """Return ``coefs[key]`` or raise a one-line :class:`ModelFileError`."""
    if key not in coefs or coefs[key] is None:
        raise ModelFileError(
            f"{learner} coefficients lack '{key}'; export it with the weights "
            f"(present: {', '.join(sorted(coefs)) or 'nothing'})"
        )
    return coefs[key]


def float_array(coefs: Coefficients, key: str, learner: str, ndim: int | None = None) -> np.ndarray:
    """``coefs[key]`` as a finite float array, checked for dimensionality."""
    value = require(coefs, key, learner)
    arr = as_floats(
        value,
        ModelFileError(f"{learner} coefficient '{key}' is not numeric; store it as a float array"),
    )
    if ndim is not None and arr.ndim != ndim:
        raise ShapeMismatchError(
            f"{learner} coefficient '{key}' has shape {arr.shape}, expected {ndim} dimension(s)"
        )
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(
            f"{learner} coefficient '{key}' holds NaN or infinity; the weights are unusable as is"
        )
    return arr


def optional_float(coefs: Coefficients, key: str, default: float) -> float:
    """A scalar setting, ``default`` when absent.

    Raises:
        ModelFileError: the setting is not a number (text, a mapping, an empty list).
    """
    value = coefs.get(key, default)
    if value is None:
        return default
    try:
        return float(np.asarray(value).reshape(-1)[0]) if np.ndim(value) else float(value)
    except (TypeError, ValueError, IndexError):
        raise ModelFileError(
            f"coefficient setting '{key}' is {reprlib.repr(value)}, not a number; "
            "store it as a number"
        ) from None


def intercept_scalar(coefs: Coefficients, learner: str) -> float:
    """The single intercept of a single-target model (0 when absent), checked."""
    if coefs.get("intercept") is None:
        return 0.0
    values = float_array(coefs, "intercept", learner).reshape(-1)
    if values.size != 1:
        raise ShapeMismatchError(
            f"{learner} coefficient 'intercept' has {values.size} values, expected one "
            "(the audit models single-target regressors)"
        )
    return float(values[0])


def optional_bool(coefs: Coefficients, key: str, default: bool) -> bool:
    """A boolean setting, ``default`` when absent: true/false, 1/0, or the text "true"/"false".

    Raises:
        ModelFileError: anything else (any text used to read as true).
    """
    value = coefs.get(key, default)
    if value is None:
        return default
    item = value
    if isinstance(value, np.ndarray | list | tuple) and np.size(value) >= 1:
        item = np.asarray(value).reshape(-1)[0]
    if isinstance(item, np.generic):
        item = item.item()
    if isinstance(item, str) and item.strip().lower() in ("true", "false"):
        return item.strip().lower() == "true"
    if isinstance(item, bool) or (isinstance(item, int | float) and item in (0, 1)):
        return bool(item)
    raise ModelFileError(
        f"coefficient setting '{key}' is {reprlib.repr(value)}, not true or false; "
        "store it as a boolean"
    )


def optional_str(coefs: Coefficients, key: str, default: str) -> str:
    """A string setting, ``default`` when absent."""
    value = coefs.get(key, default)
    if value is None:
        return default
    return str(np.asarray(value).reshape(-1)[0]) if np.ndim(value) else str(value)


def check_features(X: Any, learner: str) -> np.ndarray:
    """Training features as a finite 2-D float array."""
    X = as_floats(
        X,
        ShapeMismatchError(
            f"{learner}: the features are not numeric; encode them as numbers first"
        ),
    )
    if X.ndim != 2:
        raise ShapeMismatchError(
            f"{learner}: features have shape {X.shape}, expected (n_samples, n_features)"
        )
    if not np.all(np.isfinite(X)):
        raise NonFiniteError(f"{learner}: the features hold NaN or infinity; clean the data first")
    return X


def check_data(
    X: Any, y: Any, learner: str, n_features: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Features and target, checked against each other and the model's feature count."""
    X = check_features(X, learner)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ShapeMismatchError(
            f"{learner}: target has shape {y.shape} but the features have {X.shape[0]} rows; "
            "give one target value per row"
        )
    if X.shape[0] == 0:
        raise ShapeMismatchError(f"{learner}: the data has no rows")
    if n_features is not None and X.shape[1] != n_features:
        raise ShapeMismatchError(
            f"{learner}: the model has {n_features} input features but the data has "
            f"{X.shape[1]}; pass the same feature columns the model was trained on"
        )
    return X, y


def regression_target(y: np.ndarray, learner: str) -> np.ndarray:
    """A regression target as finite floats."""
    t = as_floats(
        y,
        ShapeMismatchError(
            f"{learner}: the target is not numeric; a regression target must be numbers"
        ),
    )
    if not np.all(np.isfinite(t)):
        raise NonFiniteError(f"{learner}: the target holds NaN or infinity; clean the data first")
    return t


def class_indices(y: np.ndarray, classes: np.ndarray, learner: str) -> np.ndarray:
    """Index of each label in ``classes``; every label must be one of them."""
    classes = np.asarray(classes)
    y = np.asarray(y)
    if classes.dtype.kind in "fiub" and y.dtype.kind in "fiub":
        classes_cmp, y_cmp = classes.astype(np.float64), y.astype(np.float64)
    else:
        classes_cmp, y_cmp = classes.astype(str), y.astype(str)
    order = np.argsort(classes_cmp, kind="stable")
    pos = np.searchsorted(classes_cmp[order], y_cmp)
    pos = np.clip(pos, 0, len(classes) - 1)
    idx = order[pos]
    bad = classes_cmp[idx] != y_cmp
    if np.any(bad):
        unknown = sorted({str(v) for v in y[bad]})[:5]
        raise ShapeMismatchError(
            f"{learner}: labels {unknown} in the data are not among the model's classes "
            f"{[str(c) for c in classes[:10]]}; pass the data the model was trained on"
        )
    return idx


def resolve_classes(coefs: Coefficients, y: np.ndarray) -> np.ndarray:
    """The model's classes, or the sorted labels of ``y`` when the file has none."""
    if coefs.get("classes") is not None:
        return np.atleast_1d(np.asarray(coefs["classes"]))
    return np.unique(y)


def reject(estimator: Any, learner: str, what: str, fix: str) -> UnsupportedModelError:
    """An :class:`UnsupportedModelError` naming the estimator and the setting."""
    return UnsupportedModelError(f"{type(estimator).__name__} with {what}: {learner} {fix}")


def wrong_estimator(estimator: Any, learner: str) -> UnknownLearnerError:
    """An :class:`UnknownLearnerError` for an estimator this learner does not model."""
    return UnknownLearnerError(
        f"learner '{learner}' does not model a {type(estimator).__name__}; "
        "leave --learner out to pick the matching one"
    )
