"""Defaults that serve small data (issue #14 item 6).

The digits target (>= 0.97 with the defaults) is
``tests/estimators/test_cnn_lstm.py::test_cnn_on_digits_reaches_097``.

``CNNClassifier()`` used to train 10 epochs at batch 128 without dropout,
which on scikit-learn's digits (1,347 training images) is 110 steps: 0.944
test accuracy over three splits. ``TextGenerator()`` used a 384-unit LSTM
whatever the text's length. The figures on MNIST 8,000 / 2,000 and a
40,000-character text are in ``benchmarks/small_data.py``.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from tfzoo import CNNClassifier, TextGenerator
from tfzoo.estimators.lstm import auto_char_rnn_units

TINY = dict(filters=(2, 2, 2), dense_units=4)


def test_auto_epochs_is_a_step_budget_with_at_least_ten_epochs():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    small = CNNClassifier(batch_size=20, random_state=0, **TINY).fit(rng.random((40, 4, 4)), y)
    assert small.n_iter_ == 1000  # 2 steps per epoch -> 2,000 steps
    big = CNNClassifier(batch_size=2, random_state=0, **TINY)
    assert big._auto_epochs(np.zeros((20_000, 4, 4))) == 10  # 10,000 steps per epoch
    held = CNNClassifier(batch_size=20, early_stopping=True, validation_fraction=0.5)
    assert held._auto_epochs(np.zeros((80, 4, 4))) == 1000  # steps on the 40 training rows
    explicit = CNNClassifier(epochs=3, random_state=0, **TINY).fit(rng.random((40, 4, 4)), y)
    assert explicit.n_iter_ == 3


class _RateLog(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.rates = []

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_cosine_schedule_anneals_each_fit_and_restores_the_rate():
    rng = np.random.default_rng(0)
    X, y = rng.random((32, 4, 4)), np.arange(32) % 2
    log = _RateLog()
    clf = CNNClassifier(epochs=4, learning_rate=0.01, callbacks=[log], random_state=0, **TINY)
    clf.fit(X, y)
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    np.testing.assert_allclose(log.rates, expected, rtol=1e-6)
    rate = clf.model_.optimizer.learning_rate
    assert float(keras.ops.convert_to_numpy(rate)) == np.float32(0.01)
    # partial_fit is one epoch at the full rate; "constant" never changes it
    clf.partial_fit(X, y)
    assert log.rates == [np.float32(0.01)]
    flat = CNNClassifier(epochs=3, learning_rate=0.01, lr_schedule="constant", callbacks=[log])
    flat.set_params(**TINY).fit(X, y)
    assert log.rates == [np.float32(0.01)] * 3


def test_cosine_schedule_leaves_an_optimizers_own_schedule_alone():
    rng = np.random.default_rng(0)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    clf = CNNClassifier(
        epochs=2, optimizer=keras.optimizers.Adam(schedule), learning_rate=None, **TINY
    )
    clf.fit(rng.random((16, 4, 4)), np.arange(16) % 2)
    lr = clf.model_.optimizer._learning_rate
    assert isinstance(lr, keras.optimizers.schedules.ExponentialDecay)


def test_text_generator_sizes_itself_from_the_text():
    assert [auto_char_rnn_units(n) for n in (40_000, 99_999, 100_000, 499_999, 1_100_000)] == [
        128,
        128,
        256,
        256,
        384,
    ]
    text = "the quick brown fox jumps over the lazy dog. " * 30
    gen = TextGenerator(sequence_length=20, batch_size=64, random_state=0)
    # 1,215 training characters: 59 windows of 20, one batch of 59 per epoch
    assert gen._epochs_for(1215) == 1000
    assert gen.set_params(epochs=1).fit(text).units_ == 128
    assert gen.n_iter_ == 1 and len(gen.history_["loss"]) == 1
    assert _lstm_widths(gen.model_) == [128]
    own = TextGenerator(sequence_length=20, epochs=1, units=16, random_state=0).fit(text)
    assert own.units_ == 16
    assert _lstm_widths(own.model_) == [16]


def _lstm_widths(model):
    return [
        layer.units for layer in model._flatten_layers() if isinstance(layer, keras.layers.LSTM)
    ]
