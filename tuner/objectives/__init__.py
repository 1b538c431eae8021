"""Your own training code as the objective: a Python function or a command per trial.

    from tuner.objectives import ObjectiveOptions, tune_objective

``tuner.objectives.python`` loads and calls ``objective(params, trial)``;
``tuner.objectives.command`` runs a program with its config in a private file
and reads the metrics it reports; ``tuner.objectives.target`` hands either to
the run engine (:mod:`tuner.engine.run`).
"""

from tuner.objectives.target import ObjectiveOptions, ObjectiveTarget, tune_objective
from tuner.search.trial import TrialContext, TrialPruned

__all__ = ["ObjectiveOptions", "ObjectiveTarget", "TrialContext", "TrialPruned", "tune_objective"]
