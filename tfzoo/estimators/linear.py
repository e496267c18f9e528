"""Linear regression as a scikit-learn regressor: normal equations or gradient descent."""

from __future__ import annotations

import math
from numbers import Real

import keras
import numpy as np
from scipy import sparse
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from tfzoo.distribute import get_strategy
from tfzoo.estimators import _base, _runtime
from tfzoo.estimators._supervised import KerasRegressorBase
from tfzoo.models.linear_regression import build_linear_regression
from tfzoo.solvers import NormalEquationStats

SOLVERS = ("normal_equations", "gd")


class LinearRegressor(KerasRegressorBase):
    """``ŷ = θᵀx`` fitted by the normal equations (exact) or gradient descent.

    Both solvers minimise ``Σ wᵢ (ŷᵢ − yᵢ)² + l2·‖W‖²`` (the intercept is not
    penalised): ``l2=0`` is ``sklearn.linear_model.LinearRegression``,
    ``l2>0`` is ``Ridge(alpha=l2)``. The normal equations are solved in
    float64 by Cholesky (minimum-norm least squares with a warning when
    ``X`` is rank deficient); ``partial_fit`` adds a batch to the running
    sums and re-solves, so the fit after all batches is exact. With
    ``solver="gd"`` the model trains with Keras (``epochs``, ``optimizer``...)
    and the penalty becomes an L2 regularizer of ``l2 / n_train`` on the
    mean squared error, ``n_train`` being the rows it trains on (all of them,
    or those left after ``validation_fraction`` with ``early_stopping``), so
    both solvers minimise the same objective on the rows they fit. The
    normal-equations model is float64 (``model_`` holds θ unrounded), so its
    predictions equal scikit-learn's also for features far from the origin
    (Unix times) or of extreme scale. ``X`` may be ``scipy.sparse`` (e.g. a
    ``OneHotEncoder``'s output): the normal equations add it to their sums a
    chunk of rows at a time, gradient descent densifies each batch.

    Attributes:
        coef_: ``(n_features,)`` for a 1-D ``y``, else ``(n_targets, n_features)``.
        intercept_: float, or ``(n_targets,)``.
        rank_: numerical rank of the centred normal matrix (normal equations).
        model_: the fitted Keras model (its Linear layer holds θ).
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in KerasRegressorBase._parameter_constraints.items() if k != "loss"},
        "solver": [StrOptions(set(SOLVERS))],
        "l2": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
    }

    _sparse_input = True

    def __init__(
        self,
        *,
        solver="normal_equations",
        l2=0.0,
        fit_intercept=True,
        epochs=200,
        batch_size=32,
        optimizer="adam",
        learning_rate=0.01,
        validation_fraction=0.1,
        early_stopping=False,
        n_iter_no_change=10,
        callbacks=None,
        warm_start=False,
        random_state=None,
        verbose=0,
        strategy="auto",
        tensorboard_dir=None,
    ):
        self.solver = solver
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.strategy = strategy
        self.tensorboard_dir = tensorboard_dir

    @property
    def loss(self):
        return "mse"

    def _build_keras_model(self, n_features, n_outputs, meta):
        regularizer = None
        if self.solver == "gd" and self.l2 > 0:
            # Σ(ŷ − y)² + l2‖W‖²  ==  n · [MSE + (l2 / n)‖W‖²], with n the rows
            # that gradient descent trains on (validation rows held out).
            regularizer = keras.regularizers.L2(float(self.l2) / max(1, self._n_train(meta)))
        return build_linear_regression(
            n_features,
            n_outputs=n_outputs,
            fit_intercept=self.fit_intercept,
            kernel_regularizer=regularizer,
            # The closed form is float64: keep it so in the model, unrounded.
            dtype="float64" if self.solver == "normal_equations" else None,
        )

    def _n_train(self, meta):
        """Rows left for training after the validation split (train_test_split's rule)."""
        n = meta["n_samples"]
        if self.early_stopping and self.validation_fraction > 0:
            n -= math.ceil(self.validation_fraction * n)
        return n

    def _fit(self, X, y, sample_weight, epochs, incremental, classes=None):
        if self.solver == "gd":
            super()._fit(X, y, sample_weight, epochs, incremental)
            self._set_coef_from_model()
            return self
        self._check_param_combinations()
        keep = incremental and hasattr(self, "model_")
        X, y = validate_data(self, X, y, reset=not keep, **self._validate_kwargs())
        sample_weight = self._check_sample_weight(sample_weight, X)
        y2, meta = self._encode_targets(y, reset=not keep)
        meta["n_samples"] = X.shape[0]
        if not keep:
            # (on JAX, float64 variables need 64-bit types enabled while they are made)
            with get_strategy(self.strategy).scope(), _runtime.dtype_scope("float64"):
                model = self._build_keras_model(self.n_features_in_, self.n_outputs_, meta)
            stats = NormalEquationStats(
                self.n_features_in_, self.n_outputs_, center=self.fit_intercept
            )
            self.model_ = model
            self.history_ = {}
            self._stats = stats
        if sparse.issparse(X):
            # the sums take dense rows: a chunk at a time, never the whole matrix
            step = max(1, _base.SPARSE_CHUNK_VALUES // max(1, X.shape[1]))
            for i in range(0, X.shape[0], step):
                w = None if sample_weight is None else sample_weight[i : i + step]
                self._stats.update(X[i : i + step].toarray(), y2[i : i + step], w)
        else:
            self._stats.update(X, y2, sample_weight)
        solution = self._stats.solve(l2=self.l2, fit_intercept=self.fit_intercept)
        layer = self.model_.get_layer("linear")
        with _runtime.dtype_scope("float64"):
            layer.set_theta(solution.coef, solution.intercept if self.fit_intercept else None)
        self.rank_ = solution.rank
        self._set_coef(solution.coef, solution.intercept)
        self._refresh_predict_fn()
        return self

    def _set_coef_from_model(self):
        layer = self.model_.get_layer("linear")
        coef = np.asarray(layer.kernel.numpy(), dtype=np.float64)
        intercept = (
            np.asarray(layer.bias.numpy(), dtype=np.float64)
            if layer.bias is not None
            else np.zeros(coef.shape[1])
        )
        self._set_coef(coef, intercept)

    def _set_coef(self, coef, intercept):
        if self._y_ndim == 1:
            self.coef_ = coef[:, 0].copy()
            self.intercept_ = float(intercept[0])
        else:
            self.coef_ = coef.T.copy()
            self.intercept_ = np.asarray(intercept, dtype=np.float64).copy()
