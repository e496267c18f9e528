import numpy as np
import pandas as pd
import pytest

from tfzoo.datasets import make_ratings
from tfzoo.datasets.ratings import GENRES


def test_shape_dtypes_and_ranges():
    ratings = make_ratings(50, 40, ratings_per_user=10, seed=0)
    assert list(ratings.columns) == ["user", "item", "rating"]
    assert all(ratings[c].dtype == np.int64 for c in ratings.columns)
    assert ratings["user"].between(0, 49).all() and ratings["item"].between(0, 39).all()
    assert ratings["rating"].between(1, 5).all()
    counts = ratings.groupby("user").size()
    assert len(counts) == 50 and counts.min() >= 5
    assert not ratings.duplicated(["user", "item"]).any()  # watched at most once
    assert 8 < len(ratings) / 50 < 12


def test_truth_and_popularity_skew():
    ratings, truth = make_ratings(300, 100, n_factors=4, seed=1, return_truth=True)
    assert truth["user_factors"].shape == (300, 4) and truth["item_factors"].shape == (100, 4)
    assert truth["item_genre"].shape == (100,) and truth["item_genre"].max() < len(GENRES)
    np.testing.assert_allclose(truth["item_popularity"].sum(), 1.0)
    views = np.bincount(ratings["item"], minlength=100)
    top = np.argsort(-truth["item_popularity"])
    assert views[top[:10]].mean() > 3 * views[top[-10:]].mean()
    flat = make_ratings(300, 100, popularity_skew=0.0, affinity=0.0, seed=1)
    assert np.bincount(flat["item"], minlength=100).std() < views.std() / 2


def test_same_seed_same_frame():
    pd.testing.assert_frame_equal(make_ratings(40, 30, seed=3), make_ratings(40, 30, seed=3))
    assert not make_ratings(40, 30, seed=3).equals(make_ratings(40, 30, seed=4))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_users": 0}, "n_users must be a positive integer, got 0"),
        ({"n_items": 2.5}, "n_items must be a positive integer, got 2.5"),
        ({"n_items": 3}, "n_items must be at least 5"),
        ({"ratings_per_user": -1}, "ratings_per_user must be a positive integer"),
        ({"popularity_skew": -1.0}, "popularity_skew must be a non-negative number"),
        ({"noise": float("nan")}, "noise must be a non-negative number"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_ratings(**kwargs)
