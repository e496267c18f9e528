"""KerasClassifier / KerasRegressor keep what the user gave them (issue #14, item 8).

A compiled model keeps its optimizer, loss and metrics; a builder that
outputs logits trains and predicts as logits; a misspelt builder argument
fails where it is given; multilabel ``y`` works as in scikit-learn's MLP.
"""

import os

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_multilabel_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import StandardScaler

from tfzoo import KerasClassifier, KerasRegressor
from tfzoo.models import build_perceptron


@pytest.fixture(scope="module")
def blobs():
    """Three overlapping classes: well-calibrated probabilities matter."""
    X, y = make_blobs(400, n_features=4, centers=3, cluster_std=2.5, random_state=0)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)


def _compiled_softmax(n_features=4, n_classes=3):
    inputs = keras.Input((n_features,))
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# ------------------------------------------------------------ compiled model
def test_compiled_model_keeps_its_optimizer_loss_and_metrics(blobs):
    X, _, y, _ = blobs
    user = _compiled_softmax()
    clf = KerasClassifier(model=user, epochs=3, random_state=0).fit(X, y)
    opt = clf.model_.optimizer
    assert isinstance(opt, keras.optimizers.SGD)  # torch subclasses it
    assert float(opt.learning_rate) == pytest.approx(0.05)
    assert opt.get_config()["momentum"] == pytest.approx(0.9)
    assert opt is not user.optimizer  # a fresh copy: the user's model is untouched
    assert not user.optimizer.built
    assert len(clf.history_["accuracy"]) == 3  # the compiled metric was computed
    assert clf.model_.loss == "sparse_categorical_crossentropy"


def test_compiled_regressor_keeps_its_loss_and_metrics(blobs):
    X, _, y, _ = blobs
    inputs = keras.Input((X.shape[1],))
    user = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    user.compile(keras.optimizers.Adam(0.03), loss="mae", metrics=["mse"])
    reg = KerasRegressor(model=user, epochs=2).fit(X, y.astype(float))
    assert reg.model_.loss == "mae"
    assert float(reg.model_.optimizer.learning_rate) == pytest.approx(0.03)
    assert len(reg.history_["mse"]) == 2


def test_estimator_parameters_override_the_compiled_model(blobs):
    X, _, y, _ = blobs
    user = _compiled_softmax()
    clf = KerasClassifier(model=user, epochs=1, learning_rate=0.2).fit(X, y)
    assert isinstance(clf.model_.optimizer, keras.optimizers.SGD)
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.2)
    clf = KerasClassifier(model=user, epochs=1, optimizer="adam").fit(X, y)
    assert isinstance(clf.model_.optimizer, keras.optimizers.Adam)
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.01)
    # an optimizer instance keeps its own learning rate (it was replaced by 0.01)
    clf = KerasClassifier(
        model=build_perceptron, epochs=1, optimizer=keras.optimizers.RMSprop(0.003)
    ).fit(X, y)
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.003)


def test_grid_search_over_a_compiled_model(blobs):
    X, _, y, _ = blobs
    user = _compiled_softmax()
    search = GridSearchCV(
        KerasClassifier(model=user, epochs=2, random_state=0),
        {"learning_rate": [0.01, 0.05]},
        cv=2,
    ).fit(X, y)
    best = search.best_estimator_
    assert isinstance(best.model_.optimizer, keras.optimizers.SGD)
    assert "accuracy" in best.history_
    assert clone(best).model is user  # the template is shared, never trained


# ------------------------------------------------------------------- logits
def logits_builder(n_features, n_outputs, hidden_units=16):
    inputs = keras.Input((n_features,))
    hidden = keras.layers.Dense(hidden_units, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs)(hidden))  # linear: logits


class Identity(keras.layers.Layer):
    """A custom output layer that does not say what it outputs."""

    def call(self, x):
        return x


def identity_builder(n_features, n_outputs, hidden_units=16):
    model = logits_builder(n_features, n_outputs, hidden_units)
    return keras.Model(model.inputs[0], Identity()(model.outputs[0]))


@pytest.mark.parametrize("builder", [logits_builder, identity_builder])
def test_logits_builder_gives_probabilities(blobs, builder):
    X, X_test, y, y_test = blobs
    clf = KerasClassifier(model=builder, epochs=40, random_state=0).fit(X, y)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    reference = LogisticRegression().fit(X, y)  # the same blobs are linearly separable
    assert clf.score(X_test, y_test) >= reference.score(X_test, y_test) - 0.05
    assert log_loss(y_test, proba) < log_loss(y_test, reference.predict_proba(X_test)) + 0.1
    assert clf.from_logits_


