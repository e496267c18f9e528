"""Time series: windowing, generated series, and series that packages ship."""

from __future__ import annotations

import numpy as np

from tfzoo._validation import check_int


def make_windows(series, window, horizon=1, target_columns=None, stride=1):
    """Cut a series into ``(window -> next horizon values)`` training pairs.

    Args:
        series: ``(T,)`` or ``(T, n_features)`` array (time along axis 0).
        window: input steps per sample.
        horizon: steps ahead to predict.
        target_columns: columns to predict (default: all).
        stride: steps between consecutive windows.

    Returns:
        ``X`` ``(n, window, n_features)`` and ``y`` ``(n, horizon * n_targets)``
        where ``y[i, j * n_targets + k]`` is column ``k`` at step
        ``start_i + window + j``; ``n = (T - window - horizon) // stride + 1``.
    """
    arr = np.asarray(series, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"series must be (T,) or (T, n_features), got shape {arr.shape}")
    window = check_int(window, "window")
    horizon = check_int(horizon, "horizon")
    n = (arr.shape[0] - window - horizon) // stride + 1
    if n < 1:
        raise ValueError(
            f"a series of {arr.shape[0]} steps is too short for window={window} and "
            f"horizon={horizon}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("Input series contains NaN or infinity.")
    cols = list(range(arr.shape[1])) if target_columns is None else list(target_columns)
    starts = np.arange(n) * stride
    X = np.stack([arr[s : s + window] for s in starts])
    y = np.stack([arr[s + window : s + window + horizon][:, cols].reshape(-1) for s in starts])
    return X, y


def make_seasonal_series(n=2000, period=50, noise=0.1, seed=0):
    """A generated series: two seasonal cycles, a slow trend and AR(1) noise.

    Predictable enough for a forecaster to beat "tomorrow = today". Returns ``(n,)``.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    ar = np.zeros(n)
    eps = rng.normal(0, noise, n)
    for i in range(1, n):
        ar[i] = 0.7 * ar[i - 1] + eps[i]
    return (
        np.sin(2 * np.pi * t / period)
        + 0.5 * np.sin(2 * np.pi * t / (period / 3.7))
        + 0.001 * t
        + ar
    )


def make_price_series(n=1500, seed=0, start=100.0, return_components=False):
    """A *synthetic* daily price series (not market data).

    Log-price = slow random-walk trend + a 20-day cycle + mean-reverting
    AR(1) deviations; prices are ``start * exp(log-price)``. Returns ``(n,)``,
    or with ``return_components=True`` ``(prices, best_next)``, where
    ``best_next[t]`` is the generator's own expectation of ``prices[t]`` from
    everything before it (the trend's drift, the known cycle, the AR
    deviation's reversion): the forecast no model can beat on average, to
    show how much of "tomorrow = today"'s error is predictable at all (about
    18%: most of a day's change is noise). ``best_next[0]`` is NaN.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    drift, phi = 0.0002, 0.85
    trend = np.cumsum(rng.normal(drift, 0.002, n))
    dev = np.zeros(n)
    for i in range(1, n):
        dev[i] = phi * dev[i - 1] + rng.normal(0, 0.01)
    cycle = 0.03 * np.sin(2 * np.pi * t / 20)
    prices = start * np.exp(trend + cycle + dev)
    if not return_components:
        return prices
    # E[exp(z)] of the next log-price z ~ N(m, s²) is exp(m + s²/2)
    var = 0.002**2 + 0.01**2
    best = np.full(n, np.nan)
    best[1:] = start * np.exp(trend[:-1] + drift + cycle[1:] + phi * dev[:-1] + var / 2)
    return prices, best


def make_sales_series(n=900, level=100.0, trend=0.02, period=30, amplitude=5.0, noise=1.0, seed=0):
    """Daily sales as users have them: around ``level``, rising, with a season.

    ``level + trend * t + amplitude * sin(2 pi t / period) + N(0, noise²)``, as
    a pandas Series named ``"sales"`` with a daily ``DatetimeIndex`` from
    2024-01-01: raw scale (not standardised), dates and all. Returns a
    ``pandas.Series`` of ``n`` days.
    """
    import pandas as pd

    n = check_int(n, "n", minimum=2)
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = (
        level + trend * t + amplitude * np.sin(2 * np.pi * t / period) + rng.normal(0, noise, n)
    )
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=n, freq="D"), name="sales")


def load_sunspots():
    """Yearly sunspot numbers 1700-2008 (309 values), shipped by statsmodels.

    Needs the ``statsmodels`` package (the ``test`` extra installs it).
    Returns ``(years, values)`` as float arrays.
    """
    try:
        from statsmodels.datasets import sunspots
    except ImportError as exc:  # pragma: no cover
        raise ImportError("load_sunspots needs statsmodels: pip install statsmodels") from exc
    frame = sunspots.load_pandas().data
    return frame["YEAR"].to_numpy(float), frame["SUNACTIVITY"].to_numpy(float)


DRIVER_PROFILES = {
    # target speed (m/s), acceleration noise, steering jerk
    "calm": (22.0, 0.15, 0.02),
    "normal": (26.0, 0.35, 0.05),
    "aggressive": (30.0, 0.8, 0.12),
}


def make_driving_sequences(n=900, steps=60, seed=0):
    """GENERATED driving traces for sequence classification (driver profile).

    Each sequence is ``steps`` seconds of (speed, acceleration, steering) of one
    simulated driver; the profile sets the cruising speed, how noisily the
    driver accelerates and how jerky the steering is (``DRIVER_PROFILES``).
    Speeds start at random and overlap between profiles, so the classifier
    has to use the dynamics, not just the level.

    Returns:
        ``X`` float32 ``(n, steps, 3)`` and labels ``y`` (profile names), shuffled.
    """
    rng = np.random.default_rng(seed)
    names = list(DRIVER_PROFILES)
    labels = rng.integers(0, len(names), n)
    X = np.zeros((n, steps, 3), np.float32)
    for i, k in enumerate(labels):
        target, acc_noise, jerk = DRIVER_PROFILES[names[k]]
        target += rng.normal(0, 2.0)
        speed = rng.uniform(15, 32)
        steer = 0.0
        for t in range(steps):
            acc = 0.1 * (target - speed) + rng.normal(0, acc_noise)
            speed = max(0.0, speed + acc)
            steer = 0.8 * steer + rng.normal(0, jerk)
            X[i, t] = (speed / 30.0, acc, steer * 10)
    return X, np.array(names)[labels]
