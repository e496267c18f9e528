"""Generated physics data: the incline-and-pulley system of the seed.

A block of mass ``m`` rests on a frictionless incline of angle ``θ``; a
string over a massless pulley at the top ties it to a mass ``M`` hanging
freely. Released from rest, ``M`` falls a height ``h`` while the block slides
``h`` up the incline, and energy conservation,
``M g h − m g h sin θ = ½ (m + M) v²``, gives the common speed

    v = sqrt(2 g h (M − m sin θ) / (m + M)).

The system only moves that way when ``M > m sin θ``.
"""

from __future__ import annotations

import numpy as np

G = 9.81

#: Training ranges of ``make_incline_pulley``: masses in kg, angle in radians, height in m.
INCLINE_PULLEY_RANGES = {
    "M": (1.0, 5.0),
    "m": (0.5, 5.0),
    "theta": (0.0, np.pi / 3),
    "h": (0.1, 1.0),
}


def incline_pulley_speed(M, m, theta, h, g=G):
    """The analytic speed ``v = sqrt(2 g h (M − m sin θ) / (m + M))``.

    Args:
        M: hanging mass (kg). m: mass on the incline (kg). theta: incline
            angle (radians). h: height fallen (m). g: gravity (m/s²).
            Arrays broadcast.

    Returns:
        The speed in m/s, NaN where ``M <= m sin θ`` (the hanging mass cannot
        pull the block up).
    """
    M, m, theta, h = (np.asarray(a, dtype=np.float64) for a in (M, m, theta, h))
    drive = M - m * np.sin(theta)
    speed = np.sqrt(2.0 * g * h * np.maximum(drive, 0.0) / (m + M))
    return np.where(drive > 0, speed, np.nan)[()]


def make_incline_pulley(n=2000, *, ranges=None, noise=0.02, seed=0):
    """GENERATED measurements of the incline-and-pulley system.

    ``M``, ``m``, ``θ`` and ``h`` are drawn uniformly from ``ranges``
    (default ``INCLINE_PULLEY_RANGES``; give some keys to override them, e.g.
    larger heights and masses to test extrapolation), keeping only draws with
    ``M > m sin θ``. The measured speed is the analytic one with relative
    Gaussian noise: ``v·(1 + noise·ε)``, ``ε ~ N(0, 1)`` (always positive for
    ``noise < 0.2``).

    Args:
        n: number of measurements.
        ranges: ``{"M" | "m" | "theta" | "h": (low, high)}`` overrides.
        noise: relative standard deviation of the measurement noise on ``v``.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        ``X``, a DataFrame with columns ``M``, ``m``, ``theta``, ``h``, and
        ``y``, the Series ``v`` (m/s).
    """
    import pandas as pd

    bounds = dict(INCLINE_PULLEY_RANGES)
    unknown = set(ranges or {}) - set(bounds)
    if unknown:
        raise ValueError(
            f"ranges has unknown keys {sorted(unknown)}; expected some of {list(bounds)}"
        )
    bounds.update(ranges or {})
    for key, (low, high) in bounds.items():
        if not low <= high or (key != "theta" and low <= 0):
            raise ValueError(
                f"range for {key!r} must have low <= high (and low > 0 for masses and "
                f"heights), got {(low, high)}"
            )
    if not 0 <= noise < 0.2:
        raise ValueError(f"noise must be in [0, 0.2), got {noise!r}")
    rng = np.random.default_rng(seed)
    parts, kept = [], 0
    while kept < n:
        draw = {k: rng.uniform(lo, hi, size=2 * (n - kept) + 16) for k, (lo, hi) in bounds.items()}
        ok = draw["M"] > draw["m"] * np.sin(draw["theta"])
        parts.append({k: v[ok] for k, v in draw.items()})
        kept += int(ok.sum())
        if len(parts) > 100:
            raise ValueError(f"the ranges {bounds} give (almost) no draws with M > m sin(theta)")
    columns = {k: np.concatenate([p[k] for p in parts])[:n] for k in bounds}
    X = pd.DataFrame(columns, columns=["M", "m", "theta", "h"])
    v = incline_pulley_speed(X["M"], X["m"], X["theta"], X["h"])
    v = v * (1.0 + noise * rng.standard_normal(n))
    return X, pd.Series(v, name="v")