def test_binary_logit_and_explicit_from_logits(blobs):
    X, X_test, y, y_test = blobs
    yb, yb_test = (y == 0).astype(int), (y_test == 0).astype(int)
    clf = KerasClassifier(model=logits_builder, epochs=40, random_state=0).fit(X, yb)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2) and np.all((proba >= 0) & (proba <= 1))
    reference = LogisticRegression().fit(X, yb)
    assert log_loss(yb_test, proba) < log_loss(yb_test, reference.predict_proba(X_test)) + 0.1
    np.testing.assert_allclose(
        clf.decision_function(X_test), np.log(proba[:, 1] / proba[:, 0]), atol=1e-6
    )
    assert clf.from_logits_ and clf.model_.output_shape[-1] == 1
    # a loss object that says from_logits is the user's word
    said = KerasClassifier(
        model=logits_builder,
        epochs=1,
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    ).fit(X, yb)
    assert said.from_logits_
    softmax = KerasClassifier(model=build_perceptron, epochs=1).fit(X, yb)
    assert not softmax.from_logits_


# ----------------------------------------------------------- builder typos
def test_misspelt_builder_argument_fails_at_set_params(blobs):
    X, _, y, _ = blobs
    clf = KerasClassifier(model=build_perceptron, epochs=1)
    with pytest.raises(ValueError, match=r"model__hiden_units.*Valid parameters are.*hidden_units"):
        clf.set_params(model__hiden_units=4)
    assert clf.model_kwargs is None  # nothing was stored
    with pytest.raises(ValueError, match="model__hiden_units") as info:
        GridSearchCV(clf, {"model__hiden_units": [2, 4]}, cv=2).fit(X, y)
    assert "fits failed" not in str(info.value)
    # given in __init__: clone works (no validation there), fit refuses it
    typo = clone(KerasClassifier(model=build_perceptron, model_kwargs={"hiden_units": 4}))
    with pytest.raises(ValueError, match=r"'hiden_units'.*build_perceptron"):
        typo.fit(X, y)
    # a builder with **kwargs takes anything; a keras.Model takes nothing
    KerasRegressor(model=lambda n_features, **kw: None).set_params(model__anything=1)
    with pytest.raises(ValueError, match="keras.Model instance"):
        KerasClassifier(model=_compiled_softmax()).set_params(model__units=3)


# --------------------------------------------------------------- multilabel
@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(
        400, n_features=10, n_classes=3, n_labels=1, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, Y, test_size=0.5, random_state=0)


def test_multilabel_indicator_y(multilabel):
    X, X_test, Y, Y_test = multilabel
    clf = KerasClassifier(
        model=build_perceptron, model_kwargs={"hidden_units": 16}, epochs=30, random_state=0
    ).fit(X, Y)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    pred = clf.predict(X_test)
    assert pred.shape == Y_test.shape and set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(X_test)
    assert proba.shape == Y_test.shape and np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    per_label = (pred == Y_test).mean(axis=0)
    majority = np.maximum(Y.mean(axis=0), 1 - Y.mean(axis=0))  # from the training labels
    majority_test = np.where(Y.mean(axis=0) > 0.5, Y_test, 1 - Y_test).mean(axis=0)
    assert np.all(per_label > majority_test + 0.05), (per_label, majority, majority_test)
    search = GridSearchCV(
        clone(clf).set_params(epochs=5), {"model__hidden_units": [4, 8]}, cv=2
    ).fit(X, Y)
    assert search.best_estimator_.predict(X_test).shape == Y_test.shape


def test_multilabel_refusals(multilabel):
    X, _, Y, _ = multilabel
    multiclass_multioutput = np.column_stack([Y[:, 0] + Y[:, 1], Y[:, 2]])
    with pytest.raises(ValueError, match="multiclass-multioutput.*MultiOutputClassifier"):
        KerasClassifier(model=build_perceptron, epochs=1).fit(X, multiclass_multioutput)

    def softmax_builder(n_features, n_outputs):
        return build_perceptron(n_features, n_outputs=n_outputs, output_activation="softmax")

    with pytest.raises(ValueError, match="softmax.*sigmoid unit"):
        KerasClassifier(model=softmax_builder, epochs=1).fit(X, Y)
    fitted = KerasClassifier(model=build_perceptron, epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="fitted on a multilabel indicator matrix of 3"):
        fitted.set_params(warm_start=True).fit(X, Y[:, :2])


# ------------------------------------------------- threads in joblib workers
def _fit_in_worker():
    import os

    import tensorflow as tf
    from sklearn.datasets import make_classification

    X, y = make_classification(40, 4, random_state=0)
    KerasClassifier(model=build_perceptron, epochs=1).fit(X, y)
    threading = tf.config.threading
    return (
        os.environ.get("OMP_NUM_THREADS"),
        threading.get_intra_op_parallelism_threads(),
        threading.get_inter_op_parallelism_threads(),
    )


@pytest.mark.tensorflow_only
@pytest.mark.slow  # starts 2 worker processes, each importing TensorFlow
def test_fit_in_a_joblib_worker_uses_its_share_of_the_cores():
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=2)(delayed(_fit_in_worker)() for _ in range(2))
    for omp, intra, inter in results:
        share = max(os.cpu_count() // 2, 1)  # what joblib gives each of 2 workers
        assert omp == str(share)
        assert (intra, inter) == (share, share)
