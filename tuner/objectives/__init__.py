"""What a run tunes: your own training code (a Python function or a command per trial),
or the built-in detector trainer.

    from tuner.objectives import ObjectiveOptions, tune_objective

``tuner.objectives.python`` loads and calls ``objective(params, trial)``;
``tuner.objectives.command`` runs a program with its config in a private file
and reads the metrics it reports; ``tuner.objectives.target`` hands either to
the run engine (:mod:`tuner.engine.run`), and ``tuner.objectives.detector`` does
the same for the built-in detector trainer (``hyperseal tune``'s default), whose
trials ``tuner.objectives.detector_trial`` runs (train a detector, return its mAP).
"""

from tuner.objectives.target import ObjectiveOptions, ObjectiveTarget, tune_objective
from tuner.search.trial import TrialContext, TrialPruned

__all__ = ["ObjectiveOptions", "ObjectiveTarget", "TrialContext", "TrialPruned", "tune_objective"]
