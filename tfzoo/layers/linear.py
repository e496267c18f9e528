"""The linear model y = θᵀx as a layer."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfzoo._saving import serializable
from tfzoo._validation import check_int


@serializable
class Linear(keras.layers.Layer):
    """Linear map ``y = x W + b``, the seed's ``ŷ = θᵀx`` with ``x = [1, x₁ … xₙ]``.

    ``keras.layers.Dense`` computes the same thing; this layer exists for what
    Dense does not give: the parameter vector of the seed in one piece
    (``theta``, intercept first, shape ``(n_features + 1, units)``), a setter
    that writes a closed-form solution back (``set_theta``), and the
    intercept switch named as in scikit-learn (``fit_intercept``). There is no
    activation: a linear model is linear.

    Args:
        units: number of outputs.
        fit_intercept: learn the intercept ``b`` (the θ₀ of ``x₀ = 1``).
        kernel_initializer: initializer of ``W``.
        bias_initializer: initializer of ``b``.
        kernel_regularizer: optional regularizer of ``W`` (e.g. ``keras.regularizers.L2``
            for ridge regression by gradient descent).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Input shape:
        ``(..., n_features)``.

    Output shape:
        ``(..., units)``.

    Example:
        >>> layer = Linear(1)
        >>> y = layer(np.ones((4, 3), "float32"))
        >>> layer.theta.shape
        TensorShape([4, 1])
    """

    def __init__(
        self,
        units=1,
        fit_intercept=True,
        kernel_initializer="zeros",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = check_int(units, "units")
        self.units = int(units)
        self.fit_intercept = bool(fit_intercept)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.layers.InputSpec(min_ndim=1)

    def build(self, input_shape):
        n_features = input_shape[-1]
        if n_features is None:
            raise ValueError("Linear needs a known last dimension (n_features).")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(n_features, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        if self.fit_intercept:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(min_ndim=1, axes={-1: n_features})

    def call(self, inputs):
        if keras.backend.backend() == "torch" and self.compute_dtype == "float64":
            # Keras's type promotion maps float64 to float32 off TensorFlow (to
            # match JAX without x64), and its torch matmul casts to that: a float64
            # layer would multiply in float32. torch itself multiplies in float64.
            import torch

            outputs = torch.matmul(ops.convert_to_tensor(inputs, "float64"), self.kernel.value)
            return outputs if self.bias is None else outputs + self.bias.value
        outputs = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    @property
    def theta(self):
        """θ of the seed: ``[b; W]``, shape ``(n_features + 1, units)``.

        Without an intercept the first row is zero.
        """
        bias = self.bias if self.bias is not None else ops.zeros((self.units,))
        return ops.concatenate(
            [ops.expand_dims(ops.convert_to_tensor(bias), 0), self.kernel], axis=0
        )

    def set_theta(self, coef, intercept=None):
        """Write ``W`` (``(n_features, units)``) and ``b`` into the layer.

        Raises ``ValueError`` when the values do not fit the weights' dtype
        (a float32 layer cannot hold a coefficient of 1e40): build the
        layer with ``dtype="float64"`` for such solutions.
        """
        values = [("coef", coef, self.kernel)]
        if self.bias is not None:
            if intercept is None:
                raise ValueError("this Linear layer fits an intercept: pass one")
            values.append(("intercept", intercept, self.bias))
        for name, value, variable in values:
            value = np.asarray(value, dtype=np.float64)
            cast = value.astype(variable.dtype)
            if np.all(np.isfinite(value)) and not np.all(np.isfinite(cast)):
                raise ValueError(
                    f"The {name} of this solution (largest magnitude "
                    f"{np.abs(value).max():.3g}) overflows the layer's {variable.dtype} "
                    "weights; build the model with dtype='float64' or rescale the data."
                )
        for _, value, variable in values:
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "fit_intercept": self.fit_intercept,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
