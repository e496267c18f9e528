"""Linear regression: the builder and its closed-form (normal equations) solver.

The closed form needs only sums over rows. With ``x`` the features of one row
and ``y`` its targets, the solver accumulates ``n``, ``Σx``, ``Σy``, ``Σxxᵀ``
and ``Σxyᵀ`` (in float64, on data shifted by a constant ``c`` to avoid
cancellation; any constant gives the same algebra). These are exactly the
entries of ``XᵀX`` and ``XᵀY`` for the augmented ``X = [1, x₁ … xₙ]``.
Because they are sums, a batch at a time works (data larger than memory), and
replicas or workers can each sum their own shard and all-reduce
(:meth:`NormalEquationStats.merge` or a plain sum when they share the shift).
"""

from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np
import scipy.linalg

from tfzoo._validation import check_int
from tfzoo.layers.linear import Linear

#: Eigenvalues of the Jacobi-scaled normal matrix below this fraction of the
#: largest are treated as zero (that is, cond(X) above about 1e6).
RANK_RTOL = 1e-12


def build_linear_regression(
    n_features, n_outputs=1, fit_intercept=True, kernel_regularizer=None, name=None
):
    """Build the linear-regression model ``ŷ = θᵀx`` (uncompiled).

    Args:
        n_features: number of input features ``n``.
        n_outputs: number of targets.
        fit_intercept: learn ``θ₀`` (the weight of ``x₀ = 1``).
        kernel_regularizer: optional regularizer of ``W`` for gradient descent
            (``keras.regularizers.L2(l2 / n_samples)`` is ridge regression).
        name: model name (default ``"linear_regression"``).

    Returns:
        A functional ``keras.Model`` from ``(batch, n_features)`` to
        ``(batch, n_outputs)`` whose only layer with weights is a
        :class:`tfzoo.layers.Linear`. Train it by gradient descent
        (``model.compile(optimizer, loss="mse")``) or in closed form with
        :func:`fit_normal_equations`.

    Example:
        >>> model = build_linear_regression(10)
        >>> fit_normal_equations(model, X, y)
    """
    n_features = check_int(n_features, "n_features")
    n_outputs = check_int(n_outputs, "n_outputs")
    inputs = keras.Input(shape=(n_features,), name="x")
    outputs = Linear(
        n_outputs,
        fit_intercept=fit_intercept,
        kernel_regularizer=kernel_regularizer,
        name="linear",
    )(inputs)
    return keras.Model(inputs, outputs, name=name or "linear_regression")


@dataclasses.dataclass
class NormalEquationsSolution:
    """What :func:`fit_normal_equations` found (float64).

    Attributes:
        coef: ``W``, shape ``(n_features, n_outputs)``.
        intercept: ``b``, shape ``(n_outputs,)`` (zeros without intercept).
        rank: numerical rank of the (centred) normal matrix.
        n_samples: rows summed (the sum of the weights with sample weights).
        method: ``"cholesky"`` or ``"lstsq"`` (minimum norm, rank deficient).
    """

    coef: np.ndarray
    intercept: np.ndarray
    rank: int
    n_samples: float
    method: str

    @property
    def theta(self):
        """θ = ``[b; W]``, shape ``(n_features + 1, n_outputs)``."""
        return np.concatenate([self.intercept[None, :], self.coef], axis=0)


