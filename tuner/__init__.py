"""hyperseal's tuner: datasets, detectors, training, evaluation, search and the vault.

The public API, loaded on first use (importing ``tuner`` imports no torch)::

    from tuner import TrainConfig, run_training          # hyperseal train: data -> release
    from tuner import train_detector                     # the training loop itself
    from tuner import TuneOptions, tune_run, load_results  # tune, read results back
    from tuner import ObjectiveOptions, tune_objective     # tune your own training code
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuner._lazy import lazy_exports

if TYPE_CHECKING:
    from tuner.detectors import ModelSpec, build_detector
    from tuner.evaluate import evaluate_detections, evaluate_model
    from tuner.objectives import ObjectiveOptions, TrialPruned, tune_objective
    from tuner.release import load_release, save_release
    from tuner.search.space import SearchSpace, default_space, load_space
    from tuner.search.study import Study, StudySettings
    from tuner.train import TrainConfig, train_detector
    from tuner.train.run import run_training
    from tuner.tune import TuneOptions, load_journal, load_results, resume_run, tune_run

__version__ = "0.1.0"

_WHERE = {
    "ModelSpec": "tuner.detectors",
    "build_detector": "tuner.detectors",
    "evaluate_detections": "tuner.evaluate",
    "evaluate_model": "tuner.evaluate",
    "ObjectiveOptions": "tuner.objectives",
    "TrialPruned": "tuner.objectives",
    "tune_objective": "tuner.objectives",
    "load_release": "tuner.release",
    "save_release": "tuner.release",
    "SearchSpace": "tuner.search.space",
    "default_space": "tuner.search.space",
    "load_space": "tuner.search.space",
    "Study": "tuner.search.study",
    "StudySettings": "tuner.search.study",
    "TrainConfig": "tuner.train",
    "train_detector": "tuner.train",
    "run_training": "tuner.train.run",
    "TuneOptions": "tuner.tune",
    "load_journal": "tuner.tune",
    "load_results": "tuner.tune",
    "resume_run": "tuner.tune",
    "tune_run": "tuner.tune",
}

__all__ = [
    "ModelSpec",
    "ObjectiveOptions",
    "SearchSpace",
    "Study",
    "StudySettings",
    "TrainConfig",
    "TrialPruned",
    "TuneOptions",
    "__version__",
    "build_detector",
    "default_space",
    "evaluate_detections",
    "evaluate_model",
    "load_journal",
    "load_release",
    "load_results",
    "load_space",
    "resume_run",
    "run_training",
    "save_release",
    "train_detector",
    "tune_objective",
    "tune_run",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
