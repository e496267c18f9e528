import warnings

import keras
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.preprocessing import StandardScaler

from tests.backend_ops import float64, gradients
from tfzoo.models import (
    NormalEquationStats,
    RankDeficientWarning,
    build_linear_regression,
    fit_normal_equations,
)


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b)))


def test_builder_shapes_and_params():
    model = build_linear_regression(10, n_outputs=2)
    assert model.output_shape == (None, 2)
    assert model.count_params() == 10 * 2 + 2
    assert not model.compiled
    no_bias = build_linear_regression(4, fit_intercept=False)
    assert no_bias.count_params() == 4


def test_normal_equations_equal_sklearn_linear_regression(diabetes):
    X, y = diabetes
    model = build_linear_regression(10)
    solution = fit_normal_equations(model, X, y)
    ref = LinearRegression().fit(X, y)
    assert solution.method == "cholesky" and solution.rank == 10
    assert _rel(solution.coef[:, 0], ref.coef_) < 1e-6
    assert _rel(solution.intercept, [ref.intercept_]) < 1e-6
    # the float32 copy in the model predicts like scikit-learn
    np.testing.assert_allclose(model.predict(X, verbose=0)[:, 0], ref.predict(X), rtol=1e-5)
    np.testing.assert_allclose(solution.theta[0, 0], ref.intercept_)


@pytest.mark.parametrize("l2", [0.1, 1.0, 10.0])
def test_normal_equations_with_l2_equal_ridge(diabetes, l2):
    X, y = diabetes
    model = build_linear_regression(10)
    solution = fit_normal_equations(model, X, y, l2=l2)
    ref = Ridge(alpha=l2).fit(X, y)
    assert _rel(solution.coef[:, 0], ref.coef_) < 1e-6
    assert _rel(solution.intercept, [ref.intercept_]) < 1e-6


def test_no_intercept_equals_sklearn(diabetes):
    X, y = diabetes
    model = build_linear_regression(10, fit_intercept=False)
    solution = fit_normal_equations(model, X, y)
    ref = LinearRegression(fit_intercept=False).fit(X, y)
    assert _rel(solution.coef[:, 0], ref.coef_) < 1e-6
    np.testing.assert_array_equal(solution.intercept, [0.0])


def test_multi_output(diabetes):
    X, y = diabetes
    Y = np.stack([y, 2 * y + X[:, 0]], axis=1)
    model = build_linear_regression(10, n_outputs=2)
    solution = fit_normal_equations(model, X, Y)
    ref = LinearRegression().fit(X, Y)
    assert _rel(solution.coef.T, ref.coef_) < 1e-6


def test_batched_dataset_equals_in_memory(diabetes):
    X, y = diabetes
    import tensorflow as tf  # a tf.data pipeline feeds every backend

    X = X.astype("float32")
    model = build_linear_regression(10)
    in_memory = fit_normal_equations(model, X, y)
    ds = tf.data.Dataset.from_tensor_slices((X, y)).batch(37)
    batched = fit_normal_equations(model, ds)
    assert batched.n_samples == len(X)
    assert _rel(batched.coef, in_memory.coef) < 1e-9
    assert _rel(batched.intercept, in_memory.intercept) < 1e-9


def test_shards_with_different_shifts_merge_exactly(diabetes):
    X, y = diabetes
    X = X * 1000 + 5e4  # large offsets: the shift keeps the sums accurate
    whole = NormalEquationStats(10, 1).update(X, y).solve()
    a = NormalEquationStats(10, 1).update(X[:100], y[:100])
    b = NormalEquationStats(10, 1).update(X[100:], y[100:])
    merged = a.merge(b).solve()
    assert _rel(merged.coef, whole.coef) < 1e-8
    ref = LinearRegression().fit(X, y)
    assert _rel(whole.coef[:, 0], ref.coef_) < 1e-6


def test_rank_deficient_gives_minimum_norm_and_warns(diabetes):
    X, y = diabetes
    X2 = np.hstack([X, X[:, :1]])  # duplicated column
    model = build_linear_regression(11)
    with pytest.warns(RankDeficientWarning, match="rank deficient"):
        solution = fit_normal_equations(model, X2, y)
    assert np.all(np.isfinite(solution.coef))
    assert solution.rank == 10 and solution.method == "lstsq"
    # minimum norm: the duplicated columns share the weight equally,
    # and the fit is the full-rank fit.
    np.testing.assert_allclose(solution.coef[0], solution.coef[10], rtol=1e-8)
    ref = LinearRegression().fit(X2, y)
    np.testing.assert_allclose(solution.coef[:, 0], ref.coef_, rtol=1e-6)
    full = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.predict(X2, verbose=0)[:, 0], full.predict(X), rtol=1e-5)


