import pytest

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
