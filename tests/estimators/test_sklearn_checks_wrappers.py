"""scikit-learn's conformance suite: KerasClassifier and KerasRegressor, and the multilabel
checks (see ``sklearn_suite``)."""

import pytest

from tests.estimators.sklearn_suite import (
    MULTILABEL_CHECKS,
    WRAPPER_ESTIMATORS,
    check_params,
    for_check,
)
from tfzoo import KerasClassifier
from tfzoo.models import build_perceptron


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::tfzoo.models.RankDeficientWarning")
@check_params(WRAPPER_ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(for_check(estimator, check))


@pytest.mark.slow
@pytest.mark.parametrize("check", MULTILABEL_CHECKS, ids=lambda c: c.__name__)
def test_multilabel_checks(check):
    """scikit-learn's multilabel checks, for a builder with one sigmoid unit per label."""
    clf = KerasClassifier(
        model=build_perceptron, model_kwargs={"hidden_units": 4}, epochs=20, learning_rate=0.05
    )
    check("KerasClassifier", clf)
