"""A scikit-learn style estimator over the conntra trainers.

``ConntraClassifier(hidden=(256,), trainer="conntra").fit(X, y).predict(X)``
works without scikit-learn installed; with it, the estimator also passes
through ``clone``, pipelines and grid search, because it follows the same
conventions (constructor arguments stored unchanged, learned state in
attributes ending in ``_``, ``get_params``/``set_params``).
"""

from __future__ import annotations

import inspect

import numpy as np

from conntra.datasets import Dataset
from conntra.errors import InputError, ShapeError
from conntra.train import api
from conntra.train.coordinate import ConntraConfig


class ConntraClassifier:
    """Ternary (or float baseline) classifier trained by one of conntra's trainers.

    X: (n, d) numbers; uint8-like images in 0..255 when ``input_kind="image"``,
    anything numeric with ``"tabular"`` (affine quantization fitted on X).
    y: integer class labels 0..n_classes-1 (other labels are mapped through
    ``classes_``).
    """

    def __init__(self, hidden=(8,), trainer="conntra", epochs=30, seed=0,
                 input_kind="tabular", val_fraction=0.1, batch=1024, budget=4096, rounds=2,
                 init="hybrid", exhaustive=False, patience=3):
        self.hidden = hidden
        self.trainer = trainer
        self.epochs = epochs
        self.seed = seed
        self.input_kind = input_kind
        self.val_fraction = val_fraction
        self.batch = batch
        self.budget = budget
        self.rounds = rounds
        self.init = init
        self.exhaustive = exhaustive
        self.patience = patience

    # -- scikit-learn conventions -------------------------------------------
    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise InputError(f"invalid parameter {key!r} for ConntraClassifier; "
                                 f"valid: {', '.join(sorted(valid))}")
            setattr(self, key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"ConntraClassifier({args})"

    # -- learning -------------------------------------------------------------
    def fit(self, X, y):
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] < 2:
            raise ShapeError(f"fit needs X (n, d) and y (n,) with n >= 2; got {X.shape} "
                             f"and {y.shape}")
        if self.input_kind not in ("tabular", "image"):
            raise InputError(f"input_kind must be 'tabular' or 'image', got "
                             f"{self.input_kind!r}")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise InputError("fit needs at least two classes")
        X = X.astype(np.float64) if self.input_kind == "tabular" else X
        data = Dataset("user", X, y_idx, X[:0], y_idx[:0], len(self.classes_), None,
                       self.input_kind)
        cfg = ConntraConfig(batch=self.batch, budget=self.budget, rounds=self.rounds,
                            init=self.init, exhaustive=self.exhaustive,
                            patience=self.patience)
        result = api.train(data, list(self.hidden), self.trainer, epochs=self.epochs,
                           seed=self.seed, config=cfg, val_fraction=self.val_fraction)
        self.model_ = result.model
        self.history_ = result.history
        self.n_features_in_ = X.shape[1]
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise InputError("this ConntraClassifier is not fitted yet; call fit first")

    def predict(self, X):
        self._check_fitted()
        return self.classes_[self.model_.predict(np.asarray(X))]

    def score(self, X, y):
        """Mean accuracy, as in scikit-learn."""
        return float(np.mean(self.predict(X) == np.asarray(y)))