class NormalEquationStats:
    """Running sums for the normal equations; add batches, merge shards, solve.

    Args:
        n_features: columns of ``X``.
        n_outputs: columns of ``Y``.
        shift_x, shift_y: constants subtracted from every row before summing
            (``None``: the first batch's means when ``center`` is true, else 0).
        center: whether a shift may be used (it must be 0 without intercept).
    """

    def __init__(self, n_features, n_outputs, shift_x=None, shift_y=None, center=True):
        self.n_features = int(n_features)
        self.n_outputs = int(n_outputs)
        self.center = bool(center)
        self.n = 0
        self.sum_x = np.zeros(self.n_features)
        self.sum_y = np.zeros(self.n_outputs)
        self.sxx = np.zeros((self.n_features, self.n_features))
        self.sxy = np.zeros((self.n_features, self.n_outputs))
        self.shift_x = None if shift_x is None else np.asarray(shift_x, np.float64)
        self.shift_y = None if shift_y is None else np.asarray(shift_y, np.float64)
        if not self.center and (
            (shift_x is not None and np.any(self.shift_x))
            or (shift_y is not None and np.any(self.shift_y))
        ):
            raise ValueError("a non-zero shift needs center=True (an intercept)")

    def update(self, x, y, sample_weight=None):
        """Add the rows of one batch (``x``: (m, n_features), ``y``: (m, n_outputs)).

        With ``sample_weight`` every sum is weighted (``n`` becomes ``Σw``), so a
        weight of 2 is the same as the row given twice.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        _check_batch(x, y, self.n_features, self.n_outputs)
        if x.shape[0] == 0:
            return self
        if sample_weight is None:
            w = None
            total = float(x.shape[0])
        else:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if w.shape[0] != x.shape[0] or np.any(w < 0) or not np.all(np.isfinite(w)):
                raise ValueError(
                    "sample_weight must be finite, non-negative and have one entry per "
                    f"row ({x.shape[0]}), got shape {w.shape}"
                )
            total = float(w.sum())
            if total == 0:
                return self
        if self.shift_x is None:
            if self.center:
                self.shift_x = np.average(x, axis=0, weights=w)
                self.shift_y = np.average(y, axis=0, weights=w)
            else:
                self.shift_x = np.zeros(self.n_features)
                self.shift_y = np.zeros(self.n_outputs)
        xc = x - self.shift_x
        yc = y - self.shift_y
        xw = xc if w is None else xc * w[:, None]
        self.n += total
        self.sum_x += xw.sum(axis=0)
        self.sum_y += (yc if w is None else yc * w[:, None]).sum(axis=0)
        self.sxx += xw.T @ xc
        self.sxy += xw.T @ yc
        return self

    def _moved_to(self, shift_x, shift_y):
        """The same sums expressed around another shift (exact algebra)."""
        if self.shift_x is None:
            return self.sum_x, self.sum_y, self.sxx, self.sxy
        dx = self.shift_x - shift_x
        dy = self.shift_y - shift_y
        n = self.n
        sum_x = self.sum_x + n * dx
        sum_y = self.sum_y + n * dy
        sxx = self.sxx + np.outer(dx, self.sum_x) + np.outer(self.sum_x, dx) + n * np.outer(dx, dx)
        sxy = self.sxy + np.outer(dx, self.sum_y) + np.outer(self.sum_x, dy) + n * np.outer(dx, dy)
        return sum_x, sum_y, sxx, sxy

    def merge(self, other):
        """Add another shard's sums (its shift may differ) into this one."""
        if (other.n_features, other.n_outputs) != (self.n_features, self.n_outputs):
            raise ValueError(
                "cannot merge normal-equation sums of shapes "
                f"{(other.n_features, other.n_outputs)} and "
                f"{(self.n_features, self.n_outputs)}"
            )
        if other.n == 0:
            return self
        if self.shift_x is None:
            self.shift_x, self.shift_y = other.shift_x.copy(), other.shift_y.copy()
        sum_x, sum_y, sxx, sxy = other._moved_to(self.shift_x, self.shift_y)
        self.n += other.n
        self.sum_x += sum_x
        self.sum_y += sum_y
        self.sxx += sxx
        self.sxy += sxy
        return self

    def solve(self, l2=0.0, fit_intercept=True):
        """Solve ``(XᵀX + λI) θ = XᵀY``; the intercept is not penalised.

        ``l2`` is ``λ`` on the *sums* (as ``alpha`` in ``sklearn.linear_model.Ridge``).
        Returns a :class:`NormalEquationsSolution`.
        """
        if self.n == 0:
            raise ValueError(
                "Found array with 0 sample(s) (shape=(0, "
                f"{self.n_features})) while a minimum of 1 is required."
            )
        l2 = float(l2)
        if not np.isfinite(l2) or l2 < 0:
            raise ValueError(f"l2 must be a non-negative finite number, got {l2!r}")
        if fit_intercept:
            if not self.center:
                raise ValueError("fit_intercept=True needs sums made with center=True")
            mean_x = self.sum_x / self.n
            mean_y = self.sum_y / self.n
            a = self.sxx - self.n * np.outer(mean_x, mean_x)
            b = self.sxy - self.n * np.outer(mean_x, mean_y)
        else:
            if np.any(self.shift_x) or np.any(self.shift_y):
                raise ValueError(
                    "fit_intercept=False needs sums made without a shift (center=False)"
                )
            a, b = self.sxx, self.sxy
        a = 0.5 * (a + a.T) + l2 * np.eye(self.n_features)
        coef, rank, method = _solve_psd(a, b)
        if fit_intercept:
            intercept = (mean_y + self.shift_y) - (mean_x + self.shift_x) @ coef
        else:
            intercept = np.zeros(self.n_outputs)
        return NormalEquationsSolution(coef, intercept, rank, self.n, method)


