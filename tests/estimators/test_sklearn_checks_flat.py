"""scikit-learn's conformance suite: linear regression and the perceptrons
(see ``sklearn_suite``)."""

import pytest

from tests.estimators.sklearn_suite import FLAT_ESTIMATORS, check_params, for_check


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::tfzoo.models.RankDeficientWarning")
@check_params(FLAT_ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(for_check(estimator, check))
