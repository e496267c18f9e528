"""What can be proved about TPUs without one: static shapes, XLA, bfloat16."""

import keras
import numpy as np
import pytest

from tfzoo.models import (
    build_char_rnn,
    build_embedding_recommender,
    build_linear_regression,
    build_lstm_classifier,
    build_lstm_forecaster,
    build_perceptron,
    build_small_cnn,
)


def _cases():
    rng = np.random.default_rng(0)
    return {
        "linear_regression": (
            lambda: build_linear_regression(5),
            rng.random((8, 5), dtype=np.float32),
            rng.random((8, 1), dtype=np.float32),
            "mse",
        ),
        "perceptron": (
            lambda: build_perceptron(5),
            rng.random((8, 5), dtype=np.float32),
            rng.integers(0, 2, (8, 1)).astype("float32"),
            "binary_crossentropy",
        ),
        "small_cnn": (
            lambda: build_small_cnn((16, 16, 1), num_classes=3),
            rng.random((8, 16, 16, 1), dtype=np.float32),
            rng.integers(0, 3, 8),
            "sparse_categorical_crossentropy",
        ),
        "lstm_forecaster": (
            lambda: build_lstm_forecaster(window=6, n_features=2, horizon=2, units=8),
            rng.random((8, 6, 2), dtype=np.float32),
            rng.random((8, 4), dtype=np.float32),
            "mse",
        ),
        "lstm_classifier": (
            lambda: build_lstm_classifier(sequence_length=6, n_features=2, num_classes=3, units=8),
            rng.random((8, 6, 2), dtype=np.float32),
            rng.integers(0, 3, 8),
            "sparse_categorical_crossentropy",
        ),
        "embedding_recommender": (
            lambda: build_embedding_recommender(300, 7, embedding_dim=4),
            np.column_stack([rng.integers(290, 300, 8), rng.integers(0, 7, 8)]).astype("float32"),
            rng.random((8, 1), dtype=np.float32) + 3.0,
            "mse",
        ),
        "char_rnn": (
            lambda: build_char_rnn(11, embedding_dim=4, units=8, sequence_length=6),
            rng.integers(0, 11, (8, 6)).astype("int32"),
            rng.integers(0, 11, (8, 6)),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ),
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_step_compiles_with_xla_and_shapes_are_static(name, set_seed):
    set_seed(0)  # the initial weights, not whichever tests ran before in this process
    build, x, y, loss = CASES[name]
    model = build()
    for tensor in model.outputs:
        assert all(d is not None for d in tensor.shape[1:]) or name == "char_rnn"
    model.compile(keras.optimizers.Adam(0.01), loss, jit_compile=True)
    first = model.train_on_batch(x, y)
    for _ in range(3):
        last = model.train_on_batch(x, y)
    assert np.isfinite(last) and last < first


@pytest.mark.parametrize("name", sorted(CASES))
def test_trains_under_mixed_bfloat16(name, set_seed):
    set_seed(0)
    build, x, y, loss = CASES[name]
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build()
        assert model.layers[-1].compute_dtype == "bfloat16"
        model.compile(keras.optimizers.Adam(0.01), loss)
        first = model.train_on_batch(x, y)
        for _ in range(5):
            last = model.train_on_batch(x, y)
    finally:
        keras.config.set_dtype_policy(previous)
    assert all(w.dtype == "float32" for w in model.trainable_weights)  # float32 masters
    assert np.isfinite(last) and last < first
