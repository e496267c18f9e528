"""scikit-learn's own conformance suite over every tfzoo estimator."""

import pytest
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from tfzoo import (
    CNNClassifier,
    KerasClassifier,
    KerasRegressor,
    LinearRegressor,
    LSTMClassifier,
    LSTMRegressor,
    PerceptronClassifier,
    PerceptronRegressor,
)
from tfzoo.models import build_perceptron


def softmax_perceptron(n_features, n_classes, hidden_units=4):
    """A user's builder: softmax over every class, two units for two classes."""
    return build_perceptron(
        n_features,
        hidden_units=hidden_units,
        output_activation="softmax",
        n_outputs=n_classes,
    )


SGD_REASON = (
    "trained by stochastic gradient descent: weighting a row by 2 is not the same "
    "as repeating it once mini-batches are shuffled (scikit-learn lists the same "
    "failure for its own MLP)"
)

# Small, fast settings; the checks' accuracy thresholds still hold with them.
ESTIMATORS = [
    LinearRegressor(),
    LinearRegressor(solver="gd", epochs=40, learning_rate=0.05),
    PerceptronClassifier(hidden_units=4, epochs=40, learning_rate=0.05),
    PerceptronRegressor(hidden_units=4, epochs=40, learning_rate=0.05),
    KerasClassifier(
        model=softmax_perceptron,
        model_kwargs={"hidden_units": 4},
        epochs=40,
        learning_rate=0.05,
    ),
    KerasRegressor(
        model=build_perceptron,
        model_kwargs={"hidden_units": 4, "output_activation": "linear"},
        epochs=40,
        learning_rate=0.05,
    ),
    CNNClassifier(
        filters=(4, 4, 4), dense_units=16, epochs=20, batch_size=32, image_shape=(1, -1, 1)
    ),
    LSTMRegressor(units=8, epochs=30, learning_rate=0.05),
    LSTMClassifier(units=8, epochs=30, learning_rate=0.05),
]


def expected_failed_checks(estimator):
    if isinstance(estimator, LinearRegressor) and estimator.solver == "normal_equations":
        return {}
    failures = {"check_sample_weight_equivalence_on_dense_data": SGD_REASON}
    if get_tags(estimator).input_tags.sparse:
        failures["check_sample_weight_equivalence_on_sparse_data"] = SGD_REASON
    return failures


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::tfzoo.models.RankDeficientWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
