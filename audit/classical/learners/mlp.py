"""Small neural networks as scikit-learn's ``MLPRegressor``/``MLPClassifier`` define them.

Objective of the ``lbfgs`` solver (full batch), weights ``W`` only (the
intercepts are not penalised)::

    mean_i loss(y_i, net(x_i)) + alpha / (2 n) · Σ_layers ‖W‖²

``loss`` is ``½ (y − ŷ)²`` with an identity output for regression, the
log-loss with a logistic output (two classes, ``classes_[1]`` positive) or a
softmax output (more classes). The stochastic solvers (``adam``, ``sgd``) apply
the same formula to each mini-batch, so their penalty is ``alpha / (2 B)``
with ``B = min(batch_size, n)`` (``"auto"``: 200) and their weights are only
near a stationary point. The gradient in ``W`` gives
``∇L + λ W / n_pen = 0`` with ``λ = alpha`` and ``n_pen`` = ``n`` or ``B``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, softmax

from audit.classical.learners.base import (
    AlphaLearner,
    Coefficients,
    Equation,
    check_data,
    check_features,
    class_indices,
    float_array,
    optional_float,
    optional_str,
    regression_target,
    reject,
    resolve_classes,
    wrong_estimator,
)
from audit.errors import ModelFileError, ShapeMismatchError

__all__ = ["MLPClassifierLearner", "MLPRegressorLearner", "layer_keys"]

_HIDDEN = {
    "identity": (lambda z: z, lambda a: np.ones_like(a)),
    "relu": (lambda z: np.maximum(z, 0.0), lambda a: (a > 0).astype(a.dtype)),
    "tanh": (np.tanh, lambda a: 1.0 - a**2),
    "logistic": (expit, lambda a: a * (1.0 - a)),
}


def layer_keys(coefs: Coefficients) -> list[tuple[str, str]]:
    """``[("coef_0", "intercept_0"), …]`` for every layer present, in order."""
    keys = []
    i = 0
    while f"coef_{i}" in coefs:
        keys.append((f"coef_{i}", f"intercept_{i}"))
        i += 1
    return keys


class _MLPLearner(AlphaLearner):
    weight_keys = ()
    estimator_defaults: ClassVar[dict[str, Any]] = {
        "hidden_layer_sizes": (16,),
        "activation": "tanh",
        "solver": "lbfgs",
        "max_iter": 2_000,
    }
    seeded = True
    out_activations: ClassVar[tuple[str, ...]]

    def weights(self, coefs: Coefficients) -> list[str]:
        return [k for pair in layer_keys(coefs) for k in pair if k in coefs]

    def _layers(self, coefs: Coefficients) -> tuple[list[np.ndarray], list[np.ndarray]]:
        keys = layer_keys(coefs)
        if not keys:
            raise ModelFileError(
                f"{self.name} coefficients lack 'coef_0'; export the layers as coef_0, "
                "intercept_0, coef_1, …"
            )
        Ws = [float_array(coefs, w, self.name, ndim=2) for w, _ in keys]
        bs = [float_array(coefs, b, self.name, ndim=1) for _, b in keys]
        for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            if b.shape[0] != W.shape[1] or (i and Ws[i - 1].shape[1] != W.shape[0]):
                raise ShapeMismatchError(
                    f"{self.name}: layer {i} has weights {W.shape} and intercepts {b.shape}, "
                    "which do not chain; export the layers in order"
                )
        return Ws, bs

    def _forward(self, coefs: Coefficients, X: np.ndarray) -> list[np.ndarray]:
        Ws, bs = self._layers(coefs)
        if X.shape[1] != Ws[0].shape[0]:
            raise ShapeMismatchError(
                f"{self.name}: the network takes {Ws[0].shape[0]} input features but the data "
                f"has {X.shape[1]}; pass the feature columns it was trained on"
            )
        act = optional_str(coefs, "activation", "relu")
        if act not in _HIDDEN:
            raise ModelFileError(f"{self.name}: unknown activation {act!r}")
        out = optional_str(coefs, "out_activation", self.out_activations[0])
        if out not in self.out_activations:
            raise ModelFileError(
                f"{self.name}: output activation {out!r} is not one of {self.out_activations}"
            )
        acts = [X]
        for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            z = acts[-1] @ W + b
            if i < len(Ws) - 1:
                acts.append(_HIDDEN[act][0](z))
            elif out == "identity":
                acts.append(z)
            elif out == "logistic":
                acts.append(expit(z))
            else:
                acts.append(softmax(z, axis=1))
        return acts

    def _targets(self, coefs: Coefficients, y: np.ndarray, width: int) -> np.ndarray:
        raise NotImplementedError

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        X, y = check_data(X, y, self.name)
        n = X.shape[0]
        acts = self._forward(coefs, X)
        Ws, _ = self._layers(coefs)
        T = self._targets(coefs, y, acts[-1].shape[1])
        d_act = _HIDDEN[optional_str(coefs, "activation", "relu")][1]
        delta = acts[-1] - T  # canonical link: d loss / d pre-activation
        grads_w: list[np.ndarray] = [np.empty(0)] * len(Ws)
        grads_b: list[np.ndarray] = [np.empty(0)] * len(Ws)
        for i in range(len(Ws) - 1, -1, -1):
            grads_w[i] = acts[i].T @ delta / n
            grads_b[i] = delta.sum(axis=0) / n
            if i:
                delta = (delta @ Ws[i].T) * d_act(acts[i])
        solver = optional_str(coefs, "solver", "lbfgs")
        n_pen = n
        if solver != "lbfgs":
            batch = coefs.get("batch_size", "auto")
            if batch is None or str(batch) == "auto":
                n_pen = min(200, n)
            else:
                n_pen = int(min(optional_float(coefs, "batch_size", 200.0), n))
        flat_w = np.concatenate([W.ravel() for W in Ws])
        b = np.concatenate([g.ravel() for g in grads_w] + grads_b)
        A = np.concatenate([flat_w / n_pen, np.zeros(sum(g.size for g in grads_b))])[:, None]
        notes: list[str] = []
        if solver != "lbfgs":
            notes.append(
                f"solver {solver!r} penalises alpha/(2*{n_pen}) per mini-batch and stops near, "
                "not at, a stationary point: expect a rough estimate"
            )
        if coefs.get("early_stopping"):
            notes.append(
                "early_stopping held out 10% of the rows the attacker cannot identify: "
                "the equation is built on all rows"
            )
        return Equation(
            b=b,
            A=A,
            extras={"n_weights": int(flat_w.size), "penalty_rows": n_pen},
            notes=tuple(notes),
        )

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        out: dict[str, Any] = {
            "activation": estimator.activation,
            "out_activation": estimator.out_activation_,
            "solver": estimator.solver,
            "batch_size": estimator.batch_size,
            "early_stopping": bool(estimator.early_stopping),
        }
        for i, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_, strict=True)):
            out[f"coef_{i}"] = np.asarray(W, dtype=np.float64)
            out[f"intercept_{i}"] = np.asarray(b, dtype=np.float64)
        return out

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        out = self._forward(coefs, check_features(X, self.name))[-1]
        return out[:, 0] if out.shape[1] == 1 else out


class MLPRegressorLearner(_MLPLearner):
    """``sklearn.neural_network.MLPRegressor`` (squared error, one target)."""

    name = "mlp_regressor"
    task = "regression"
    library = "sklearn.neural_network.MLPRegressor"
    objective = "mean 1/2 (y - net(x))^2 + alpha/(2n) * sum ||W||^2 (intercepts unpenalised)"
    paper_form = "L = mean squared loss / 2, R = 1/(2n) sum ||W||^2, lambda = alpha"
    out_activations = ("identity",)

    def _targets(self, coefs: Coefficients, y: np.ndarray, width: int) -> np.ndarray:
        if width != 1:
            raise ShapeMismatchError(f"{self.name}: the network has {width} outputs; audit one")
        return regression_target(y, self.name)[:, None]

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if self.accepts(estimator) and estimator.loss != "squared_error":
            raise reject(estimator, self.name, f"loss={estimator.loss!r}", "models squared_error")
        return super().coefficients(estimator)


class MLPClassifierLearner(_MLPLearner):
    """``sklearn.neural_network.MLPClassifier`` (log-loss; single-label)."""

    name = "mlp_classifier"
    task = "classification"
    library = "sklearn.neural_network.MLPClassifier"
    objective = "mean logloss(y, net(x)) + alpha/(2n) * sum ||W||^2 (intercepts unpenalised)"
    paper_form = "L = mean log-loss, R = 1/(2n) sum ||W||^2, lambda = alpha"
    out_activations = ("logistic", "softmax")

    def _targets(self, coefs: Coefficients, y: np.ndarray, width: int) -> np.ndarray:
        classes = resolve_classes(coefs, y)
        idx = class_indices(y, classes, self.name)
        expected = 1 if len(classes) == 2 else len(classes)
        if width != expected:
            raise ShapeMismatchError(
                f"{self.name}: the network has {width} outputs for {len(classes)} classes; "
                "pass the data it was trained on"
            )
        if width == 1:
            return (idx == 1).astype(np.float64)[:, None]
        return np.eye(width)[idx]

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        out = super().coefficients(estimator)
        if estimator.out_activation_ == "logistic" and len(estimator.classes_) != 2:
            raise reject(estimator, self.name, "several labels per row", "models one label")
        out["classes"] = np.asarray(estimator.classes_)
        return out

    def predict(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        scores = self.decision(coefs, X)
        classes = np.asarray(coefs["classes"])
        if scores.ndim == 1:
            return classes[(scores > 0.5).astype(int)]
        return classes[np.argmax(scores, axis=1)]
