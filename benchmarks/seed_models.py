"""The seed's first two models against their references, in one table.

Linear regression on scikit-learn's diabetes data: the normal equations
against ``LinearRegression`` and ``Ridge``, gradient descent against the
closed-form cost, GradientTape against the analytic gradient, a batched
``tf.data`` closed form against the in-memory one, and a duplicated column.
The perceptron: hand-written backpropagation against GradientTape, XOR, and
breast-cancer test accuracy.

    python benchmarks/seed_models.py
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes  # noqa: E402
from sklearn.linear_model import LinearRegression, Ridge  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from tfzoo.layers import Perceptron  # noqa: E402
from tfzoo.models import build_linear_regression, build_perceptron, fit_normal_equations  # noqa: E402


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def linear_rows():
    X, y = load_diabetes(return_X_y=True)
    rows = []
    sol = fit_normal_equations(build_linear_regression(10), X, y)
    ref = LinearRegression().fit(X, y)
    rows.append(("normal eq. vs LinearRegression (coef, max rel)", rel(sol.coef[:, 0], ref.coef_)))
    rows.append(
        ("normal eq. vs LinearRegression (intercept, rel)", rel(sol.intercept, [ref.intercept_]))
    )
    for l2 in (0.1, 1.0, 10.0):
        s = fit_normal_equations(build_linear_regression(10), X, y, l2=l2)
        rows.append(
            (
                f"l2={l2} vs Ridge(alpha={l2}) (coef, max rel)",
                rel(s.coef[:, 0], Ridge(alpha=l2).fit(X, y).coef_),
            )
        )
    ds = tf.data.Dataset.from_tensor_slices((X, y)).batch(37)
    batched = fit_normal_equations(build_linear_regression(10), ds)
    rows.append(("tf.data batches (37) vs in memory (coef, max rel)", rel(batched.coef, sol.coef)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dup = fit_normal_equations(build_linear_regression(11), np.hstack([X, X[:, :1]]), y)
    rows.append(
        (
            "duplicated column: rank, finite, warned",
            f"{dup.rank}, {bool(np.all(np.isfinite(dup.coef)))}, {bool(caught)}",
        )
    )
    rows.append(
        (
            "duplicated column vs sklearn min-norm (max rel)",
            rel(dup.coef[:, 0], LinearRegression().fit(np.hstack([X, X[:, :1]]), y).coef_),
        )
    )

    Xa = np.hstack([np.ones((len(X), 1)), X])
    theta = np.random.default_rng(0).standard_normal((11, 1))
    var = tf.Variable(theta)
    with tf.GradientTape() as tape:
        cost = tf.reduce_mean((tf.matmul(tf.constant(Xa), var) - y[:, None]) ** 2)
    grad = tape.gradient(cost, var).numpy()
    analytic = (2 / len(X)) * Xa.T @ (Xa @ theta - y[:, None])
    rows.append(("GradientTape vs (2/m)Xᵀ(Xθ−Y) (max rel)", rel(grad, analytic)))

    Xs = StandardScaler().fit_transform(X).astype("float32")
    closed = build_linear_regression(10)
    fit_normal_equations(closed, Xs, y)
    c_cost = float(np.mean((closed.predict(Xs, verbose=0)[:, 0] - y) ** 2))
    keras.utils.set_random_seed(0)
    gd = build_linear_regression(10)
    gd.compile(keras.optimizers.Adam(0.5), "mse")
    gd.fit(Xs, y, batch_size=len(Xs), epochs=600, verbose=0, shuffle=False)
    gd.compile(keras.optimizers.SGD(0.1), "mse")
    gd.fit(Xs, y, batch_size=len(Xs), epochs=300, verbose=0, shuffle=False)
    g_cost = float(np.mean((gd.predict(Xs, verbose=0)[:, 0] - y) ** 2))
    rows.append(("gradient descent cost vs closed-form cost (rel gap)", (g_cost - c_cost) / c_cost))
    return rows


def perceptron_rows():
    rows = []
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 3))
    t = rng.integers(0, 2, (16, 1)).astype(float)
    layer = Perceptron(dtype="float64")
    layer.build((None, 3))
    for w in layer.weights:
        w.assign(rng.standard_normal(tuple(w.shape)))
    W1, b1, W2, b2 = (
        keras.ops.convert_to_numpy(w) for w in (layer.W1, layer.b1, layer.W2, layer.b2)
    )
    with tf.GradientTape() as tape:
        cost = tf.reduce_mean((layer(x) - t) ** 2)
    grads = dict(zip(("W1", "b1", "W2", "b2"), tape.gradient(cost, layer.trainable_weights)))
    h = np.tanh(x @ W1 + b1)
    yh = 1 / (1 + np.exp(-(h @ W2 + b2)))
    dz2 = 2 * (yh - t) / len(x) * yh * (1 - yh)
    dz1 = dz2 @ W2.T * (1 - h**2)
    by_hand = {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": h.T @ dz2, "b2": dz2.sum(0)}
    worst = max(rel(grads[k].numpy(), v) for k, v in by_hand.items())
    rows.append(("parameters for n_features=3", build_perceptron(3).count_params()))
    rows.append(("hand backprop vs GradientTape (max rel)", worst))

    xor_x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
    xor_y = np.array([[0], [1], [1], [0]], "float32")
    keras.utils.set_random_seed(0)
    m = build_perceptron(2)
    m.compile(keras.optimizers.Adam(0.1), "binary_crossentropy")
    m.fit(xor_x, xor_y, epochs=300, batch_size=4, verbose=0)
    pred = m.predict(xor_x, verbose=0)[:, 0]
    rows.append(("XOR outputs (seed 0, 300 epochs)", np.array2string(pred, precision=3)))

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    keras.utils.set_random_seed(0)
    m = build_perceptron(30)
    m.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    m.fit(sc.transform(Xtr), ytr, epochs=60, batch_size=32, verbose=0)
    rows.append(
        (
            "breast cancer test accuracy (25% held out)",
            m.evaluate(sc.transform(Xte), yte, verbose=0)[1],
        )
    )
    return rows


def main():
    for title, rows in (
        ("linear regression (diabetes)", linear_rows()),
        ("perceptron", perceptron_rows()),
    ):
        print(f"\n{title}")
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            shown = f"{v:.3g}" if isinstance(v, float) else str(v)
            print(f"  {k:<{width}}  {shown}")


if __name__ == "__main__":
    main()
