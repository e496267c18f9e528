"""Data-parallel closed-form linear regression.

Each replica (and each worker) sums its own shard; the sums are all-reduced
and one solve follows. Two passes over the data keep the float64 sums exact
for data far from the origin and of any magnitude: pass 1 all-reduces ``n``,
``Σx``, ``Σy`` (the global means) and ``Σ|x|``, ``Σ|y|`` (a power-of-two
scale per column), pass 2 the centred and scaled ``Σuuᵀ`` and ``Σuvᵀ`` with
``u = (x-μ)/s``, ``v = (y-ν)/t``, as :class:`NormalEquationStats` keeps them.

On TensorFlow the replicas are a ``tf.distribute`` strategy's; on Keras's JAX
backend they are the devices of a ``keras.distribution`` distribution's batch
axis (:func:`sharded_normal_equation_stats`): every batch is placed over them
(``jax.sharding``), each device sums its rows (``jax.shard_map``) and the sums
are all-reduced (``psum``), in float64.
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


def _zero_moments(n_features, n_outputs):
    """Pass 1's running totals ``[n, Σx/2, Σy/2, Σ|x|/2, Σ|y|/2]``, all zero."""
    return [
        0.0,
        np.zeros(n_features),
        np.zeros(n_outputs),
        np.zeros(n_features),
        np.zeros(n_outputs),
    ]


def _shifts_and_scales(totals, center):
    """``(n, μx, μy, sx, sy)`` from pass 1's all-reduced (halved) totals."""
    n, sx, sy, ax, ay = totals
    if n == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    if center:
        mx, my = sx / n * 2.0, sy / n * 2.0
    else:
        mx, my = np.zeros_like(sx), np.zeros_like(sy)
    return n, mx, my, power_of_two_scale(ax / n * 2.0), power_of_two_scale(ay / n * 2.0)


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

    totals = _zero_moments(n_features, n_outputs)
    for batch in dist:
        parts = strategy.run(first_moments, args=(batch,))
        batch_totals = (strategy.reduce(sum_, p, axis=None).numpy() for p in parts)
        totals = [t + b for t, b in zip(totals, batch_totals)]
    n, mx, my, scale_x, scale_y = _shifts_and_scales(totals, center)
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


def _array_batches(x, y, rows):
    """``(x, y)`` arrays as a list of batches of ``rows`` rows (re-iterable)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{x.shape[0]}, {y.shape[0]}]"
        )
    return [(x[i : i + rows], y[i : i + rows]) for i in range(0, max(1, x.shape[0]), rows)]


def sharded_normal_equation_stats(batches, distribution, n_features, n_outputs, center=True):
    """All-reduced :class:`NormalEquationStats` of ``(x, y)`` batches over a JAX device mesh.

    ``batches`` is a re-iterable of *global* batches (NumPy arrays; two passes
    read it); each is padded to a multiple of the batch axis's devices with
    rows of weight 0, placed over them (``NamedSharding``), summed on each
    device and all-reduced. Keras's JAX backend only.
    """
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    axis = distribution.batch_dim_name
    mesh = distribution.device_mesh.backend_mesh
    devices = int(mesh.shape[axis])
    rows = NamedSharding(mesh, P(axis))

    def placed(batch):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(f"the batches must be (x, y) pairs, got {type(batch).__name__}")
        x = np.asarray(batch[0], dtype=np.float64)
        y = np.asarray(batch[1], dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        _check_batch_shapes(x, y, n_features, n_outputs)
        n = x.shape[0]
        pad = -n % devices
        w = np.concatenate([np.ones(n), np.zeros(pad)])
        x = np.concatenate([x, np.zeros((pad, n_features))])
        y = np.concatenate([y, np.zeros((pad, n_outputs))])
        return n, tuple(jax.device_put(a, rows) for a in (x, y, w))

    def all_reduced(local):
        # each device sums its rows; psum adds the devices' sums (replicated result)
        def per_device(*args):
            return jax.tree.map(lambda a: jax.lax.psum(a, axis), local(*args))

        return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=P(axis), out_specs=P()))

    @all_reduced
    def first_moments(x, y, w):
        # Halved so that sums of values near float64's limit stay finite.
        wx, wy = x * (0.5 * w[:, None]), y * (0.5 * w[:, None])
        return (
            jnp.sum(w),
            jnp.sum(wx, 0),
            jnp.sum(wy, 0),
            jnp.sum(jnp.abs(wx), 0),
            jnp.sum(jnp.abs(wy), 0),
        )

    with jax.enable_x64(True):
        totals = _zero_moments(n_features, n_outputs)
        seen = 0
        for batch in batches:
            count, args = placed(batch)
            seen += count
            totals = [t + np.asarray(b) for t, b in zip(totals, first_moments(*args))]
        n, mx, my, scale_x, scale_y = _shifts_and_scales(totals, center)
        moved = (
            jnp.asarray(mx),
            jnp.asarray(my),
            jnp.asarray(1 / scale_x),
            jnp.asarray(1 / scale_y),
        )

        @all_reduced
        def second_moments(x, y, w):
            shift_x, shift_y, inv_x, inv_y = moved
            xc, yc = (x - shift_x) * inv_x, (y - shift_y) * inv_y
            wxc = xc * w[:, None]
            return jnp.sum(w), jnp.sum(wxc, 0), jnp.sum(yc * w[:, None], 0), wxc.T @ xc, wxc.T @ yc

        stats = NormalEquationStats(
            n_features,
            n_outputs,
            shift_x=mx,
            shift_y=my,
            center=center,
            scale_x=scale_x,
            scale_y=scale_y,
        )
        again = 0
        for batch in batches:
            count, args = placed(batch)
            again += count
            bn, bx, by, bxx, bxy = (np.asarray(p) for p in second_moments(*args))
            stats.n += bn
            stats.sum_x += bx
            stats.sum_y += by
            stats.sxx += bxx
            stats.sxy += bxy
    if again != seen:
        raise ValueError(
            f"the batches must be re-iterable (two passes read them): the first pass saw "
            f"{seen} rows, the second {again}. Pass arrays, a list or a re-iterable dataset."
        )
    return stats


def _check_batch_shapes(x, y, n_features, n_outputs):
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(
            f"X has shape {x.shape}, but the model is expecting {n_features} features as input."
        )
    if y.ndim != 2 or y.shape[1] != n_outputs or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y has shape {y.shape}, but X has {x.shape[0]} rows and the model "
            f"{n_outputs} output(s)."
        )
    for name, arr in (("X", x), ("y", y)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"Input {name} contains NaN or infinity.")


def fit_normal_equations_sharded(model, x, y, distribution, l2=0.0, batch_rows=1024):
    """:func:`tfzoo.models.fit_normal_equations` with the sums all-reduced over a JAX mesh.

    ``x`` and ``y`` are arrays (batched here, ``batch_rows`` rows a batch rounded
    to a multiple of the devices), or ``x`` is a re-iterable of ``(x, y)``
    batches and ``y`` is None.
    """
    layer = find_linear_layer(model)
    n_features, n_outputs = layer.kernel.shape
    if y is not None:
        devices = distribution.device_mesh.backend_mesh.shape[distribution.batch_dim_name]
        x = _array_batches(x, y, max(devices, batch_rows // devices * devices))
    stats = sharded_normal_equation_stats(
        x, distribution, n_features, n_outputs, center=layer.fit_intercept
    )
    solution = stats.solve(l2=l2, fit_intercept=layer.fit_intercept)
    layer.set_theta(solution.coef, solution.intercept if layer.fit_intercept else None)
    return solution


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
