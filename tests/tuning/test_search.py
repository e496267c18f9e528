import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tfzoo import LinearRegressor, PerceptronClassifier
from tfzoo.tuning import TunedClassifier, TunedRegressor


@pytest.mark.slow
def test_tuned_classifier_in_a_pipeline_is_reproducible():
    X, y = load_breast_cancer(return_X_y=True)
    space = {
        "hidden_units": [2, 4],
        "learning_rate": {"min": 0.003, "max": 0.1, "sampling": "log"},
    }

    def run():
        tuned = TunedClassifier(
            PerceptronClassifier(epochs=5, random_state=0),
            space,
            tuner="random",
            max_trials=3,
            cv=2,
            random_state=0,
        )
        return make_pipeline(StandardScaler(), tuned).fit(X, y)

    pipe = run()
    tuned = pipe[-1]
    assert set(tuned.best_params_) == {"hidden_units", "learning_rate"}
    assert isinstance(tuned.cv_results_, pd.DataFrame) and len(tuned.cv_results_) == 3
    assert {"mean_test_score", "rank_test_score"} <= set(tuned.cv_results_.columns)
    assert tuned.best_score_ == tuned.cv_results_["mean_test_score"].max()
    assert pipe.score(X, y) > 0.9
    assert pipe.predict_proba(X[:3]).shape == (3, 2)
    assert list(tuned.classes_) == [0, 1]
    again = run()[-1]
    assert again.best_params_ == tuned.best_params_
    pd.testing.assert_frame_equal(again.cv_results_, tuned.cv_results_)


def test_tuned_regressor_grid_and_errors():
    X, y = load_diabetes(return_X_y=True)
    tuned = TunedRegressor(
        LinearRegressor(),
        {"l2": [0.0, 1.0, 10.0]},
        tuner="grid",
        max_trials=3,
        cv=3,
        random_state=0,
    ).fit(X, y)
    assert tuned.best_params_["l2"] in (0.0, 1.0, 10.0)
    assert len(tuned.cv_results_) == 3
    assert np.isfinite(tuned.score(X, y))
    with pytest.raises(ValueError, match="does not have"):
        TunedRegressor(LinearRegressor(), {"depth": [1, 2]}).fit(X, y)
    with pytest.raises(
        ValueError, match=r"The 'tuner' parameter of TunedRegressor must be a str among .*'hyper'"
    ):
        TunedRegressor(LinearRegressor(), {"l2": [0.0]}, tuner="hyper").fit(X, y)
    with pytest.raises(ValueError, match="needs min < max"):
        TunedRegressor(LinearRegressor(), {"l2": {"min": 1.0, "max": 0.0}}).fit(X, y)
