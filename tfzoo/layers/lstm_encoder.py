"""A stack of LSTM layers as one layer."""

from __future__ import annotations

import keras

from tfzoo._saving import serializable
from tfzoo._validation import check_int
from tfzoo.layers.fused_lstm import FusedLSTM


@serializable
class LSTMEncoder(keras.layers.Layer):
    """``num_layers`` stacked LSTMs; returns the last state or the whole sequence.

    Each LSTM is a :class:`FusedLSTM`: Keras's LSTM with the same weights and
    outputs, trained faster on a CPU (falls back on Keras's loop for masks).

    Args:
        units: width of each LSTM (per direction).
        num_layers: how many LSTMs are stacked.
        dropout: dropout on each LSTM's inputs (Keras ``dropout``).
        bidirectional: wrap each LSTM in ``Bidirectional`` (outputs ``2*units``).
        return_sequences: return every step of the last LSTM, not just the last.
        seed: optional seed of the dropout masks.
        **kwargs: base layer arguments.

    Masking: a mask on the input (e.g. from ``keras.layers.Masking`` or an
    ``Embedding`` with ``mask_zero=True``) reaches every LSTM, so masked steps
    (padding) are skipped, not read as data; with ``return_sequences`` the
    mask is passed on.

    Input shape:
        ``(batch, steps, features)``.

    Output shape:
        ``(batch, units')`` or, with ``return_sequences``, ``(batch, steps, units')``,
        where ``units' = units * (2 if bidirectional else 1)``.

    Example:
        >>> LSTMEncoder(32, num_layers=2)(np.zeros((4, 10, 3), "float32")).shape
        TensorShape([4, 32])
    """

    def __init__(
        self,
        units=64,
        num_layers=1,
        dropout=0.0,
        bidirectional=False,
        return_sequences=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = check_int(units, "units")
        num_layers = check_int(num_layers, "num_layers")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.return_sequences = bool(return_sequences)
        self.seed = seed
        self.supports_masking = True
        self.lstms = []
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            lstm = FusedLSTM(
                self.units,
                return_sequences=self.return_sequences or not last,
                dropout=self.dropout,
                seed=None if seed is None else seed + i,
                dtype=self.dtype_policy,
                name=f"lstm_{i}",
            )
            if self.bidirectional:
                lstm = keras.layers.Bidirectional(lstm, dtype=self.dtype_policy, name=f"bilstm_{i}")
            self.lstms.append(lstm)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for lstm in self.lstms:
            lstm.build(shape)
            shape = lstm.compute_output_shape(shape)

    def call(self, inputs, training=None, mask=None):
        x = inputs
        for lstm in self.lstms:
            x = lstm(x, training=training, mask=mask)
        return x

    def compute_mask(self, inputs, mask=None):
        # the steps stay the steps with return_sequences; a last state has no steps
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for lstm in self.lstms:
            shape = lstm.compute_output_shape(shape)
        return shape

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "bidirectional": self.bidirectional,
            "return_sequences": self.return_sequences,
            "seed": self.seed,
        }
