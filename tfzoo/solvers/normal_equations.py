"""The normal equations ``θ = (XᵀX + λI)⁻¹XᵀY``, solved from running sums.

The closed form needs only sums over rows. With ``x`` the features of one row
and ``y`` its targets, :class:`NormalEquationStats` accumulates ``n``, ``Σu``,
``Σv``, ``Σuuᵀ`` and ``Σuvᵀ`` of the rows moved and scaled as
``u = (x − c) / s`` and ``v = (y − d) / t``, in float64:

- the shift ``c`` (the first batch's mean) avoids cancellation for data far
  from the origin (features near 1.7e9, such as Unix times);
- the scale ``s`` (a power of two per column, the first batch's largest
  ``|x − c|``) keeps ``Σuuᵀ`` inside float64's range for data of any
  magnitude (``x ~ 1e-160`` squares to zero and ``x ~ 1e200`` to infinity
  without it). Powers of two scale without rounding.

Any shift and scale give the same algebra, so shards summed with different
ones merge exactly (:meth:`NormalEquationStats.merge`), batches can come one
at a time (data larger than memory), and replicas or workers can each sum
their own shard and all-reduce.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import scipy.linalg

from tfzoo.layers.linear import Linear

#: Eigenvalues of the Jacobi-scaled normal matrix below this fraction of the
#: largest are treated as zero (that is, cond(X) above about 1e6).
RANK_RTOL = 1e-12

__all__ = [
    "NormalEquationStats",
    "NormalEquationsSolution",
    "RankDeficientWarning",
    "find_linear_layer",
    "normal_equation_stats",
    "power_of_two_scale",
]


class RankDeficientWarning(UserWarning):
    """The normal equations were singular; a minimum-norm solution was returned."""


@dataclasses.dataclass
class NormalEquationsSolution:
    """What the normal equations gave (float64).

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


