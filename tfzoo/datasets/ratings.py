"""GENERATED movie ratings: who watched what, and the stars they gave."""

from __future__ import annotations

import numbers

import numpy as np

from tfzoo._validation import check_int

#: Ground-truth genres of the generated movies.
GENRES = ("action", "comedy", "drama", "horror", "romance", "sci-fi")


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def make_ratings(
    n_users=1000,
    n_items=500,
    n_factors=8,
    ratings_per_user=40,
    popularity_skew=1.0,
    affinity=3.0,
    noise=0.5,
    seed=None,
    return_truth=False,
):
    """GENERATED ratings from a latent-factor model with a popularity skew.

    Each movie has a genre (one of :data:`GENRES`), a quality and a vector
    ``qᵢ`` near its genre's centre in ``n_factors`` dimensions; each user a
    favourite genre, a vector ``pᵤ`` near that genre's centre and a
    leniency. The movies a user watches are drawn without replacement with
    probabilities ``∝ popularityᵢ · exp(affinity · pᵤ·qᵢ)``, where popularity
    follows Zipf's law ``rank^-popularity_skew`` over a ranking that favours
    quality: users watch what is popular and what suits their taste. Each
    watched movie gets ``clip(round(2.6 + leniencyᵤ + qualityᵢ + pᵤ·qᵢ + ε), 1, 5)``
    stars with ``ε ~ N(0, noise²)``. See ``datasets/ratings.md``.

    Args:
        n_users: number of users (ids ``0 … n_users-1``).
        n_items: number of movies (ids ``0 … n_items-1``).
        n_factors: dimension of the latent taste space.
        ratings_per_user: mean number of movies a user watched (at least 5
            each; at most ``n_items``).
        popularity_skew: Zipf exponent of popularity (0: all equally popular).
        affinity: how strongly taste drives what is watched (0: popularity only).
        noise: standard deviation of the rating noise, in stars.
        seed: seed of ``numpy.random.default_rng`` (``None``: fresh entropy).
        return_truth: also return the generating parameters.

    Returns:
        A pandas DataFrame with one row per watched movie, sorted by user:
        ``user`` and ``item`` (int64 ids) and ``rating`` (int64 stars, 1..5).
        With ``return_truth=True``, ``(ratings, truth)`` where ``truth`` is a
        dict of arrays: ``user_factors`` ``(n_users, n_factors)``,
        ``item_factors`` ``(n_items, n_factors)``, ``item_genre`` (indices
        into :data:`GENRES`), ``item_popularity`` (sums to 1),
        ``item_quality`` and ``user_bias`` (leniency).
    """
    import pandas as pd

    n_users = check_int(n_users, "n_users")
    n_items = check_int(n_items, "n_items")
    n_factors = check_int(n_factors, "n_factors")
    ratings_per_user = check_int(ratings_per_user, "ratings_per_user")
    if n_items < 5:
        raise ValueError(f"n_items must be at least 5 (each user watches 5 or more), got {n_items}")
    popularity_skew = _non_negative(popularity_skew, "popularity_skew")
    affinity = _non_negative(affinity, "affinity")
    noise = _non_negative(noise, "noise")
    rng = np.random.default_rng(seed)

    n_genres = len(GENRES)
    centres = rng.normal(0.0, 1.0, (n_genres, n_factors)) / np.sqrt(n_factors) * 1.2
    item_genre = rng.integers(0, n_genres, n_items)
    item_factors = centres[item_genre] + rng.normal(
        0.0, 0.5 / np.sqrt(n_factors), (n_items, n_factors)
    )
    favourite = rng.integers(0, n_genres, n_users)
    user_factors = centres[favourite] + rng.normal(
        0.0, 0.7 / np.sqrt(n_factors), (n_users, n_factors)
    )
    item_quality = rng.normal(0.0, 0.4, n_items)
    user_bias = rng.normal(0.0, 0.3, n_users)

    # Zipf popularity over a ranking that favours good movies.
    order = np.argsort(-(item_quality / 0.4 + rng.normal(0.0, 1.0, n_items)))
    rank = np.empty(n_items)
    rank[order] = np.arange(1, n_items + 1)
    popularity = rank**-popularity_skew
    popularity /= popularity.sum()

    taste = user_factors @ item_factors.T  # (n_users, n_items)
    counts = np.clip(5 + rng.poisson(max(ratings_per_user - 5, 0), n_users), 5, n_items)
    # Weighted sampling without replacement: the top-k of log-weight + Gumbel noise.
    keys = np.log(popularity) + affinity * taste + rng.gumbel(size=(n_users, n_items))
    users, items = [], []
    for u in range(n_users):
        chosen = np.argpartition(-keys[u], counts[u] - 1)[: counts[u]]
        users.append(np.full(counts[u], u))
        items.append(np.sort(chosen))
    users = np.concatenate(users)
    items = np.concatenate(items)
    stars = 2.6 + user_bias[users] + item_quality[items] + taste[users, items]
    stars = np.clip(np.rint(stars + rng.normal(0.0, noise, len(users))), 1, 5)
    ratings = pd.DataFrame(
        {
            "user": users.astype(np.int64),
            "item": items.astype(np.int64),
            "rating": stars.astype(np.int64),
        }
    )
    if not return_truth:
        return ratings
    truth = {
        "user_factors": user_factors,
        "item_factors": item_factors,
        "item_genre": item_genre,
        "item_popularity": popularity,
        "item_quality": item_quality,
        "user_bias": user_bias,
    }
    return ratings, truth
