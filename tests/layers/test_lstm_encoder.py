import keras
import numpy as np
import pytest

from tests.backend_ops import to_numpy
from tfzoo.layers import LSTMEncoder
from tfzoo.testing import run_layer_test


def test_lstm_encoder_contract():
    run_layer_test(
        LSTMEncoder,
        {"units": 6, "num_layers": 2},
        input_shape=(4, 7, 3),
        expected_output_shape=(4, 6),
        expected_num_trainable_weights=6,
    )


def test_lstm_encoder_bidirectional_sequences():
    run_layer_test(
        LSTMEncoder,
        {"units": 5, "bidirectional": True, "return_sequences": True, "dropout": 0.1},
        input_shape=(2, 6, 3),
        expected_output_shape=(2, 6, 10),
    )


def test_lstm_encoder_bad_args():
    with pytest.raises(ValueError, match="num_layers must be a positive integer"):
        LSTMEncoder(4, num_layers=0)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
def test_lstm_encoder_skips_masked_padding(bidirectional):
    # a mask from Masking reaches every stacked LSTM: post-padding is not read as data
    inputs = keras.Input((None, 3))
    x = keras.layers.Masking(-9.0)(inputs)
    x = LSTMEncoder(4, num_layers=2, bidirectional=bidirectional, seed=0)(x)
    model = keras.Model(inputs, x)
    seq = np.random.default_rng(0).normal(size=(1, 5, 3)).astype("float32")
    padded = np.concatenate([seq, np.full((1, 4, 3), -9.0, "float32")], axis=1)
    zeros = np.concatenate([seq, np.zeros((1, 4, 3), "float32")], axis=1)
    alone = to_numpy(model(seq))
    np.testing.assert_allclose(to_numpy(model(padded)), alone, atol=1e-6)
    assert np.abs(to_numpy(model(zeros)) - alone).max() > 1e-4
