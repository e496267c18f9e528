import numpy as np
import pandas as pd
import pytest

from tfzoo.datasets import make_flights
from tfzoo.datasets.flights import AIRPORTS, CATEGORICAL, FEATURES, TARGET


def test_shape_columns_and_dtypes():
    frame = make_flights(500, seed=0)
    assert frame.shape == (500, 13)
    assert list(frame.columns) == FEATURES + [TARGET]
    for column in CATEGORICAL:
        assert isinstance(frame[column].dtype, pd.CategoricalDtype), column
    for column in ("dep_hour", "day_of_week", "month"):
        assert frame[column].dtype == np.int64, column
    for column in ("distance_km", "headwind_kmh", "precipitation_mm", "visibility_km"):
        assert frame[column].dtype == np.float64, column
    assert frame[TARGET].dtype == np.float64
    assert not frame.isna().any().any()


def test_values_are_plausible():
    frame = make_flights(2000, seed=1)
    assert (frame["origin"] != frame["destination"]).all()
    assert set(frame["origin"].cat.categories) == set(AIRPORTS)
    assert frame["dep_hour"].between(5, 22).all() and frame["month"].between(1, 12).all()
    assert frame["day_of_week"].between(0, 6).all()
    assert frame["distance_km"].between(100, 5000).all()
    assert (frame["precipitation_mm"] >= 0).all() and (frame["visibility_km"] > 0).all()
    # The departure delay carries over: the strongest single signal, but not all of it.
    corr = np.corrcoef(frame["departure_delay"], frame[TARGET])[0, 1]
    assert 0.8 < corr < 0.99


def test_same_seed_same_frame():
    pd.testing.assert_frame_equal(make_flights(300, seed=7), make_flights(300, seed=7))
    assert not make_flights(300, seed=7).equals(make_flights(300, seed=8))


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "10"])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        make_flights(n)