def test_rank_deficient_with_l2_is_ridge_without_warning(diabetes):
    X, y = diabetes
    X2 = np.hstack([X, X[:, :1]])
    model = build_linear_regression(11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solution = fit_normal_equations(model, X2, y, l2=1.0)
    ref = Ridge(alpha=1.0).fit(X2, y)
    assert _rel(solution.coef[:, 0], ref.coef_) < 1e-6


def test_gradient_equals_analytic(diabetes):
    X, y = diabetes
    Xa = np.hstack([np.ones((len(X), 1)), X])  # x = [1, x1 ... xn]
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((11, 1))

    def cost_of(theta):
        residual = keras.ops.matmul(keras.ops.convert_to_tensor(Xa), theta)
        residual = residual - keras.ops.convert_to_tensor(y[:, None])
        return keras.ops.mean(residual**2), ()

    with float64():  # JAX keeps float64 only under jax.enable_x64
        _, _, (grad,) = gradients(cost_of, inputs=[theta])
    assert grad.dtype == np.float64
    analytic = (2 / len(X)) * Xa.T @ (Xa @ theta - y[:, None])
    assert _rel(grad, analytic) < 1e-6

    # the same through the Keras model (float32 weights): grads agree to float32
    model = build_linear_regression(10)
    model.get_layer("linear").set_theta(theta[1:], theta[0])

    def model_cost():
        pred = model(X.astype("float32"))
        return keras.losses.MeanSquaredError()(y[:, None].astype("float32"), pred), ()

    _, _, (g_kernel, g_bias) = gradients(model_cost, variables=model.trainable_weights)
    np.testing.assert_allclose(g_bias, analytic[0], rtol=1e-4)
    np.testing.assert_allclose(g_kernel, analytic[1:], rtol=1e-4)


def test_gradient_descent_reaches_closed_form_cost(diabetes, set_seed):
    X, y = diabetes
    X = StandardScaler().fit_transform(X).astype("float32")
    y = y.astype("float32")
    closed = build_linear_regression(10)
    fit_normal_equations(closed, X, y)
    closed_cost = np.mean((closed.predict(X, verbose=0)[:, 0] - y) ** 2)

    # Full-batch gradient descent: every step sees the whole data set. The steps run in
    # one epoch over the data repeated (the same batches as one epoch per step, without
    # fit's per-epoch cost), several steps per call where the backend allows it.
    spe = 1 if keras.backend.backend() == "torch" else 50

    def steps(n):
        model.fit(np.tile(X, (n, 1)), np.tile(y, n), batch_size=len(X), verbose=0, shuffle=False)

    set_seed(0)
    model = build_linear_regression(10)
    model.compile(optimizer=keras.optimizers.Adam(0.5), loss="mse", steps_per_execution=spe)
    steps(600)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", steps_per_execution=spe)
    steps(300)
    gd_cost = np.mean((model.predict(X, verbose=0)[:, 0] - y) ** 2)
    assert gd_cost >= closed_cost * (1 - 1e-6)
    assert (gd_cost - closed_cost) / closed_cost < 1e-3


def test_bad_inputs():
    model = build_linear_regression(3)
    with pytest.raises(ValueError, match="X has 4 features, but the model is expecting 3"):
        fit_normal_equations(model, np.ones((5, 4)), np.ones(5))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        fit_normal_equations(model, np.ones((5, 3)), np.ones(4))
    X = np.ones((5, 3))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fit_normal_equations(model, X, np.ones(5))
    with pytest.raises(ValueError, match="0 sample"):
        fit_normal_equations(model, np.ones((0, 3)), np.ones(0))
    with pytest.raises(ValueError, match="l2 must be a non-negative"):
        fit_normal_equations(model, np.random.default_rng(0).random((5, 3)), np.ones(5), l2=-1)
    with pytest.raises(ValueError, match="n_features must be a positive integer"):
        build_linear_regression(0)


def test_refuses_models_that_are_not_linear():
    from tfzoo.models import build_perceptron

    with pytest.raises(ValueError, match="exactly one tfzoo.layers.Linear"):
        fit_normal_equations(build_perceptron(3), np.ones((4, 3)), np.ones(4))
    inputs = keras.Input((3,))
    from tfzoo.layers import Linear

    hidden = keras.layers.Dense(2)(inputs)
    model = keras.Model(inputs, Linear(1)(hidden))
    with pytest.raises(ValueError, match="other weights too"):
        fit_normal_equations(model, np.ones((4, 3)), np.ones(4))
