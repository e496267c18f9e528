"""Streaming ``partial_fit`` (issue #14 item 5): a stream of small batches trains
as ``fit`` does, through the same compiled train function, tracing nothing new."""

import pickle

import keras
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from tensorflow.python.framework import func_graph

from tfzoo import PerceptronClassifier, PerceptronRegressor
from tfzoo.estimators._base import TrainingDivergedError

BATCH = 50


@pytest.fixture(scope="module")
def task():
    X, y = make_classification(
        n_samples=700, n_features=10, n_informative=6, class_sep=0.8, random_state=0
    )
    return train_test_split(X.astype(np.float32), y, test_size=200, random_state=0)


def classifier(**kwargs):
    return PerceptronClassifier(
        hidden_units=16, batch_size=BATCH, learning_rate=0.01, random_state=0, **kwargs
    )


def test_stream_of_small_batches_reaches_the_accuracy_of_fit(task):
    X, X_test, y, y_test = task
    passes = 15
    fitted = classifier(epochs=passes).fit(X, y)
    streamed = classifier()
    rng = np.random.default_rng(0)
    calls = 0
    for _ in range(passes):  # the same passes over the data, 50 rows a call
        order = rng.permutation(len(X))
        for start in range(0, len(X), BATCH):
            rows = order[start : start + BATCH]
            streamed.partial_fit(X[rows], y[rows], classes=[0, 1])
            calls += 1
    fit_accuracy = fitted.score(X_test, y_test)
    assert fit_accuracy > 0.8  # the task is learnable at this budget
    assert streamed.score(X_test, y_test) >= fit_accuracy - 0.03
    # one entry per call, as scikit-learn's MLP counts partial_fit calls
    assert streamed.n_iter_ == calls == len(streamed.loss_curve_)
    assert streamed.history_["loss"] == streamed.loss_curve_
    assert np.mean(streamed.loss_curve_[-10:]) < np.mean(streamed.loss_curve_[:10])


def test_stream_steps_train_exactly_as_model_fit_with_weights(task):
    """Each call of at most one batch: the direct step and Keras's fit make the
    same update, with sample and class weights (a callback forces model.fit)."""
    X, _, y, _ = task
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(X))
    direct = classifier(class_weight="balanced")
    through_fit = classifier(class_weight="balanced", callbacks=[keras.callbacks.Callback()])
    for est in (direct, through_fit):
        for start in range(0, 200, 40):
            rows = slice(start, start + 40)
            est.partial_fit(X[rows], y[rows], classes=[0, 1], sample_weight=w[rows])
    np.testing.assert_allclose(direct.loss_curve_, through_fit.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(
        direct.predict_proba(X), through_fit.predict_proba(X), rtol=1e-5, atol=1e-7
    )


def test_stream_traces_nothing_after_the_first_calls(task, monkeypatch):
    X, _, y, _ = task
    est = classifier()
    est.partial_fit(X[:BATCH], y[:BATCH], classes=[0, 1])
    est.partial_fit(X[BATCH : BATCH + 30], y[BATCH : BATCH + 30])  # a second batch shape
    est.predict(X[:5])
    train_function = est.model_.train_function
    traces = []
    real = func_graph.func_graph_from_py_func

    def counting(name, *args, **kwargs):
        traces.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(func_graph, "func_graph_from_py_func", counting)
    before = est.predict_proba(X[:20])
    for start, stop in [(100, 150), (150, 170), (170, 270), (270, 320)]:
        est.partial_fit(X[start:stop], y[start:stop])
    after = est.predict_proba(X[:20])
    assert traces == []  # neither the train step nor the predict function is rebuilt
    assert est.model_.train_function is train_function
    # predictions follow the trained weights (a pickled copy traces its own function)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, pickle.loads(pickle.dumps(est)).predict_proba(X[:20]))


def test_stream_that_diverges_raises():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    est = PerceptronRegressor(hidden_units=2, batch_size=BATCH, random_state=0)
    est.partial_fit(X, y.astype(float))
    with pytest.raises(TrainingDivergedError, match="Training diverged.*StandardScaler"):
        est.partial_fit(X, y * 1e30)
