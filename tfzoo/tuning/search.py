"""keras-tuner's search as a scikit-learn meta-estimator."""

from __future__ import annotations

import os
import tempfile
from numbers import Integral

import keras_tuner as kt
import numpy as np
import pandas as pd
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    RegressorMixin,
    _fit_context,
    clone,
)
from sklearn.base import is_classifier as _is_classifier
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from tfzoo.estimators._seeding import as_seed

ORACLES = {
    "random": kt.oracles.RandomSearchOracle,
    "bayesian": kt.oracles.BayesianOptimizationOracle,
    "grid": kt.oracles.GridSearchOracle,
}


def declare(hp, name, spec):
    """Declare one tunable from a plain spec.

    ``[a, b, c]``: a choice (first value is the default); ``{"min": .., "max": ..,
    "sampling": "log"|"linear", "step": .., "type": "int"|"float", "default": ..}``:
    a range (``type`` inferred from ``min``/``max``).
    """
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError(f"search space for {name!r} is an empty list")
        return hp.Choice(name, list(spec), default=spec[0])
    if isinstance(spec, dict):
        lo, hi = spec.get("min"), spec.get("max")
        if lo is None or hi is None or not lo < hi:
            raise ValueError(f"search space for {name!r} needs min < max, got {spec!r}")
        kind = spec.get("type") or (
            "int"
            if isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer))
            else "float"
        )
        kwargs = {"sampling": spec.get("sampling", "linear"), "default": spec.get("default", lo)}
        if spec.get("step") is not None:
            kwargs["step"] = spec["step"]
        if kind == "int":
            return hp.Int(name, int(lo), int(hi), **kwargs)
        return hp.Float(name, float(lo), float(hi), **kwargs)
    raise ValueError(
        f"search space for {name!r} must be a list of choices or a dict with min/max, got {spec!r}"
    )


def _delegate(method):
    return lambda self: hasattr(self.estimator, method)


class TunedEstimator(MetaEstimatorMixin, BaseEstimator):
    """Tune ``estimator``'s parameters with a keras-tuner oracle and cross-validation."""

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "search_space": [dict],
        "tuner": [StrOptions(set(ORACLES))],
        "max_trials": [Interval(Integral, 1, None, closed="left")],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "random_state": ["random_state", np.random.Generator],
        "directory": [str, os.PathLike, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator,
        search_space,
        *,
        tuner="bayesian",
        max_trials=10,
        cv=3,
        scoring=None,
        random_state=None,
        directory=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.search_space = search_space
        self.tuner = tuner
        self.max_trials = max_trials
        self.cv = cv
        self.scoring = scoring
        self.random_state = random_state
        self.directory = directory
        self.verbose = verbose

    def _splitter(self, y):
        if not isinstance(self.cv, (int, np.integer)):
            return self.cv
        cls = StratifiedKFold if _is_classifier(self.estimator) else KFold
        seed = None if self.random_state is None else as_seed(self.random_state)
        return cls(int(self.cv), shuffle=True, random_state=seed)

    @_fit_context(prefer_skip_nested_validation=False)  # the estimator validates its own
    def fit(self, X, y, **fit_params):
        """Search, then refit the best parameters on all of ``(X, y)``."""
        if not self.search_space:
            raise ValueError("search_space must be a non-empty dict {parameter: spec}")
        valid = self.estimator.get_params(deep=True)
        unknown = [k for k in self.search_space if k not in valid and "__" not in k]
        if unknown:
            raise ValueError(
                f"search_space names parameters {type(self.estimator).__name__} does not "
                f"have: {unknown}"
            )
        hp = kt.HyperParameters()
        for name, spec in self.search_space.items():
            declare(hp, name, spec)
        oracle = ORACLES[self.tuner](
            objective=kt.Objective("score", "max"),
            max_trials=self.max_trials,
            hyperparameters=hp,
            # keras-tuner treats seed=0 as "no seed" (`seed or random...`): shift by one.
            seed=None if self.random_state is None else as_seed(self.random_state) + 1,
        )
        base = self.estimator

        def build(trial_hp):
            return clone(base).set_params(**trial_hp.values)

        scorer = get_scorer(self.scoring) if isinstance(self.scoring, str) else self.scoring
        with tempfile.TemporaryDirectory(prefix="tfzoo-tune-") as tmp:
            tuner = kt.SklearnTuner(
                oracle=oracle,
                hypermodel=build,
                scoring=scorer,
                cv=self._splitter(y),
                directory=self.directory or tmp,
                project_name="tfzoo",
                overwrite=True,
            )
            if self.verbose:
                tuner.search_space_summary()
            tuner.search(np.asarray(X) if not hasattr(X, "iloc") else X, np.asarray(y))
            trials = [t for t in oracle.trials.values() if t.score is not None]
        rows = [
            {**t.hyperparameters.values, "mean_test_score": t.score, "trial_id": t.trial_id}
            for t in trials
        ]
        results = pd.DataFrame(rows)
        results["rank_test_score"] = (
            results["mean_test_score"].rank(ascending=False, method="min").astype(int)
        )
        self.cv_results_ = results.sort_values("rank_test_score").reset_index(drop=True)
        best = self.cv_results_.iloc[0]
        self.best_params_ = {k: _plain(best[k]) for k in self.search_space}
        self.best_score_ = float(best["mean_test_score"])
        self.best_estimator_ = clone(base).set_params(**self.best_params_).fit(X, y, **fit_params)
        if hasattr(self.best_estimator_, "n_features_in_"):
            self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    def predict(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    @available_if(_delegate("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    @available_if(_delegate("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)

    def score(self, X, y, sample_weight=None):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.score(X, y, sample_weight=sample_weight)


def _plain(value):
    return value.item() if hasattr(value, "item") else value


class TunedClassifier(ClassifierMixin, TunedEstimator):
    """Tune a classifier (``best_params_``, ``best_estimator_``, ``cv_results_`` DataFrame).

    Args:
        estimator: a scikit-learn classifier or pipeline (e.g. a tfzoo estimator).
        search_space: ``{parameter: spec}``; a spec is a list of choices or a
            dict ``{"min", "max", "sampling", "step", "type", "default"}``.
            Pipeline parameters use their ``step__name`` form.
        tuner: ``"bayesian"``, ``"random"`` or ``"grid"`` (keras-tuner oracles).
        max_trials: parameter sets to try.
        cv: folds (stratified, shuffled with ``random_state``) or a splitter.
        scoring: scikit-learn scorer name or callable (default: ``score``).
        random_state: seeds the oracle and the folds.
        directory: keep keras-tuner's trial files there (default: a temporary folder).

    Example:
        >>> TunedClassifier(PerceptronClassifier(), {"hidden_units": [2, 4, 8]},
        ...                 tuner="random", max_trials=3).fit(X, y).best_params_
    """

    @property
    def classes_(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.classes_


class TunedRegressor(RegressorMixin, TunedEstimator):
    """Tune a regressor; parameters as :class:`TunedClassifier`."""