def power_of_two_scale(magnitude):
    """Per-column powers of two near ``magnitude`` (1 where it is 0 or not finite).

    Dividing by a power of two is exact in floating point, so scaled sums
    lose nothing but over- and underflow.
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    scale = np.ones_like(magnitude)
    ok = np.isfinite(magnitude) & (magnitude > 0)
    # frexp: magnitude = m * 2**e with 0.5 <= m < 1, so magnitude / 2**(e-1) is
    # in [1, 2) (and 2**(e-1) <= 2**1023 stays finite).
    _, exponent = np.frexp(magnitude[ok])
    scale[ok] = np.ldexp(1.0, exponent - 1)
    return scale


class NormalEquationStats:
    """Running sums for the normal equations; add batches, merge shards, solve.

    Args:
        n_features: columns of ``X``.
        n_outputs: columns of ``Y``.
        shift_x, shift_y: constants subtracted from every row before summing
            (``None``: the first batch's means when ``center`` is true, else 0).
        center: whether a shift may be used (it must be 0 without intercept).
        scale_x, scale_y: positive per-column divisors applied after the shift
            (``None``: powers of two from the first batch's largest deviation).
    """

    def __init__(
        self,
        n_features,
        n_outputs,
        shift_x=None,
        shift_y=None,
        center=True,
        scale_x=None,
        scale_y=None,
    ):
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
        self.scale_x = None if scale_x is None else np.asarray(scale_x, np.float64)
        self.scale_y = None if scale_y is None else np.asarray(scale_y, np.float64)
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
                self.shift_x = _mean(x, w)
                self.shift_y = _mean(y, w)
            else:
                self.shift_x = np.zeros(self.n_features)
                self.shift_y = np.zeros(self.n_outputs)
        with np.errstate(over="ignore", invalid="ignore"):
            dx = x - self.shift_x
            dy = y - self.shift_y
        _check_representable(dx, "X")
        _check_representable(dy, "y")
        if self.scale_x is None:
            self.scale_x = power_of_two_scale(np.abs(dx).max(axis=0))
            self.scale_y = power_of_two_scale(np.abs(dy).max(axis=0))
        xc = dx / self.scale_x
        yc = dy / self.scale_y
        xw = xc if w is None else xc * w[:, None]
        with np.errstate(over="ignore", invalid="ignore"):
            sums = (
                xw.sum(axis=0),
                (yc if w is None else yc * w[:, None]).sum(axis=0),
                xw.T @ xc,
                xw.T @ yc,
            )
        if not all(np.all(np.isfinite(s)) for s in sums):
            raise ValueError(
                "The sums of the normal equations overflow float64 for this batch: its "
                "values are far larger than those of the first batch, which set the "
                "scale. Standardise the data, or pass the batches in another order."
            )
        self.n += total
        self.sum_x += sums[0]
        self.sum_y += sums[1]
        self.sxx += sums[2]
        self.sxy += sums[3]
        return self

    def _moved_to(self, shift_x, shift_y, scale_x, scale_y):
        """The same sums for rows moved by another shift and scale (exact algebra).

        With ``u = (x − c) / s`` stored and ``u' = (x − c') / s'`` wanted,
        ``u' = r u + d`` where ``r = s / s'`` and ``d = (c − c') / s'``.
        """
        rx = self.scale_x / scale_x
        ry = self.scale_y / scale_y
        dx = (self.shift_x - shift_x) / scale_x
        dy = (self.shift_y - shift_y) / scale_y
        n = self.n
        sx = rx * self.sum_x
        sy = ry * self.sum_y
        sum_x = sx + n * dx
        sum_y = sy + n * dy
        sxx = self.sxx * np.outer(rx, rx) + np.outer(dx, sx) + np.outer(sx, dx)
        sxx += n * np.outer(dx, dx)
        sxy = self.sxy * np.outer(rx, ry) + np.outer(dx, sy) + np.outer(sx, dy)
        sxy += n * np.outer(dx, dy)
        return sum_x, sum_y, sxx, sxy

    def merge(self, other):
        """Add another shard's sums (its shift and scale may differ) into this one."""
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
        if self.scale_x is None:
            self.scale_x, self.scale_y = other.scale_x.copy(), other.scale_y.copy()
        sum_x, sum_y, sxx, sxy = other._moved_to(
            self.shift_x, self.shift_y, self.scale_x, self.scale_y
        )
        self.n += other.n
        self.sum_x += sum_x
        self.sum_y += sum_y
        self.sxx += sxx
        self.sxy += sxy
        return self

    def solve(self, l2=0.0, fit_intercept=True):
        """Solve ``(XᵀX + λI) θ = XᵀY``; the intercept is not penalised.

        ``l2`` is ``λ`` on the *sums* of the data in their own units (as
        ``alpha`` in ``sklearn.linear_model.Ridge``). Returns a
        :class:`NormalEquationsSolution`.
        """
        if self.n == 0:
            raise ValueError(
                "Found array with 0 sample(s) (shape=(0, "
                f"{self.n_features})) while a minimum of 1 is required."
            )
        l2 = float(l2)
        if not np.isfinite(l2) or l2 < 0:
            raise ValueError(f"l2 must be a non-negative finite number, got {l2!r}")
        sx = np.ones(self.n_features) if self.scale_x is None else self.scale_x
        sy = np.ones(self.n_outputs) if self.scale_y is None else self.scale_y
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
        # In scaled units the system is (A_s + λ S⁻²) W_s = B_s with
        # W = S⁻¹ W_s t: the same minimiser, inside float64's range.
        penalty = np.zeros(self.n_features)
        if l2 > 0:
            with np.errstate(over="ignore", divide="ignore"):
                penalty = np.minimum(l2 / sx**2, np.finfo(np.float64).max / 4)
        a = 0.5 * (a + a.T) + np.diag(penalty)
        coef_s, rank, method = _solve_psd(a, b, col_scale=sx)
        with np.errstate(over="ignore", invalid="ignore"):
            coef = coef_s / sx[:, None] * sy[None, :]
            if fit_intercept:
                intercept = (mean_y * sy + self.shift_y) - (mean_x * sx + self.shift_x) @ coef
            else:
                intercept = np.zeros(self.n_outputs)
        if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
            raise ValueError(
                "The least-squares solution is not representable in float64 (its "
                "coefficients overflow): the targets are too large for the features' "
                "scale. Standardise X and y (e.g. with StandardScaler and "
                "TransformedTargetRegressor)."
            )
        lost = (coef_s != 0) & (np.abs(coef) < np.finfo(np.float64).tiny)
        if np.any(lost):
            raise ValueError(
                "The least-squares solution is not representable in float64 (its "
                "coefficients underflow below 2.2e-308): the targets are too small "
                "for the features' scale. Standardise X and y (e.g. with "
                "StandardScaler and TransformedTargetRegressor)."
            )
        return NormalEquationsSolution(coef, intercept, rank, self.n, method)


def _mean(a, w):
    """Column means that cannot overflow (values are halved before summing)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = np.average(a * 0.5, axis=0, weights=w) * 2.0
    if not np.all(np.isfinite(mean)):
        mean = np.zeros(a.shape[1])
    return mean


def _check_representable(d, name):
    if not np.all(np.isfinite(d)):
        raise ValueError(
            f"Input {name} has values whose differences overflow float64 (the range "
            "of a column exceeds about 1.8e308); rescale the data."
        )


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


def _solve_psd(a, b, col_scale=None):
    """Solve the symmetric positive semi-definite system ``a z = b`` stably.

    Cholesky on the Jacobi-scaled matrix when it has full numerical rank;
    otherwise least squares (``lstsq``, SVD) with a warning, returning the
    ``z`` for which ``z / col_scale`` (the coefficients in the data's own
    units) has the smallest norm. Never an explicit inverse, and never a raw
    ``LinAlgError``.
    """
    p = a.shape[0]
    d = np.sqrt(np.clip(np.diag(a), 0.0, None))
    d[(d == 0) | ~np.isfinite(d)] = 1.0
    scaled = a / np.outer(d, d)
    if not (np.all(np.isfinite(scaled)) and np.all(np.isfinite(b))):
        raise ValueError(
            "The normal equations are not finite (the data overflow float64 even "
            "after scaling); rescale X and y."
        )
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
        stacklevel=4,
    )
    # z = S v: the minimum-norm v of (ã Q) v = D⁻¹b, Q = D S, is the
    # minimum-norm answer in the data's units; Q is normalised to stay in range.
    s = np.ones(p) if col_scale is None else np.asarray(col_scale, np.float64)
    q = d * s
    q = q / q.max()
    v, *_ = np.linalg.lstsq(scaled * q[None, :], b / d[:, None], rcond=RANK_RTOL)
    return v * (q / d)[:, None], rank, "lstsq"


def find_linear_layer(model):
    """The one :class:`tfzoo.layers.Linear` of a purely linear model (or the layer itself)."""
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
        if x.shape[0] > chunk_rows:
            # The scale comes from the first chunk: take it from all rows instead.
            stats.shift_x = _mean(np.asarray(x, np.float64), None) if center else None
            stats.shift_y = _mean(np.asarray(y, np.float64), None) if center else None
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