def _check_batch(x, y, n_features, n_outputs):
    if x.ndim != 2:
        raise ValueError(f"Expected 2D array for X, got array with shape {x.shape}.")
    if x.shape[1] != n_features:
        raise ValueError(
            f"X has {x.shape[1]} features, but the model is expecting "
            f"{n_features} features as input."
        )
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(f"y has shape {y.shape}, but the model has {n_outputs} output(s).")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{x.shape[0]}, {y.shape[0]}]"
        )
    for name, arr in (("X", x), ("y", y)):
        if not np.all(np.isfinite(arr)):
            what = "NaN" if np.isnan(arr).any() else "infinity"
            raise ValueError(f"Input {name} contains {what}.")


def _solve_psd(a, b):
    """Solve the symmetric positive semi-definite system ``a θ = b`` stably.

    Cholesky on the Jacobi-scaled matrix when it has full numerical rank;
    otherwise least squares (``lstsq``, SVD), which returns the minimum-norm
    solution, with a warning. Never an explicit inverse.
    """
    p = a.shape[0]
    d = np.sqrt(np.clip(np.diag(a), 0.0, None))
    d[d == 0] = 1.0
    scaled = a / np.outer(d, d)
    eig = np.linalg.eigvalsh(scaled)
    tol = max(eig[-1], 0.0) * max(RANK_RTOL, p * np.finfo(np.float64).eps)
    rank = int(np.sum(eig > tol))
    if rank == p:
        try:
            factor = scipy.linalg.cho_factor(scaled, lower=True, check_finite=False)
            z = scipy.linalg.cho_solve(factor, b / d[:, None], check_finite=False)
            return z / d[:, None], rank, "cholesky"
        except np.linalg.LinAlgError:  # pragma: no cover - guarded by the rank test
            pass
    warnings.warn(
        f"The normal matrix XᵀX is rank deficient (numerical rank {rank} < {p} "
        "features: duplicated or collinear columns, or fewer samples than "
        "features). Returning the minimum-norm least-squares solution; pass "
        "l2 > 0 for a ridge solution instead.",
        RankDeficientWarning,
        stacklevel=3,
    )
    coef, *_ = np.linalg.lstsq(a, b, rcond=RANK_RTOL)
    return coef, rank, "lstsq"


class RankDeficientWarning(UserWarning):
    """The normal equations were singular; a minimum-norm solution was returned."""


def _find_linear_layer(model):
    if isinstance(model, Linear):
        return model
    linear = [layer for layer in model._flatten_layers() if isinstance(layer, Linear)]
    if len(linear) != 1:
        raise ValueError(
            "fit_normal_equations needs a model with exactly one tfzoo.layers.Linear "
            f"layer (as build_linear_regression makes), found {len(linear)}."
        )
    layer = linear[0]
    own = {id(w) for w in layer.weights}
    others = [w.path for w in model.weights if id(w) not in own]
    if others:
        raise ValueError(
            "fit_normal_equations solves a purely linear model, but this model has "
            f"other weights too: {others[:5]}"
        )
    return layer


