"""Data-parallel closed-form linear regression.

Each replica (and each worker) sums its own shard; the sums are all-reduced
and one solve follows. Two passes over the data keep the float64 sums exact
for data far from the origin and of any magnitude: pass 1 all-reduces ``n``,
``Σx``, ``Σy`` (the global means) and ``Σ|x|``, ``Σ|y|`` (a power-of-two
scale per column), pass 2 the centred and scaled ``Σuuᵀ`` and ``Σuvᵀ`` with
``u = (x-μ)/s``, ``v = (y-ν)/t``, as :class:`NormalEquationStats` keeps them.
"""

from __future__ import annotations

import numpy as np

from tfzoo._backend import require_tensorflow_backend
from tfzoo._backend import tensorflow as tf
from tfzoo.solvers.normal_equations import (
    NormalEquationStats,
    find_linear_layer,
    power_of_two_scale,
)


def _as_xy(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError(f"the dataset must yield (x, y) batches, got {type(batch).__name__}")
    x = tf.cast(batch[0], tf.float64)
    y = tf.cast(batch[1], tf.float64)
    if y.shape.rank == 1:
        y = y[:, None]
    return x, y


def distributed_normal_equation_stats(dataset, strategy, n_features, n_outputs, center=True):
    """All-reduced :class:`NormalEquationStats` of a dataset of ``(x, y)`` batches.

    ``dataset`` is a ``tf.data.Dataset`` of *global* batches; the strategy
    splits each batch across its replicas (``experimental_distribute_dataset``).
    """
    require_tensorflow_backend("fit_normal_equations(..., strategy=...) (tf.distribute)")
    dist = strategy.experimental_distribute_dataset(dataset)
    sum_ = tf.distribute.ReduceOp.SUM

    @tf.function
    def first_moments(batch):
        x, y = _as_xy(batch)
        n = tf.cast(tf.shape(x)[0], tf.float64)
        # Halved so that sums of values near float64's limit stay finite.
        return (
            n,
            tf.reduce_sum(x * 0.5, 0),
            tf.reduce_sum(y * 0.5, 0),
            tf.reduce_sum(tf.abs(x) * 0.5, 0),
            tf.reduce_sum(tf.abs(y) * 0.5, 0),
        )

    n = 0.0
    sx, ax = np.zeros(n_features), np.zeros(n_features)
    sy, ay = np.zeros(n_outputs), np.zeros(n_outputs)
    for batch in dist:
        parts = strategy.run(first_moments, args=(batch,))
        bn, bx, by, bax, bay = (strategy.reduce(sum_, p, axis=None).numpy() for p in parts)
        n, sx, sy, ax, ay = n + bn, sx + bx, sy + by, ax + bax, ay + bay
    if n == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    if center:
        mx, my = sx / n * 2.0, sy / n * 2.0
    else:
        mx, my = np.zeros(n_features), np.zeros(n_outputs)
    scale_x = power_of_two_scale(ax / n * 2.0)
    scale_y = power_of_two_scale(ay / n * 2.0)
    shift_x, shift_y = tf.constant(mx), tf.constant(my)
    inv_x, inv_y = tf.constant(1.0 / scale_x), tf.constant(1.0 / scale_y)

    @tf.function
    def second_moments(batch):
        x, y = _as_xy(batch)
        xc, yc = (x - shift_x) * inv_x, (y - shift_y) * inv_y
        n = tf.cast(tf.shape(x)[0], tf.float64)
        return (
            n,
            tf.reduce_sum(xc, 0),
            tf.reduce_sum(yc, 0),
            tf.matmul(xc, xc, transpose_a=True),
            tf.matmul(xc, yc, transpose_a=True),
        )

    stats = NormalEquationStats(
        n_features,
        n_outputs,
        shift_x=mx,
        shift_y=my,
        center=center,
        scale_x=scale_x,
        scale_y=scale_y,
    )
    for batch in dist:
        parts = strategy.run(second_moments, args=(batch,))
        bn, bx, by, bxx, bxy = (strategy.reduce(sum_, p, axis=None).numpy() for p in parts)
        stats.n += bn
        stats.sum_x += bx
        stats.sum_y += by
        stats.sxx += bxx
        stats.sxy += bxy
    if stats.n == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    return stats


def fit_normal_equations_distributed(model, dataset, strategy, l2=0.0):
    """:func:`tfzoo.models.fit_normal_equations` with the sums all-reduced by ``strategy``."""
    layer = find_linear_layer(model)
    n_features, n_outputs = layer.kernel.shape
    stats = distributed_normal_equation_stats(
        dataset, strategy, n_features, n_outputs, center=layer.fit_intercept
    )
    solution = stats.solve(l2=l2, fit_intercept=layer.fit_intercept)
    layer.set_theta(solution.coef, solution.intercept if layer.fit_intercept else None)
    return solution
