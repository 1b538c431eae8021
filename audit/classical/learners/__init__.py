"""The learners the audit knows, one module per family, and the registry.

Each learner reproduces one library's objective exactly; see the module of
each for its conventions (which terms are penalised, ``1/n`` factors, ``C``
versus ``alpha``).
"""

from __future__ import annotations

from typing import Any

from audit.classical.learners.base import Coefficients, Equation, Learner
from audit.classical.learners.elastic_net import ElasticNetLearner
from audit.classical.learners.kernel_logistic import KernelLogisticLearner, KernelLogisticRegression
from audit.classical.learners.kernel_ridge import KernelRidgeLearner
from audit.classical.learners.kernel_svm import KernelSVMLearner
from audit.classical.learners.lasso import LassoLearner
from audit.classical.learners.linear_svc import (
    LinearSVCHingeLearner,
    LinearSVCL1Learner,
    LinearSVCLearner,
)
from audit.classical.learners.logistic import (
    LogisticElasticNetLearner,
    LogisticL1Learner,
    LogisticL2Learner,
)
from audit.classical.learners.mlp import MLPClassifierLearner, MLPRegressorLearner
from audit.classical.learners.ridge import RidgeLearner
from audit.errors import UnknownLearnerError

__all__ = [
    "LEARNERS",
    "Coefficients",
    "Equation",
    "KernelLogisticRegression",
    "Learner",
    "get_learner",
    "learner_for",
]

LEARNERS: dict[str, Learner] = {
    learner.name: learner
    for learner in (
        RidgeLearner(),
        LassoLearner(),
        ElasticNetLearner(),
        KernelRidgeLearner(),
        LogisticL2Learner(),
        LogisticL1Learner(),
        LogisticElasticNetLearner(),
        LinearSVCLearner(),
        LinearSVCL1Learner(),
        LinearSVCHingeLearner(),
        KernelSVMLearner(),
        KernelLogisticLearner(),
        MLPRegressorLearner(),
        MLPClassifierLearner(),
    )
}
"""Every learner by registry name."""


def get_learner(name: str | Learner) -> Learner:
    """The learner called ``name`` (a :class:`Learner` is returned as is).

    Raises:
        UnknownLearnerError: No learner has that name.
    """
    if isinstance(name, Learner):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in LEARNERS:
        raise UnknownLearnerError(f"unknown learner '{name}'; choose one of: {', '.join(LEARNERS)}")
    return LEARNERS[key]


def learner_for(estimator: Any) -> Learner:
    """The learner whose objective ``estimator`` was trained with.

    Raises:
        UnknownLearnerError: The audit has no objective for this estimator.
    """
    for learner in LEARNERS.values():
        if learner.accepts(estimator):
            return learner
    detail = ""
    if type(estimator).__name__ == "LogisticRegression":
        detail = " (unpenalised: there is no hyperparameter to steal)"
    raise UnknownLearnerError(
        f"no learner models a {type(estimator).__name__}{detail}; supported: "
        f"{', '.join(sorted({lr.library.rsplit('.', 1)[-1] for lr in LEARNERS.values()}))}"
    )
