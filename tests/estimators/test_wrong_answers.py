"""Answers that were silently wrong before the outside audit (issue #12), pinned.

Each test fails on the code before the fix (4f6edd0) and checks what a user
sees: predictions against scikit-learn, or the error a bad input now gets.
"""

import keras
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, train_test_split

from tfzoo import (
    CNNClassifier,
    KerasRegressor,
    LinearRegressor,
    PerceptronClassifier,
    PerceptronRegressor,
)
from tfzoo.estimators._base import TrainingDivergedError
from tfzoo.estimators._runtime import dtype_scope
from tfzoo.layers import MatrixFactorization
from tfzoo.models import build_embedding_recommender


def invalid_ids_error():
    """What refusing invalid ids raises on this backend: TensorFlow's Assert op; on JAX
    the host check's ValueError, as JAX's runtime error; on torch the ValueError itself."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.errors.InvalidArgumentError
    if backend == "jax":
        import jax

        return jax.errors.JaxRuntimeError
    return ValueError


@pytest.fixture(scope="module")
def line():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.5, -2.0, 0.5] + 3.0 + 0.1 * rng.normal(size=200)
    return X, y


@pytest.mark.parametrize(
    "name, transform",
    [
        ("unix times", lambda X: X * 1e3 + 1.7e9),
        ("offset 1e6", lambda X: X + 1e6),
        ("tiny", lambda X: X * 1e-160),
        ("huge", lambda X: X * 1e160),
        ("near 1e200", lambda X: X * 1e200),
    ],
)
def test_linear_regressor_predictions_equal_sklearn_at_any_scale(line, name, transform):
    X, y = line
    X = transform(X)
    reference = LinearRegression().fit(X, y).predict(X)
    est = LinearRegressor().fit(X, y)  # no RankDeficientWarning (warnings are errors)
    assert est.rank_ == 3
    pred = est.predict(X)
    scale = np.max(np.abs(reference))
    np.testing.assert_allclose(pred, reference, rtol=0, atol=1e-6 * scale)
    # the Keras model holds the same float64 solution (on JAX it computes in float64
    # with 64-bit types on, as jax.enable_x64(True) turns them on; elsewhere always)
    with dtype_scope("float64"):
        out = keras.ops.convert_to_numpy(est.model_(X))
    np.testing.assert_allclose(out[:, 0], reference, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("factor", [1e-200, 1e200])
def test_linear_regressor_on_targets_of_extreme_scale(line, factor):
    X, y = line
    with np.errstate(over="ignore"):  # scipy's residual sum overflows at 1e200
        reference = LinearRegression().fit(X, y * factor).predict(X)
    pred = LinearRegressor().fit(X, y * factor).predict(X)
    np.testing.assert_allclose(pred, reference, rtol=0, atol=1e-6 * np.max(np.abs(reference)))


def test_linear_regressor_says_when_float64_cannot_hold_the_answer():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2)) * 1e-300
    y = rng.normal(size=50) * 1e300  # coefficients near 1e600
    with pytest.raises(ValueError, match="not representable in float64"):
        LinearRegressor().fit(X, y)
    with pytest.raises(ValueError, match="underflow"):
        LinearRegressor().fit(X * 1e300 * 1e300, y * 1e-310)  # coefficients near 1e-310
    spread = np.array([[1.7e308, 0.0], [-1.7e308, 1.0], [1.7e308, 2.0]])
    with pytest.raises(ValueError, match="overflow float64"):
        LinearRegressor().fit(spread, [0.0, 1.0, 2.0])


def test_gd_ridge_penalty_counts_only_the_training_rows(line):
    X, y = line
    l2, fraction = 100.0, 0.5
    est = LinearRegressor(
        solver="gd",
        l2=l2,
        early_stopping=True,
        validation_fraction=fraction,
        n_iter_no_change=1000,
        epochs=400,
        batch_size=200,
        learning_rate=0.05,
        random_state=0,
    ).fit(X, y)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=fraction, random_state=0)
    right = Ridge(alpha=l2).fit(X_train, y_train).coef_
    # what a penalty scaled by all 200 rows solves on the 100 training rows
    wrong = Ridge(alpha=l2 * len(X_train) / len(X)).fit(X_train, y_train).coef_
    assert np.abs(right - wrong).max() > 0.2
    assert np.abs(est.coef_ - right).max() < 0.1 * np.abs(right - wrong).max()


@pytest.mark.parametrize(
    "make, what",
    [
        (lambda X, y: (X * 1e39, y), "too large for float32"),
        (lambda X, y: (X, y * 1e39), "too large for float32"),
    ],
)
def test_values_float32_cannot_hold_are_refused(make, what):
    X, y = make_blobs(n_samples=60, centers=2, random_state=0)
    X, y = make(X, y.astype(float))
    with pytest.raises(ValueError, match=what):
        PerceptronRegressor(epochs=1).fit(X, y)
    if y.max() <= 1:  # a classifier's input too (its labels are class indices)
        with pytest.raises(ValueError, match=what):
            PerceptronClassifier(epochs=1).fit(X, y)


def test_training_that_diverges_raises_and_leaves_nothing_fitted():
    X, y = make_blobs(n_samples=60, centers=2, random_state=0)
    est = PerceptronRegressor(epochs=3, random_state=0)
    with pytest.raises(TrainingDivergedError, match="Training diverged.*StandardScaler"):
        est.fit(X, y * 1e30)
    assert not hasattr(est, "model_")
    clf = KerasRegressor(model=_linear, epochs=3, learning_rate=10.0, optimizer="sgd")
    with pytest.raises(TrainingDivergedError, match="learning rate 10"):
        clf.fit((X * 2**40).astype(np.int64), y)


def _linear(n_features, n_outputs):
    import keras

    return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(n_outputs)])


def test_text_generator_score_is_greater_is_better():
    from tfzoo import TextGenerator

    text = "abab" * 150
    gen = TextGenerator(
        embedding_dim=4, units=8, sequence_length=10, epochs=2, batch_size=32, random_state=0
    ).fit(text)
    bits = gen.bits_per_character(text[:200])
    assert bits > 0
    assert gen.score(text[:200]) == pytest.approx(-bits)


def test_grid_search_picks_the_text_generator_with_fewer_bits():
    from tfzoo import TextGenerator

    text = "the cat sat on the mat. " * 40
    base = TextGenerator(
        embedding_dim=8, units=16, sequence_length=12, batch_size=32, random_state=0
    )
    search = GridSearchCV(base, {"epochs": [1, 8]}, cv=[(np.arange(0, 1), np.arange(1, 2))])
    search.fit([text, text])
    short = base.set_params(epochs=1).fit(text)
    # eight epochs model this text better than one, so the search must pick them
    assert search.best_estimator_.bits_per_character(text) < short.bits_per_character(text)
    assert search.best_params_["epochs"] == 8


@pytest.mark.parametrize("bad", [[[-1, 2]], [[3.9, 1]], [[5, 1]], [[0, 4]]])
def test_matrix_factorization_refuses_invalid_ids(bad):
    layer = MatrixFactorization(5, 4, 3)
    scores = keras.ops.convert_to_numpy(layer(np.array([[0, 0], [4, 3]], "float32")))
    assert np.all(np.isfinite(scores))
    with pytest.raises(invalid_ids_error(), match="ids must be integers"):
        layer(np.array(bad, "float32"))


def test_recommender_estimator_refuses_a_missing_category_id():
    pairs = np.array([[0, 1], [1, 2], [2, 0], [1, 1]] * 5, "float32")
    est = KerasRegressor(
        model=build_embedding_recommender,
        model_kwargs={"n_users": 3, "n_items": 3},
        epochs=1,
        random_state=0,
    ).fit(pairs, np.arange(20.0))
    with pytest.raises(invalid_ids_error(), match="ids must be integers"):
        est.predict(np.array([[-1.0, 1.0]]))
    bad = pairs.copy()
    bad[3] = [2.5, 1]
    with pytest.raises(invalid_ids_error(), match="ids must be integers"):
        est.fit(bad, np.arange(20.0))


def test_cnn_refuses_flat_rows_that_are_not_square_images():
    rng = np.random.default_rng(0)
    X = rng.random((20, 3072)).astype("float32")
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"3072 values.*pass image_shape"):
        CNNClassifier(epochs=1).fit(X, y)
    est = CNNClassifier(image_shape=(32, 32, 3), filters=(2, 2, 2), dense_units=4, epochs=1).fit(
        X, y
    )
    assert est.image_shape_ == (32, 32, 3)
    strips = CNNClassifier(image_shape=(1, -1, 1), filters=(2, 2, 2), dense_units=4, epochs=1).fit(
        X[:, :12], y
    )
    assert strips.image_shape_ == (1, 12, 1)
