import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from tfzoo.layers import Perceptron
from tfzoo.models import build_perceptron


def test_seed_shapes_and_eleven_parameters():
    model = build_perceptron(3)
    layer = model.get_layer("perceptron")
    assert tuple(layer.W1.shape) == (3, 2)
    assert tuple(layer.b1.shape) == (2,)
    assert tuple(layer.W2.shape) == (2, 1)
    assert tuple(layer.b2.shape) == (1,)
    assert model.count_params() == 11
    assert model.output_shape == (None, 1)


def _numpy_backprop(x, y, W1, b1, W2, b2):
    """The seed's chain rule, by hand: MSE through sigmoid and tanh."""
    m = x.shape[0]
    z1 = x @ W1 + b1
    h = np.tanh(z1)
    z2 = h @ W2 + b2
    y_hat = 1.0 / (1.0 + np.exp(-z2))
    cost = np.mean((y_hat - y) ** 2)
    d_yhat = 2.0 * (y_hat - y) / (m * y.shape[1])
    d_z2 = d_yhat * y_hat * (1.0 - y_hat)  # sigmoid' = s(1 - s)
    d_W2 = h.T @ d_z2
    d_b2 = d_z2.sum(axis=0)
    d_h = d_z2 @ W2.T
    d_z1 = d_h * (1.0 - h**2)  # tanh' = 1 - tanh²
    d_W1 = x.T @ d_z1
    d_b1 = d_z1.sum(axis=0)
    return cost, {"W1": d_W1, "b1": d_b1, "W2": d_W2, "b2": d_b2}


@pytest.mark.parametrize("n_features,hidden,outputs", [(3, 2, 1), (5, 4, 2)])
def test_hand_written_backprop_equals_gradient_tape(n_features, hidden, outputs):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, n_features))
    y = rng.integers(0, 2, size=(16, outputs)).astype(np.float64)
    layer = Perceptron(hidden_units=hidden, units=outputs, dtype="float64")
    layer.build((None, n_features))
    for w in layer.weights:
        w.assign(rng.standard_normal(tuple(w.shape)))
    with tf.GradientTape() as tape:
        y_hat = layer(x)
        cost = tf.reduce_mean((y_hat - y) ** 2)
    grads = tape.gradient(cost, layer.trainable_weights)
    expected_cost, expected = _numpy_backprop(
        x,
        y,
        *[keras.ops.convert_to_numpy(w) for w in (layer.W1, layer.b1, layer.W2, layer.b2)],
    )
    np.testing.assert_allclose(cost.numpy(), expected_cost, rtol=1e-12)
    for w, g in zip(layer.trainable_weights, grads):
        np.testing.assert_allclose(g.numpy(), expected[w.name], rtol=1e-6, atol=1e-12)


def test_learns_xor(set_seed):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
    y = np.array([[0], [1], [1], [0]], "float32")
    # Two tanh units can also settle in XOR's well-known local minimum
    # (output 0.5 on two corners); with this seed they find the solution.
    set_seed(0)
    model = build_perceptron(2, hidden_units=2)
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="binary_crossentropy")
    model.fit(x, y, epochs=300, batch_size=4, verbose=0)
    pred = model.predict(x, verbose=0)
    np.testing.assert_array_equal((pred > 0.5).astype(int), y.astype(int))
    assert np.max(np.abs(pred - y)) < 0.05


def test_breast_cancer_accuracy(set_seed):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    set_seed(0)
    model = build_perceptron(X.shape[1], hidden_units=2)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(X_train, y_train, epochs=60, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(X_test, y_test, verbose=0)
    assert accuracy >= 0.95, accuracy
