"""Audit I: steal the hyperparameters of a scikit-learn model from its weights.

Where things are:

* :mod:`audit.classical.learners`: one module per learner family, each with its
  library's exact objective (the stationarity equation at the weights).
* :mod:`audit.classical.steal`: learner + weights + data → estimate.
* :mod:`audit.classical.io`: safe model and data loading (skops, ``.npz``, JSON; never pickle).
* :mod:`audit.classical.sklearn_audit`: one model file against its data
  (``hyperseal audit sklearn``).
* :mod:`audit.classical.status`: whether an estimate is a measurement (``ok``) or not.
* :mod:`audit.classical.defences`: rounding and noise.
* :mod:`audit.classical.reproduction`, :mod:`audit.classical.tsr`,
  :mod:`audit.classical.experiments`, :mod:`audit.classical.datasets`: the
  paper's experiments (``hyperseal audit reproduce``).

The public names are exported from :mod:`audit`.
"""
