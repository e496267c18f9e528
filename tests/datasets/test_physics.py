import numpy as np
import pytest

from tfzoo.datasets import incline_pulley_speed, make_incline_pulley


def test_incline_pulley_speed_is_energy_conservation():
    # M = 2 kg falls 1 m, m = 1 kg on a 30° incline rises 0.5 m:
    # (2 - 0.5) g = ½ · 3 · v²  ->  v = sqrt(g)
    v = incline_pulley_speed(2.0, 1.0, np.pi / 6, 1.0, g=9.81)
    assert v == pytest.approx(np.sqrt(9.81))
    # a flat table (θ = 0) is a cart pulled by the hanging mass: v² = 2ghM / (m + M)
    assert incline_pulley_speed(1.0, 3.0, 0.0, 2.0) == pytest.approx(np.sqrt(2 * 9.81 * 2 / 4))
    # the block is too heavy: the system does not move that way
    assert np.isnan(incline_pulley_speed(1.0, 3.0, np.pi / 2, 1.0))


def test_make_incline_pulley_ranges_and_noise():
    X, y = make_incline_pulley(500, seed=3)
    assert list(X.columns) == ["M", "m", "theta", "h"] and y.name == "v"
    assert X.shape == (500, 4) and y.shape == (500,)
    assert X["M"].between(1, 5).all() and X["h"].between(0.1, 1).all()
    assert (X["M"] > X["m"] * np.sin(X["theta"])).all()
    exact = incline_pulley_speed(X["M"], X["m"], X["theta"], X["h"])
    relative = y / exact - 1
    assert abs(relative.std() - 0.02) < 0.005 and (y > 0).all()
    X2, y2 = make_incline_pulley(500, seed=3)
    np.testing.assert_array_equal(y, y2)  # deterministic for a seed

    X, y = make_incline_pulley(50, ranges={"h": (2.0, 3.0)}, noise=0.0, seed=0)
    assert X["h"].min() >= 2.0
    np.testing.assert_allclose(y, incline_pulley_speed(X["M"], X["m"], X["theta"], X["h"]))


def test_make_incline_pulley_errors():
    with pytest.raises(ValueError, match="unknown keys"):
        make_incline_pulley(10, ranges={"mass": (1, 2)})
    with pytest.raises(ValueError, match="noise"):
        make_incline_pulley(10, noise=0.5)
    with pytest.raises(ValueError, match="almost"):
        make_incline_pulley(10, ranges={"M": (0.1, 0.2), "m": (5, 6), "theta": (1.4, 1.5)})
