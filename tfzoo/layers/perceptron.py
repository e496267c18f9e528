"""The seed's perceptron: one hidden layer and an output layer, as one layer."""

from __future__ import annotations

import keras
from keras import ops

from tfzoo._saving import serializable
from tfzoo._validation import check_int


@serializable
class Perceptron(keras.layers.Layer):
    """``ŷ = output_activation(hidden_activation(x W₁ + b₁) W₂ + b₂)``.

    With the defaults this is the seed's ``ŷ = sigmoid(W₂·tanh(xᵀW₁ + b₁) + b₂)``.
    The four parameters keep the seed's names and shapes: ``W1``
    ``(n_features, hidden_units)``, ``b1`` ``(hidden_units,)``, ``W2``
    ``(hidden_units, units)``, ``b2`` ``(units,)``.

    Args:
        hidden_units: width of the hidden layer.
        units: number of outputs.
        hidden_activation: activation of the hidden layer (any Keras activation).
        output_activation: activation of the output (``"sigmoid"``, ``"softmax"``,
            ``"linear"`` for regression, ...).
        kernel_initializer: initializer of ``W1`` and ``W2``.
        bias_initializer: initializer of ``b1`` and ``b2``.
        **kwargs: base layer arguments.

    Input shape:
        ``(..., n_features)``.

    Output shape:
        ``(..., units)``.

    Example:
        >>> layer = Perceptron(hidden_units=2)
        >>> layer(np.zeros((5, 3), "float32")).shape
        TensorShape([5, 1])
    """

    def __init__(
        self,
        hidden_units=2,
        units=1,
        hidden_activation="tanh",
        output_activation="sigmoid",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        hidden_units = check_int(hidden_units, "hidden_units")
        units = check_int(units, "units")
        self.hidden_units = int(hidden_units)
        self.units = int(units)
        self.hidden_activation = keras.activations.get(hidden_activation)
        self.output_activation = keras.activations.get(output_activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(min_ndim=1)

    def build(self, input_shape):
        n_features = input_shape[-1]
        if n_features is None:
            raise ValueError("Perceptron needs a known last dimension (n_features).")
        self.W1 = self.add_weight(
            name="W1",
            shape=(n_features, self.hidden_units),
            initializer=self.kernel_initializer,
        )
        self.b1 = self.add_weight(
            name="b1", shape=(self.hidden_units,), initializer=self.bias_initializer
        )
        self.W2 = self.add_weight(
            name="W2",
            shape=(self.hidden_units, self.units),
            initializer=self.kernel_initializer,
        )
        self.b2 = self.add_weight(name="b2", shape=(self.units,), initializer=self.bias_initializer)
        self.input_spec = keras.layers.InputSpec(min_ndim=1, axes={-1: n_features})

    def hidden(self, inputs):
        """The hidden layer's output ``hidden_activation(x W₁ + b₁)``."""
        return self.hidden_activation(ops.matmul(inputs, self.W1) + self.b1)

    def logits(self, inputs):
        """The output before its activation, ``h W₂ + b₂``."""
        return ops.matmul(self.hidden(inputs), self.W2) + self.b2

    def call(self, inputs):
        return self.output_activation(self.logits(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "units": self.units,
            "hidden_activation": keras.activations.serialize(self.hidden_activation),
            "output_activation": keras.activations.serialize(self.output_activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
