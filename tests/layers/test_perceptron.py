import numpy as np
import pytest

from tests.backend_ops import to_numpy
from tfzoo.layers import Perceptron
from tfzoo.testing import run_layer_test


def test_perceptron_layer_contract():
    layer = run_layer_test(
        Perceptron,
        {"hidden_units": 4, "units": 3, "output_activation": "softmax"},
        input_shape=(8, 5),
        expected_output_shape=(8, 3),
        expected_num_trainable_weights=4,
    )
    out = to_numpy(layer(np.ones((2, 5), "float32")))
    np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-6)


def test_perceptron_seed_shapes():
    layer = Perceptron()
    layer.build((None, 3))
    shapes = {w.name: tuple(w.shape) for w in layer.weights}
    assert shapes == {"W1": (3, 2), "b1": (2,), "W2": (2, 1), "b2": (1,)}
    assert layer.count_params() == 11


def test_perceptron_activations_configurable():
    layer = Perceptron(hidden_activation="relu", output_activation="linear")
    x = np.array([[-100.0, -100.0, -100.0]], "float32")
    layer(x)
    layer.W1.assign(np.ones((3, 2)))
    layer.W2.assign(np.ones((2, 1)))
    # relu kills the hidden layer; the linear output is the bias (0).
    np.testing.assert_array_equal(to_numpy(layer(x)), [[0.0]])


def test_bad_hidden_units():
    with pytest.raises(ValueError, match="hidden_units must be a positive integer, got 0"):
        Perceptron(hidden_units=0)
