"""scikit-learn's conformance suite: the image and sequence estimators (see ``sklearn_suite``)."""

import pytest

from tests.estimators.sklearn_suite import ND_ESTIMATORS, check_params, for_check


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::tfzoo.models.RankDeficientWarning")
@check_params(ND_ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(for_check(estimator, check))
