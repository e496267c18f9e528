"""predict's shortcut past ``validate_data`` for plain rows changes nothing a user sees."""

import warnings

import numpy as np
import pandas as pd
import pytest

from tfzoo import PerceptronRegressor


def test_plain_rows_predict_as_validated_input_does_and_bad_rows_still_fail():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0])
    est = PerceptronRegressor(hidden_units=4, epochs=2, random_state=0).fit(X, y)
    reference = est.predict(X.tolist())  # a list: validated by scikit-learn
    for rows in (X, X.astype(np.float32), np.asfortranarray(X)):
        got = est.predict(rows)
        expected = reference if rows.dtype == np.float64 else est.predict(rows.tolist())
        np.testing.assert_array_equal(got, expected)
    one = est.predict(X[:1])
    assert one.shape == (1,)
    np.testing.assert_allclose(one, reference[:1], rtol=1e-12)  # float64: 1 ulp at most
    bad = X[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.predict(bad)
    with pytest.raises(
        ValueError, match="X has 3 features, but PerceptronRegressor is expecting 4"
    ):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="0 sample"):
        est.predict(X[:0])
    with pytest.raises(ValueError, match="Expected 2D array"):
        est.predict(X[0])
    # fitted on named columns: plain rows warn as scikit-learn's own estimators do
    frame = pd.DataFrame(X, columns=list("abcd"))
    named = PerceptronRegressor(hidden_units=4, epochs=2, random_state=0).fit(frame, y)
    with warnings.catch_warnings(record=True) as seen:  # (torch adds a NumPy deprecation)
        warnings.simplefilter("always")
        named.predict(X)
    assert any("does not have valid feature names" in str(w.message) for w in seen), seen
    np.testing.assert_array_equal(named.predict(frame), est.predict(X))


def test_predictions_follow_the_weights_after_partial_fit_and_warm_start():
    # On JAX the prediction function holds the weights' values between calls
    # (a 1-row call costs microseconds); every way of training must refresh them.
    import keras

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([2.0, -1.0, 0.5])

    def model_outputs(est):  # the trained model's own float32 call, not the prediction path
        return keras.ops.convert_to_numpy(est.model_(X.astype(np.float32)))[:, 0]

    est = PerceptronRegressor(hidden_units=4, epochs=1, random_state=0).fit(X, y)
    before = est.predict(X[:1])
    np.testing.assert_allclose(est.predict(X), model_outputs(est), rtol=1e-4, atol=1e-5)
    est.partial_fit(X, 3.0 * y)
    assert not np.allclose(est.predict(X[:1]), before)
    np.testing.assert_allclose(est.predict(X), model_outputs(est), rtol=1e-4, atol=1e-5)
    est.set_params(warm_start=True, epochs=2).fit(X, -y)
    np.testing.assert_allclose(est.predict(X[:1]), model_outputs(est)[:1], rtol=1e-4, atol=1e-5)
