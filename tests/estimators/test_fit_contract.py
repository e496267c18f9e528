"""partial_fit's contract and what a user sees in the logs around fit/predict."""

import inspect
import logging

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import GridSearchCV

from tfzoo import (
    KerasClassifier,
    LSTMClassifier,
    PerceptronClassifier,
    PerceptronRegressor,
)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=60, centers=3, n_features=3, random_state=0)


def _fast(**kw):
    return PerceptronClassifier(
        **{"hidden_units": 4, "epochs": 2, "learning_rate": 0.05, "random_state": 0, **kw}
    )


def _positional(method):
    return [
        p.name
        for p in inspect.signature(method).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]


@pytest.mark.parametrize("cls", [PerceptronClassifier, KerasClassifier, LSTMClassifier])
def test_classifier_partial_fit_takes_arguments_in_sgdclassifiers_order(cls):
    assert _positional(cls.partial_fit) == _positional(SGDClassifier.partial_fit)


def test_regressor_partial_fit_takes_arguments_in_sgdregressors_order():
    assert _positional(PerceptronRegressor.partial_fit) == _positional(SGDRegressor.partial_fit)


def test_partial_fit_positional_classes_are_classes(blobs):
    X, y = blobs
    clf = _fast().partial_fit(X, y, [0, 1, 2, 3])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2, 3])
    assert clf.predict_proba(X).shape == (len(X), 4)


def test_partial_fit_with_other_classes_than_the_first_call_raises(blobs):
    X, y = blobs
    clf = _fast().partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y, classes=[2, 1, 0])  # the same labels, in another order
    clf.partial_fit(X, y)
    with pytest.raises(
        ValueError,
        match=r"`classes=\[0, 1, 2, 3\]` is not the same as on last call to partial_fit, "
        r"was: array\(\[0, 1, 2\]\)",
    ):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    fitted = _fast().fit(X, y)
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
        fitted.partial_fit(X, y, classes=[0, 1])


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_fit_predict_and_grid_search_do_not_log_retracing(blobs):
    X, y = blobs
    # TensorFlow's frequent-tracing detector is process-wide, keyed by the code of Keras's
    # train function and looking at its last 10 calls: earlier tests in this worker (new
    # models stepped once by partial_fit, each call a trace) can leave traces in that window.
    # One fit of 10 epochs (traced once, then 19 calls without tracing) pushes them out, so
    # what is checked below is this test's own calls.
    _fast(epochs=10).fit(X, y)
    capture = _Capture()
    logger = logging.getLogger("tensorflow")
    logger.addHandler(capture)
    try:
        clf = _fast().fit(X, y)
        for n in (1, 7, 60):
            clf.predict(X[:n])
            clf.predict_proba(X[:n].astype(np.float32))
        for _ in range(3):  # what a grid search does: clone, fit, predict
            clone(clf).fit(X, y).predict(X)
        search = GridSearchCV(_fast(), {"hidden_units": [2, 4]}, cv=3).fit(X, y)
        search.predict(X[:5])
    finally:
        logger.removeHandler(capture)
    assert not [m for m in capture.messages if "retracing" in m]


def test_refits_leave_no_functions_behind_in_tensorflows_context(blobs):
    # Adam's slot variables created inside Keras's first traced training step
    # left 16 tf.cond branch functions (~3 MB) per fit in the eager context.
    import gc

    from tensorflow.python.eager import context

    def functions():
        gc.collect()  # a dropped model's own functions go with it
        return len(context.context().list_function_names())

    X, y = blobs
    clf = _fast()
    clf.fit(X, y).predict(X)
    before = functions()
    for seed in range(3):
        clf.set_params(random_state=seed).fit(X, y).predict(X)
        clone(clf).fit(X, y).predict(X)
    assert functions() == before