def normal_equation_stats(x, y=None, *, n_features, n_outputs, center=True, chunk_rows=65536):
    """Accumulate :class:`NormalEquationStats` over arrays or a batched dataset.

    ``x`` is an array (then ``y`` is required) or an iterable of ``(x, y)``
    batches such as a ``tf.data.Dataset``.
    """
    stats = NormalEquationStats(n_features, n_outputs, center=center)
    if y is not None:
        x = np.asarray(x)
        y = np.asarray(y)
        if y.ndim == 1:
            y = y[:, None]
        _check_batch(x, y, n_features, n_outputs)
        if x.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={x.shape}) while a minimum of 1 is required."
            )
        for start in range(0, x.shape[0], chunk_rows):
            stats.update(x[start : start + chunk_rows], y[start : start + chunk_rows])
        return stats
    if isinstance(x, np.ndarray):
        raise ValueError("y is required when x is an array")
    for batch in x:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(
                "a dataset for fit_normal_equations must yield (x, y) batches, got "
                f"{type(batch).__name__}"
            )
        xb, yb = batch[0], batch[1]
        stats.update(np.asarray(xb), np.asarray(yb))
    return stats


def fit_normal_equations(model, x, y=None, l2=0.0, strategy=None):
    """Fit a linear-regression model in closed form and write θ into its weights.

    Computes ``θ = (XᵀX + λI)⁻¹ XᵀY`` in float64 by a Cholesky solve of the
    (Jacobi-scaled, centred) normal matrix; no explicit inverse is formed.
    With an intercept the data are centred, which is the same as leaving
    ``θ₀`` out of the penalty: ``l2 > 0`` gives ``sklearn.linear_model.Ridge``'s
    answer for ``alpha=l2``, ``l2 = 0`` gives ``LinearRegression``'s. A
    rank-deficient ``X`` (duplicated or collinear columns) gives the
    minimum-norm solution and a :class:`RankDeficientWarning`, never NaN.

    Args:
        model: a model from :func:`build_linear_regression` (or a
            :class:`tfzoo.layers.Linear` layer, already built).
        x: array ``(n_samples, n_features)``, or a ``tf.data.Dataset`` (or any
            iterable) of ``(x, y)`` batches, so data larger than memory work.
        y: targets ``(n_samples,)`` or ``(n_samples, n_outputs)`` when ``x`` is
            an array.
        l2: ridge penalty ``λ`` (on the sums, like scikit-learn's ``alpha``).
        strategy: a ``tf.distribute.Strategy`` (or a name for
            :func:`tfzoo.distribute.get_strategy`): each replica and worker sums
            its own shard of ``x`` (a dataset of global batches, or arrays,
            batched here), the sums are all-reduced, one solve follows.

    Returns:
        A :class:`NormalEquationsSolution` (float64 ``coef``, ``intercept``,
        ``theta``, ``rank``); the model's weights hold the float32 copy.
    """
    layer = _find_linear_layer(model)
    if not layer.built:
        raise ValueError("the Linear layer is not built yet: call the model once")
    if strategy is not None:
        import tensorflow as tf

        from tfzoo.distribute import get_strategy
        from tfzoo.distribute.normal_equations import fit_normal_equations_distributed

        if y is not None:
            x = tf.data.Dataset.from_tensor_slices((np.asarray(x), np.asarray(y))).batch(1024)
        return fit_normal_equations_distributed(model, x, get_strategy(strategy), l2=l2)
    n_features, n_outputs = layer.kernel.shape
    stats = normal_equation_stats(
        x, y, n_features=n_features, n_outputs=n_outputs, center=layer.fit_intercept
    )
    solution = stats.solve(l2=l2, fit_intercept=layer.fit_intercept)
    layer.set_theta(solution.coef, solution.intercept if layer.fit_intercept else None)
    return solution
