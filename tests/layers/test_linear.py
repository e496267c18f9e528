import keras
import numpy as np
import pytest

from tfzoo.layers import Linear
from tfzoo.testing import run_layer_test


def test_linear_layer_contract():
    layer = run_layer_test(
        Linear,
        {"units": 2, "kernel_initializer": "glorot_uniform"},
        input_shape=(8, 5),
        expected_output_shape=(8, 2),
        expected_num_trainable_weights=2,
    )
    assert layer.kernel.shape == (5, 2)


def test_linear_without_intercept_has_no_bias():
    run_layer_test(
        Linear,
        {"units": 1, "fit_intercept": False, "kernel_initializer": "ones"},
        input_shape=(4, 3),
        expected_output_shape=(4, 1),
        expected_num_trainable_weights=1,
    )


def test_theta_is_intercept_then_weights():
    layer = Linear(1)
    layer.build((None, 3))
    layer.set_theta(np.array([[1.0], [2.0], [3.0]]), np.array([0.5]))
    theta = keras.ops.convert_to_numpy(layer.theta)
    np.testing.assert_array_equal(theta[:, 0], [0.5, 1.0, 2.0, 3.0])
    x = np.array([[1.0, 1.0, 1.0]], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), [[6.5]])


def test_set_theta_requires_intercept():
    layer = Linear(1)
    layer.build((None, 2))
    with pytest.raises(ValueError, match="intercept"):
        layer.set_theta(np.zeros((2, 1)))


@pytest.mark.parametrize("units", [0, -1, 1.5])
def test_bad_units(units):
    with pytest.raises(ValueError, match="units must be a positive integer"):
        Linear(units)
