"""LSTMRegressor on series as users have them: raw scale, pandas, forecasts (issue #14)."""

import numpy as np
import pandas as pd
import pytest

from tfzoo import LSTMRegressor
from tfzoo.datasets import make_sales_series, make_windows

WINDOW = 30


def sales(T=900, seed=0):
    """Daily sales around 100, rising, with a 30-day season: not unit scale."""
    return make_sales_series(T, seed=seed)


@pytest.fixture(scope="module")
def fitted():
    series = sales()
    est = LSTMRegressor(window=WINDOW, epochs=25, random_state=0).fit(series[:700])
    return est, series


def test_raw_scale_series_beats_persistence_by_20_percent(fitted):
    est, series = fitted
    X, y = make_windows(series[700 - WINDOW :].to_numpy(), WINDOW, 1)
    pred = est.predict(X)
    assert pred.shape == (len(X),)  # one target: (n,), as documented
    rmse = np.sqrt(np.mean((pred - y[:, 0]) ** 2))
    persistence = np.sqrt(np.mean((X[:, -1, 0] - y[:, 0]) ** 2))
    assert rmse < 0.8 * persistence, (rmse, persistence)
    # score takes the series as fit does (R² over its windows)
    assert est.score(series[700 - WINDOW :]) > 0.8


def test_without_standardizing_the_same_model_does_worse(fitted):
    _, series = fitted
    raw = LSTMRegressor(window=WINDOW, epochs=25, random_state=0, standardize=False)
    raw.fit(series[:700])
    assert raw.score(series[700 - WINDOW :]) < fitted[0].score(series[700 - WINDOW :])


def test_forecast_continues_the_date_index(fitted):
    est, series = fitted
    steps = 15
    forecast = est.forecast(steps)
    assert isinstance(forecast, pd.Series) and forecast.name == "sales"
    expected_index = pd.date_range(series.index[699], periods=steps + 1, freq="D")[1:]
    pd.testing.assert_index_equal(forecast.index, expected_index)
    truth = series.iloc[700 : 700 + steps].to_numpy()
    flat = np.full(steps, series.iloc[699])  # "every future day = the last day"
    assert np.sqrt(np.mean((forecast.to_numpy() - truth) ** 2)) < np.sqrt(
        np.mean((flat - truth) ** 2)
    )
    # from a given series: its end, not the fitted one's
    later = est.forecast(3, series=series[:800])
    assert later.index[0] == series.index[800]


def test_predict_takes_a_dataframe_window_without_feature_name_warnings(fitted):
    est, series = fitted
    window = series.iloc[700 - WINDOW : 700].to_frame()
    one = est.predict(window)  # warnings are errors in this suite
    np.testing.assert_allclose(one, est.predict(window.to_numpy()[None]), rtol=1e-6)


def test_multivariate_dataframe_forecast_keeps_columns_and_scale():
    base = sales(500, seed=1)
    frame = pd.DataFrame(
        {"a": base.to_numpy(), "b": base.to_numpy() * 2 + 50, "c": 300 - base.to_numpy()},
        index=base.index,
    )
    est = LSTMRegressor(window=WINDOW, epochs=8, random_state=0).fit(frame[:400])
    forecast = est.forecast(4)
    assert list(forecast.columns) == ["a", "b", "c"]
    assert forecast.shape == (4, 3)
    # each column forecast near its own level, not pulled to a common scale
    levels = frame.iloc[380:400].mean().to_numpy()
    assert np.all(np.abs(forecast.to_numpy() - levels).max(axis=0) < 0.2 * np.abs(levels))


def test_forecast_needs_the_series_mode():
    rng = np.random.default_rng(0)
    est = LSTMRegressor(units=4, epochs=1).fit(rng.normal(size=(20, 5)), rng.normal(size=20))
    with pytest.raises(ValueError, match="fitted on a series"):
        est.forecast(3)
