"""GENERATED flight records: schedule, aircraft and weather -> arrival delay."""

from __future__ import annotations

import numpy as np

from tfzoo._validation import check_int

#: code -> (latitude, longitude, congestion 0..1). Real coordinates, made-up congestion.
AIRPORTS = {
    "ATL": (33.64, -84.43, 1.0),
    "ORD": (41.98, -87.90, 0.95),
    "DFW": (32.90, -97.04, 0.8),
    "DEN": (39.86, -104.67, 0.7),
    "LAX": (33.94, -118.41, 0.85),
    "JFK": (40.64, -73.78, 0.9),
    "SFO": (37.62, -122.38, 0.75),
    "SEA": (47.45, -122.31, 0.5),
    "MIA": (25.79, -80.29, 0.55),
    "BOS": (42.36, -71.01, 0.6),
    "PHX": (33.43, -112.01, 0.45),
    "MSP": (44.88, -93.22, 0.4),
}

#: name -> (log-odds shift of a late departure, schedule padding in minutes). Fictional.
CARRIERS = {
    "Bluejay": (0.0, 8.0),
    "Coastal": (0.4, 5.0),
    "Northwind": (-0.3, 10.0),
    "Redtail": (0.7, 4.0),
    "Summit": (0.2, 12.0),
}

#: name -> cruise speed over ground in still air (km/h).
AIRCRAFT = {"regional": 740.0, "narrowbody": 830.0, "widebody": 900.0}

FEATURES = [
    "origin",
    "destination",
    "carrier",
    "aircraft",
    "distance_km",
    "dep_hour",
    "day_of_week",
    "month",
    "headwind_kmh",
    "precipitation_mm",
    "visibility_km",
    "departure_delay",
]
CATEGORICAL = ["origin", "destination", "carrier", "aircraft"]
TARGET = "arrival_delay"


def _great_circle_km(a, b):
    (lat1, lon1, _), (lat2, lon2, _) = AIRPORTS[a], AIRPORTS[b]
    lat1, lon1, lat2, lon2 = np.radians([lat1, lon1, lat2, lon2])
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


