"""The seed's small CNN."""

from __future__ import annotations

import keras

from tfzoo._validation import check_int
from tfzoo.layers.conv_block import ConvBlock

#: Weights of the seed's table without biases, layer by layer (5x5x1x16,
#: 5x5x16x8, 4x4x8x12, 588x200, 200x10), and the total with biases.
SEED_WEIGHTS = (400, 3200, 1536, 117600, 2000)
SEED_PARAMS = 124_982


def build_small_cnn(
    input_shape=(28, 28, 1),
    num_classes=10,
    filters=(16, 8, 12),
    kernel_sizes=(5, 5, 4),
    strides=(1, 2, 2),
    dense_units=200,
    activation="relu",
    batch_norm=False,
    dropout=0.0,
    name=None,
):
    """Build the seed's small CNN (uncompiled), softmax over ``num_classes``.

    Defaults are the seed's table:

    ======  ========  ========  ======  ======  =======
    layer   input     output    filter  stride  filters
    ======  ========  ========  ======  ======  =======
    conv1   28x28x1   28x28x16  5x5     1       16
    conv2   28x28x16  14x14x8   5x5     2       8
    conv3   14x14x8   7x7x12    4x4     2       12
    fc      588       200
    output  200       10 (softmax)
    ======  ========  ========  ======  ======  =======

    The seed's printed table has two typos: conv1's output is 28x28x16 (it
    prints 28x28x9) and conv2 has 5·5·16·8 = 3,200 weights (it prints 3600).
    Weights: 400 + 3,200 + 1,536 + 117,600 + 2,000 = 124,736; with the
    16 + 8 + 12 + 200 + 10 biases, 124,982 parameters.

    Convolutions use ``"same"`` padding, so any input size works
    (``ceil(size / stride)`` per layer): 8x8 digits give 8 → 8 → 4 → 2.

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: softmax outputs.
        filters, kernel_sizes, strides: per convolution (three by default).
        dense_units: width of the fully connected layer.
        activation: activation of the conv and dense layers.
        batch_norm: batch normalisation in each conv block.
        dropout: dropout rate after the dense layer (0 = none).
        name: model name (default ``"small_cnn"``).
    """
    if not (len(filters) == len(kernel_sizes) == len(strides)):
        raise ValueError(
            "filters, kernel_sizes and strides need one entry per convolution, got "
            f"{len(filters)}, {len(kernel_sizes)} and {len(strides)}"
        )
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, (f, k, s) in enumerate(zip(filters, kernel_sizes, strides), start=1):
        x = ConvBlock(
            f, k, strides=s, activation=activation, batch_norm=batch_norm, name=f"conv{i}"
        )(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation=activation, name="fc")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=name or "small_cnn")
