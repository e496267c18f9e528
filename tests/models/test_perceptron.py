import keras
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from tests.backend_ops import BACKEND, float64, gradients
from tfzoo.estimators._seeding import seeded
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
def test_hand_written_backprop_equals_autodiff(n_features, hidden, outputs):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, n_features))
    y = rng.integers(0, 2, size=(16, outputs)).astype(np.float64)
    with float64():  # JAX keeps float64 only under jax.enable_x64
        layer = Perceptron(hidden_units=hidden, units=outputs, dtype="float64")
        layer.build((None, n_features))
        for w in layer.weights:
            w.assign(rng.standard_normal(tuple(w.shape)))

        def cost_of():
            y_hat = layer(x)
            return keras.ops.mean((y_hat - keras.ops.convert_to_tensor(y)) ** 2), ()

        cost, _, grads = gradients(cost_of, variables=layer.trainable_weights)
        weights = [keras.ops.convert_to_numpy(w) for w in (layer.W1, layer.b1, layer.W2, layer.b2)]
    assert cost.dtype == np.float64 and all(g.dtype == np.float64 for g in grads)
    expected_cost, expected = _numpy_backprop(x, y, *weights)
    # Off TensorFlow, Keras's type promotion computes some float64 ops in float32
    # (keras.ops.tanh on JAX, keras.ops.matmul on PyTorch return float32 for float64
    # inputs): there the sums agree to float32's precision.
    rtol, atol = (1e-12, 1e-12) if BACKEND == "tensorflow" else (1e-6, 1e-7)
    np.testing.assert_allclose(cost, expected_cost, rtol=rtol)
    for w, g in zip(layer.trainable_weights, grads):
        np.testing.assert_allclose(g, expected[w.name], rtol=max(rtol, 1e-6), atol=atol)


def _xor_fit(seed):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
    y = np.array([[0], [1], [1], [0]], "float32")
    with seeded(seed):
        model = build_perceptron(2, hidden_units=2)
        model.compile(optimizer=keras.optimizers.Adam(0.1), loss="binary_crossentropy")
        model.fit(x, y, epochs=300, batch_size=4, verbose=0)
    pred = model.predict(x, verbose=0)
    solved = np.array_equal((pred > 0.5).astype(int), y.astype(int))
    return solved and np.max(np.abs(pred - y)) < 0.05, pred


def test_learns_xor():
    # Two tanh units can also settle in XOR's well-known local minimum (output 0.5
    # on two corners): from about half of the initialisations, on every backend
    # (seeds 0-9 solve 3 times on TensorFlow, 5 on JAX, 4 on PyTorch; each backend
    # draws its own initial weights from a seed). So, as one does in practice, a few
    # restarts: one of seeds 0-4 must reach the solution.
    tried = []
    for seed in range(5):
        solved, pred = _xor_fit(seed)
        if solved:
            break
        tried.append(np.round(pred[:, 0], 3).tolist())
    assert solved, f"no restart solved XOR: {tried}"


def _breast_cancer_accuracy(seed):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    with seeded(seed):
        model = build_perceptron(X.shape[1], hidden_units=2)
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(X_train, y_train, epochs=60, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(X_test, y_test, verbose=0)
    return accuracy


def test_breast_cancer_accuracy():
    # 95% of the 143 test samples is 136 right: one more or one fewer error depending on the
    # initial weights (seeds 0-9 on every backend: 94.4% to 97.2%, 94.4% in 7 of 30
    # runs). The claim is the typical run's: most of seeds 0-4 reach 95%.
    accuracies = []
    for seed in range(5):
        accuracies.append(_breast_cancer_accuracy(seed))
        reached = sum(a >= 0.95 for a in accuracies)
        if reached >= 3 or len(accuracies) - reached >= 3:
            break
    assert reached >= 3, accuracies