def _rush(hour):
    """Traffic at an airport over the day: peaks at 8:00 and 18:00 (0..1)."""
    return np.exp(-((hour - 8.0) ** 2) / 4.5) + np.exp(-((hour - 18.0) ** 2) / 4.5)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_flights(n=20000, seed=None):
    """GENERATED flight records with the arrival delay (minutes) as target.

    Each row is one scheduled domestic flight between twelve airports; the
    arrival delay (landing time minus scheduled landing time, in minutes,
    negative when early) follows a documented, nonlinear, noisy process
    (``datasets/flights.md``): the departure delay carried over, partly made up
    in the air on long flights; taxi-out and arrival holding that peak with
    the airports' rush hours (8:00 and 18:00) in proportion to their
    congestion; the headwind stretching the air time
    ``distance / (speed - headwind)``; holding for rain and for fog (smooth
    thresholds); the carrier's schedule padding; and Gaussian noise
    (σ = 5 min). Given the features, only the noise is unpredictable, so the
    best possible RMSE is about 5 minutes.

    Args:
        n: number of flights.
        seed: seed of ``numpy.random.default_rng`` (``None``: fresh entropy).

    Returns:
        A pandas DataFrame with ``n`` rows: the categorical columns ``origin``,
        ``destination``, ``carrier``, ``aircraft`` (dtype ``category``); the
        integer columns ``dep_hour`` (scheduled, 5..22), ``day_of_week``
        (0 = Monday), ``month`` (1..12); the float columns ``distance_km``,
        ``headwind_kmh`` (along the route, negative for a tailwind),
        ``precipitation_mm`` and ``visibility_km`` (at the destination on
        arrival), ``departure_delay`` (minutes) and the target
        ``arrival_delay`` (minutes).
    """
    import pandas as pd

    n = check_int(n, "n")
    rng = np.random.default_rng(seed)
    codes = list(AIRPORTS)
    congestion = np.array([AIRPORTS[c][2] for c in codes])
    # Busier airports have more flights.
    weights = (0.5 + congestion) / (0.5 + congestion).sum()
    origin = rng.choice(len(codes), n, p=weights)
    shift = rng.integers(1, len(codes), n)  # destination != origin
    destination = (origin + shift) % len(codes)
    distance = np.array(
        [[_great_circle_km(a, b) if a != b else 0.0 for b in codes] for a in codes]
    )[origin, destination]

    carriers = list(CARRIERS)
    carrier = rng.integers(0, len(carriers), n)
    late_shift = np.array([CARRIERS[c][0] for c in carriers])[carrier]
    padding = np.array([CARRIERS[c][1] for c in carriers])[carrier]

    kinds = list(AIRCRAFT)
    # Short routes mostly regional jets, long ones mostly wide bodies.
    logits = np.stack(
        [
            1.5 - distance / 800.0,
            np.ones(n),
            distance / 1200.0 - 2.5,
        ],
        axis=1,
    )
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    aircraft = (probs.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    speed = np.array([AIRCRAFT[k] for k in kinds])[aircraft]

    hour_weights = 1.0 + 0.8 * _rush(np.arange(5, 23))
    dep_hour = rng.choice(np.arange(5, 23), n, p=hour_weights / hour_weights.sum())
    day_of_week = rng.integers(0, 7, n)
    month = rng.integers(1, 13, n)
    summer = np.isin(month, [6, 7, 8]).astype(float)
    winter = np.isin(month, [12, 1, 2]).astype(float)
    busy_day = np.isin(day_of_week, [4, 6]).astype(float)  # Friday, Sunday

    # Weather at the destination on arrival.
    wind = rng.rayleigh(25.0, n)
    headwind = wind * np.cos(rng.uniform(0, 2 * np.pi, n)) + 15.0  # prevailing westerlies
    rainy = rng.random(n) < 0.15 + 0.15 * summer
    precipitation = np.where(rainy, rng.gamma(1.5, 4.0, n), 0.0)
    visibility = np.clip(rng.gamma(6.0 + 4.0 * (1 - winter), 2.0, n) - 3.0 * rainy, 0.2, 30.0)

    # Departure delay: most flights leave about on time, some late (heavy tail),
    # more often late in the day, in summer and December, at busy airports.
    p_late = _sigmoid(
        -2.0
        + 0.09 * (dep_hour - 5)
        + 0.5 * summer
        + 0.6 * (month == 12)
        + 0.8 * congestion[origin]
        + late_shift
    )
    late = rng.random(n) < p_late
    departure_delay = np.where(late, rng.exponential(35.0, n) + 5.0, rng.normal(-2.0, 3.0, n))

    # Arrival delay = what the schedule did not foresee.
    scheduled_air = 60.0 * distance / speed
    air_time = 60.0 * distance / (speed - headwind)
    # Late crews fly faster: up to 8% of the air time, only when clearly late.
    made_up = np.minimum(np.maximum(departure_delay, 0.0), 0.08 * scheduled_air)
    made_up = made_up * _sigmoid((departure_delay - 15.0) / 5.0)
    dep_time = dep_hour + departure_delay / 60.0
    arr_hour = (dep_time + air_time / 60.0) % 24
    taxi_out = 14.0 * congestion[origin] * _rush(dep_time) * (1.0 + 0.3 * busy_day)
    holding = (
        10.0 * congestion[destination] * _rush(arr_hour)
        + 20.0 * _sigmoid((precipitation - 8.0) / 2.0)
        + 25.0 * _sigmoid((1.5 - visibility) / 0.4)
    )
    arrival_delay = (
        departure_delay
        + taxi_out
        + (air_time - scheduled_air)
        - made_up
        + holding
        - padding
        + rng.normal(0.0, 5.0, n)
    )
    frame = pd.DataFrame(
        {
            "origin": pd.Categorical.from_codes(origin, codes),
            "destination": pd.Categorical.from_codes(destination, codes),
            "carrier": pd.Categorical.from_codes(carrier, carriers),
            "aircraft": pd.Categorical.from_codes(aircraft, kinds),
            "distance_km": distance.round(1),
            "dep_hour": dep_hour.astype(np.int64),
            "day_of_week": day_of_week.astype(np.int64),
            "month": month.astype(np.int64),
            "headwind_kmh": headwind.round(1),
            "precipitation_mm": precipitation.round(1),
            "visibility_km": visibility.round(1),
            "departure_delay": departure_delay.round(1),
            TARGET: arrival_delay.round(1),
        }
    )
    return frame
