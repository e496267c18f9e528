"""The seed's perceptron as a model builder."""

from __future__ import annotations

import keras

from tfzoo._validation import check_int
from tfzoo.layers.perceptron import Perceptron


def build_perceptron(
    n_features,
    hidden_units=2,
    hidden_activation="tanh",
    output_activation="sigmoid",
    n_outputs=1,
    name=None,
):
    """Build ``ŷ = sigmoid(W₂·tanh(xᵀW₁ + b₁) + b₂)`` (uncompiled).

    For ``n_features=3`` and the defaults the parameters have the seed's
    shapes: ``W1`` 3x2, ``b1`` 2, ``W2`` 2x1, ``b2`` 1, 11 in all.

    Args:
        n_features: inputs per sample.
        hidden_units: width of the hidden layer.
        hidden_activation: hidden activation (default ``"tanh"``).
        output_activation: output activation (``"sigmoid"`` for one or several
            independent binary outputs, ``"softmax"`` for classes, ``"linear"``
            for regression).
        n_outputs: outputs per sample.
        name: model name (default ``"perceptron"``).

    Returns:
        A functional ``keras.Model`` ``(batch, n_features) -> (batch, n_outputs)``.
        Train it with mean squared error (the seed's cost) or, better for
        classification, binary/categorical cross-entropy.
    """
    n_features = check_int(n_features, "n_features")
    inputs = keras.Input(shape=(n_features,), name="x")
    outputs = Perceptron(
        hidden_units=hidden_units,
        units=n_outputs,
        hidden_activation=hidden_activation,
        output_activation=output_activation,
        name="perceptron",
    )(inputs)
    return keras.Model(inputs, outputs, name=name or "perceptron")
