"""A convolution block: conv, optional batch norm, activation, pooling, dropout."""

from __future__ import annotations

import keras

from tfzoo._saving import serializable
from tfzoo._validation import check_int


@serializable
class ConvBlock(keras.layers.Layer):
    """``Conv2D → [BatchNorm] → activation → [MaxPool] → [Dropout]``.

    Args:
        filters: output channels.
        kernel_size: int or pair.
        strides: int or pair (the seed's CNN uses 1, 2, 2).
        padding: ``"same"`` (default) or ``"valid"``.
        activation: any Keras activation (``"relu"``).
        batch_norm: add batch normalisation between conv and activation (the
            conv then has no bias).
        pool_size: optional max-pooling window after the activation.
        dropout: dropout rate after everything else (0 = none).
        seed: optional seed of the dropout.
        **kwargs: base layer arguments.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, height', width', filters)``; with ``"same"`` padding
        ``height' = ceil(height / stride)`` (then ``/ pool_size``).

    Example:
        >>> ConvBlock(16, 5)(np.zeros((2, 28, 28, 1), "float32")).shape
        TensorShape([2, 28, 28, 16])
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        activation="relu",
        batch_norm=False,
        pool_size=None,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        filters = check_int(filters, "filters")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.filters = int(filters)
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.batch_norm = bool(batch_norm)
        self.pool_size = pool_size
        self.dropout = float(dropout)
        self.seed = seed
        self.conv = keras.layers.Conv2D(
            self.filters,
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=not self.batch_norm,
            dtype=self.dtype_policy,
            name="conv",
        )
        self.norm = (
            keras.layers.BatchNormalization(dtype=self.dtype_policy, name="norm")
            if self.batch_norm
            else None
        )
        self.pool = (
            keras.layers.MaxPooling2D(pool_size, padding="same", dtype=self.dtype_policy)
            if pool_size
            else None
        )
        self.drop = (
            keras.layers.Dropout(self.dropout, seed=seed, dtype=self.dtype_policy)
            if self.dropout
            else None
        )

    def build(self, input_shape):
        self.conv.build(input_shape)
        shape = self.conv.compute_output_shape(input_shape)
        if self.norm is not None:
            self.norm.build(shape)
        if self.pool is not None:
            self.pool.build(shape)

    def call(self, inputs, training=None):
        x = self.conv(inputs)
        if self.norm is not None:
            x = self.norm(x, training=training)
        x = self.activation(x)
        if self.pool is not None:
            x = self.pool(x)
        if self.drop is not None:
            x = self.drop(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = self.conv.compute_output_shape(input_shape)
        if self.pool is not None:
            shape = self.pool.compute_output_shape(shape)
        return shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": keras.activations.serialize(self.activation),
            "batch_norm": self.batch_norm,
            "pool_size": self.pool_size,
            "dropout": self.dropout,
            "seed": self.seed,
        }
