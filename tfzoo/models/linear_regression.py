"""Linear regression: the builder, and writing a closed-form solution into it.

The solver itself (running sums, shift and scale, the Cholesky solve) is
:mod:`tfzoo.solvers.normal_equations`; this module builds the model and
connects the two.
"""

from __future__ import annotations

import keras
import numpy as np

from tfzoo._validation import check_int
from tfzoo.layers.linear import Linear
from tfzoo.solvers.normal_equations import (  # noqa: F401 - public names kept here too
    NormalEquationsSolution,
    NormalEquationStats,
    RankDeficientWarning,
    find_linear_layer,
    normal_equation_stats,
)


def build_linear_regression(
    n_features, n_outputs=1, fit_intercept=True, kernel_regularizer=None, name=None, dtype=None
):
    """Build the linear-regression model ``ŷ = θᵀx`` (uncompiled).

    Args:
        n_features: number of input features ``n``.
        n_outputs: number of targets.
        fit_intercept: learn ``θ₀`` (the weight of ``x₀ = 1``).
        kernel_regularizer: optional regularizer of ``W`` for gradient descent
            (``keras.regularizers.L2(l2 / n_samples)`` is ridge regression).
        name: model name (default ``"linear_regression"``).
        dtype: dtype of the weights and the computation (default: Keras's
            float type, float32). ``"float64"`` holds a closed-form solution
            without rounding it, which matters for features far from the
            origin or of extreme scale. On Keras's JAX backend float64 needs
            ``JAX_ENABLE_X64=1`` (else JAX keeps float32, with a warning).

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
    inputs = keras.Input(shape=(n_features,), name="x", dtype=dtype)
    outputs = Linear(
        n_outputs,
        fit_intercept=fit_intercept,
        kernel_regularizer=kernel_regularizer,
        name="linear",
        dtype=dtype,
    )(inputs)
    return keras.Model(inputs, outputs, name=name or "linear_regression")


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
            batched here), the sums are all-reduced, one solve follows. On
            Keras's JAX backend a name that resolves to a ``keras.distribution``
            over several devices (``"auto"`` with several devices, see
            :func:`tfzoo.distribute.get_distribution`) shards the rows over its
            devices instead (``x`` arrays, or a re-iterable of ``(x, y)``
            batches): each sums its shard, the sums are all-reduced (``psum``),
            one solve follows. With the one-device strategy (``"default"``,
            PyTorch's ``"auto"``) the sums are computed here.

    Returns:
        A :class:`NormalEquationsSolution` (float64 ``coef``, ``intercept``,
        ``theta``, ``rank``); the model's weights hold it in their own dtype
        (build the model with ``dtype="float64"`` to keep every digit; a
        solution that the weights' dtype cannot hold raises ``ValueError``).
    """
    layer = find_linear_layer(model)
    if not layer.built:
        raise ValueError("the Linear layer is not built yet: call the model once")
    if strategy is not None:
        from tfzoo.distribute import DefaultStrategy, get_strategy
        from tfzoo.distribute.strategy import is_keras_distribution

        strategy = get_strategy(strategy)
        if is_keras_distribution(strategy):
            from tfzoo.distribute.normal_equations import fit_normal_equations_sharded

            return fit_normal_equations_sharded(model, x, y, strategy.distribution, l2=l2)
    if strategy is not None and not isinstance(strategy, DefaultStrategy):
        import tensorflow as tf

        from tfzoo.distribute.normal_equations import fit_normal_equations_distributed

        if y is not None:
            x = tf.data.Dataset.from_tensor_slices((np.asarray(x), np.asarray(y))).batch(1024)
        return fit_normal_equations_distributed(model, x, strategy, l2=l2)
    n_features, n_outputs = layer.kernel.shape
    stats = normal_equation_stats(
        x, y, n_features=n_features, n_outputs=n_outputs, center=layer.fit_intercept
    )
    solution = stats.solve(l2=l2, fit_intercept=layer.fit_intercept)
    layer.set_theta(solution.coef, solution.intercept if layer.fit_intercept else None)
    return solution
