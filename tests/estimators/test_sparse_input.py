"""Sparse input (issue #14 item 4): a ``ColumnTransformer`` with the default
``OneHotEncoder`` (sparse output) into every tfzoo estimator of flat rows."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tfzoo import (
    CNNClassifier,
    KerasClassifier,
    KerasRegressor,
    LinearRegressor,
    LSTMRegressor,
    PerceptronClassifier,
    PerceptronRegressor,
)
from tfzoo.estimators import _base
from tfzoo.models import build_perceptron

BATCH = 16


def user_table(n=120, seed=0):
    """A table as users have it: two categorical columns with many levels, two numeric."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "city": rng.choice([f"city{i}" for i in range(12)], n),
            "product": rng.choice([f"p{i}" for i in range(8)], n),
            "price": rng.normal(50, 10, n),
            "age": rng.normal(40, 12, n),
        }
    )
    value = (
        2.0 * (df["city"] == "city1")
        - 1.5 * (df["product"] == "p2")
        + (df["price"] - 50) / 10
        + rng.normal(0, 0.1, n)
    )
    return df, value.to_numpy(), np.where(value > 0.2, "high", "low"), rng.uniform(0.5, 2, n)


def encoder():
    return ColumnTransformer(
        [
            ("categories", OneHotEncoder(), ["city", "product"]),
            ("numbers", StandardScaler(), ["price", "age"]),
        ]
    )


# name -> (factory, task); small settings, one random_state each
ESTIMATORS = {
    "linear_normal_equations": (lambda: LinearRegressor(l2=0.1), "regression"),
    "linear_gd": (
        lambda: LinearRegressor(solver="gd", epochs=4, batch_size=BATCH, random_state=0),
        "regression",
    ),
    "perceptron_classifier": (
        lambda: PerceptronClassifier(
            hidden_units=4, epochs=4, batch_size=BATCH, class_weight="balanced", random_state=0
        ),
        "classification",
    ),
    "perceptron_regressor": (
        # early stopping: the validation split is taken from the sparse rows too
        lambda: PerceptronRegressor(
            hidden_units=4, epochs=4, batch_size=BATCH, early_stopping=True, random_state=0
        ),
        "regression",
    ),
    "keras_classifier": (
        lambda: KerasClassifier(
            model=build_perceptron,
            model_kwargs={"hidden_units": 4},
            epochs=4,
            batch_size=BATCH,
            random_state=0,
        ),
        "classification",
    ),
    "keras_regressor": (
        lambda: KerasRegressor(
            model=build_perceptron,
            model_kwargs={"hidden_units": 4, "output_activation": "linear"},
            epochs=4,
            batch_size=BATCH,
            random_state=0,
        ),
        "regression",
    ),
    "cnn_flat_rows": (
        lambda: CNNClassifier(
            image_shape=(1, -1, 1),
            filters=(4, 4, 4),
            dense_units=8,
            epochs=2,
            batch_size=BATCH,
            random_state=0,
        ),
        "classification",
    ),
}


def outputs(est, X, task):
    return est.predict(X) if task == "regression" else est.predict_proba(X)


def test_column_transformer_output_is_sparse():
    df, *_ = user_table()
    assert sparse.issparse(encoder().fit_transform(df))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_pipeline_with_one_hot_encoder_matches_dense_fit(name):
    make, task = ESTIMATORS[name]
    df, y_value, y_label, weight = user_table()
    y = y_value if task == "regression" else y_label
    pipe = make_pipeline(encoder(), make())
    pipe.fit(df, y, **{f"{pipe.steps[-1][0]}__sample_weight": weight})
    X_dense = pipe[0].transform(df).toarray()
    dense = make().fit(X_dense, y, sample_weight=weight)
    np.testing.assert_allclose(
        outputs(pipe, df, task), outputs(dense, X_dense, task), rtol=1e-6, atol=1e-8
    )
    if task == "classification":
        np.testing.assert_array_equal(pipe.predict(df), dense.predict(X_dense))


@pytest.fixture
def guarded_densify(monkeypatch):
    """Make every densification of more than ``BATCH`` rows raise (scipy's
    ``toarray``/``todense`` and ``tf.sparse.to_dense``, eager or in tf.data),
    and record the rows of each one."""
    seen = []

    def check(rows):
        seen.append(rows)
        if rows > BATCH:
            raise AssertionError(f"{rows} rows of a sparse matrix densified at once")

    for cls in {c for base in (sparse.csr_matrix, sparse.csr_array) for c in base.__mro__}:
        for method in ("toarray", "todense"):
            real = cls.__dict__.get(method)
            if real is None:
                continue

            def guarded(self, *args, _real=real, **kwargs):
                check(self.shape[0])
                return _real(self, *args, **kwargs)

            monkeypatch.setattr(cls, method, guarded)

    real_to_dense = tf.sparse.to_dense

    def to_dense(sp_input, *args, **kwargs):
        rows = sp_input.dense_shape[0]
        if tf.executing_eagerly():
            check(int(rows))
            return real_to_dense(sp_input, *args, **kwargs)
        # inside tf.data's map: a run-time check per batch
        seen.append("traced")
        ok = tf.debugging.assert_less_equal(
            rows, tf.constant(BATCH, tf.int64), message="sparse batch densified whole"
        )
        with tf.control_dependencies([ok]):
            return real_to_dense(sp_input, *args, **kwargs)

    monkeypatch.setattr(tf.sparse, "to_dense", to_dense)
    # prediction and the normal equations densify BATCH rows at a time
    monkeypatch.setattr(_base, "SPARSE_CHUNK_VALUES", BATCH * 22, raising=False)
    return seen


@pytest.mark.parametrize("name", ESTIMATORS)
def test_sparse_matrix_is_never_densified_whole(name, guarded_densify):
    make, task = ESTIMATORS[name]
    df, y_value, y_label, weight = user_table()
    y = y_value if task == "regression" else y_label
    X = encoder().fit_transform(df)
    assert X.shape == (120, 22)
    with pytest.raises(AssertionError, match="densified at once"):
        X.toarray()  # the guard is armed
    guarded_densify.clear()
    est = make().fit(X, y, sample_weight=weight)
    coo = X.tocoo()
    X_dense = np.zeros(X.shape)
    X_dense[coo.row, coo.col] = coo.data
    dense = make().fit(X_dense, y, sample_weight=weight)
    # the same model as from the dense matrix, also with the sums of the
    # normal equations and the predictions taken a chunk of rows at a time
    np.testing.assert_allclose(
        outputs(est, X, task), outputs(dense, X_dense, task), rtol=1e-6, atol=1e-8
    )
    kwargs = {"classes": np.unique(y)} if task == "classification" else {}
    streamed = make().partial_fit(X, y, sample_weight=weight, **kwargs)
    streamed_dense = make().partial_fit(X_dense, y, sample_weight=weight, **kwargs)
    np.testing.assert_allclose(
        outputs(streamed, X, task), outputs(streamed_dense, X_dense, task), rtol=1e-6, atol=1e-8
    )
    # every path densified something, and only batches or chunks of rows
    assert guarded_densify


def test_sparse_input_where_rows_are_not_flat_is_refused_with_sklearn_message():
    X = sparse.random(30, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        LSTMRegressor(units=2, epochs=1).fit(X, np.arange(30.0))
