"""Every hypermodel: the full hp.values after one build, defaults = builder defaults,
and an override takes effect."""

import inspect

import keras_tuner as kt
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from tfzoo import (
    CNNClassifier,
    LinearRegressor,
    LSTMClassifier,
    LSTMRegressor,
    PerceptronClassifier,
    TextGenerator,
    tuning,
)
from tfzoo.models import (
    MaskRCNN,
    build_char_rnn,
    build_embedding_recommender,
    build_lstm_classifier,
    build_lstm_forecaster,
    build_mask_rcnn,
    build_perceptron,
    build_small_cnn,
)

LSTM_DEFAULTS = {"units": 64, "num_layers": 1, "dropout": 0.0, "bidirectional": False}

CASES = {
    "linear": (
        lambda: tuning.LinearRegressionHyperModel(5),
        {"l2": 0.0, "optimizer": "adam", "learning_rate": 0.01},
        ("l2", 0.5),
    ),
    "perceptron": (
        lambda: tuning.PerceptronHyperModel(3),
        {
            "hidden_units": 2,
            "hidden_activation": "tanh",
            "optimizer": "adam",
            "learning_rate": 0.01,
        },
        ("hidden_units", 5),
    ),
    "small_cnn": (
        lambda: tuning.SmallCNNHyperModel((16, 16, 1), 4),
        {
            "filters1": 16,
            "filters2": 8,
            "filters3": 12,
            "dense_units": 200,
            "batch_norm": False,
            "dropout": 0.0,
            "optimizer": "adam",
            "learning_rate": 0.004,
        },
        ("dense_units", 64),
    ),
    "lstm_forecaster": (
        lambda: tuning.LSTMForecasterHyperModel(10, 2),
        {**LSTM_DEFAULTS, "optimizer": "adam", "learning_rate": 0.005},
        ("units", 16),
    ),
    "lstm_classifier": (
        lambda: tuning.LSTMClassifierHyperModel(10, 2, 3),
        {**LSTM_DEFAULTS, "optimizer": "adam", "learning_rate": 0.005},
        ("num_layers", 2),
    ),
    "embedding_recommender": (
        lambda: tuning.EmbeddingRecommenderHyperModel(12, 7),
        {"embedding_dim": 32, "l2": 1e-5, "optimizer": "adam", "learning_rate": 0.01},
        ("embedding_dim", 8),
    ),
    "mask_rcnn": (
        lambda: tuning.MaskRCNNHyperModel(3, (64, 64, 3), seed=0),
        {
            "fpn_filters": 64,
            "rpn_filters": 64,
            "fc_units": 256,
            "mask_filters": 64,
            "mask_convs": 2,
            "num_rois": 64,
            "learning_rate": 1e-3,
        },
        ("fc_units", 64),
    ),
    "char_rnn": (
        lambda: tuning.CharRNNHyperModel(20, 12),
        {
            "embedding_dim": 64,
            "units": 384,
            "num_layers": 1,
            "dropout": 0.0,
            "optimizer": "adam",
            "learning_rate": 0.003,
        },
        ("units", 32),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_after_one_build_and_override(name):
    make, expected, (key, value) = CASES[name]
    hp = kt.HyperParameters()
    model = make().build(hp)
    assert hp.values == expected
    assert model.optimizer is not None  # compiled
    hp2 = kt.HyperParameters()
    hp2.Fixed(key, value)
    model2 = make().build(hp2)
    assert hp2.values[key] == value
    assert model2.count_params() != model.count_params() or key == "l2"
    if key == "l2":
        assert model2.get_layer("linear").kernel_regularizer is not None


def _default(fn, arg):
    return inspect.signature(fn).parameters[arg].default


def test_defaults_equal_the_builders():
    assert _default(build_perceptron, "hidden_units") == 2
    assert _default(build_perceptron, "hidden_activation") == "tanh"
    assert _default(build_small_cnn, "filters") == (16, 8, 12)
    assert _default(build_small_cnn, "dense_units") == 200
    assert _default(build_small_cnn, "batch_norm") is False
    assert _default(build_small_cnn, "dropout") == 0.0
    for fn in (build_lstm_forecaster, build_lstm_classifier):
        for k, v in LSTM_DEFAULTS.items():
            assert _default(fn, k) == v, (fn.__name__, k)
    for k in ("embedding_dim", "units", "num_layers", "dropout"):
        assert CASES["char_rnn"][1][k] == _default(build_char_rnn, k)
    for k in ("embedding_dim", "l2"):
        assert CASES["embedding_recommender"][1][k] == _default(build_embedding_recommender, k)
    mask_rcnn = CASES["mask_rcnn"][1]
    assert mask_rcnn["fpn_filters"] == _default(build_mask_rcnn, "fpn_filters")
    for k in ("rpn_filters", "fc_units", "mask_filters", "mask_convs", "num_rois"):
        assert mask_rcnn[k] == _default(MaskRCNN.__init__, k), k


# Each hypermodel and the estimator that trains the same builder: architecture
# defaults are the builder's (above), training defaults the estimator's.
ESTIMATOR_OF = {
    "linear": LinearRegressor,
    "perceptron": PerceptronClassifier,
    "small_cnn": CNNClassifier,
    "lstm_forecaster": LSTMRegressor,
    "lstm_classifier": LSTMClassifier,
    "char_rnn": TextGenerator,
}


@pytest.mark.parametrize("name", sorted(ESTIMATOR_OF))
def test_training_defaults_equal_the_estimators(name):
    hp = kt.HyperParameters()
    CASES[name][0]().build(hp)
    estimator = ESTIMATOR_OF[name]
    for key in ("optimizer", "learning_rate"):
        assert hp.values[key] == _default(estimator.__init__, key), (name, key)


def test_softmax_perceptron_hypermodel_trains_on_integer_labels():
    X, y = make_blobs(n_samples=90, centers=3, n_features=3, random_state=0)
    model = tuning.PerceptronHyperModel(3, n_outputs=3, output_activation="softmax").build(
        kt.HyperParameters()
    )
    history = model.fit(X, y, epochs=30, batch_size=30, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    predicted = np.argmax(model.predict(X, verbose=0), axis=1)
    assert (predicted == y).mean() > 0.6
