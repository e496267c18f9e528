import numpy as np
import pytest

from tfzoo.datasets import SteeringTrack, make_steering_data


@pytest.fixture(scope="module")
def track():
    return SteeringTrack(n_points=200)


def test_geometry_and_projection(track):
    assert track.centreline.shape == (200, 2)
    assert 120 < track.length < 150
    # the default loop has right bends (negative curvature) between its left ones
    assert track.curvature.min() < 0 < track.curvature.max()
    poses = track.start_poses(5, offset=1.0)
    s, offset, _ = track.project(poses[:, :2])
    assert ((s >= 0) & (s < track.length)).all()
    gap = (s - np.arange(5) * track.length / 5 + track.length / 2) % track.length - track.length / 2
    np.testing.assert_allclose(gap, 0.0, atol=0.1)  # polyline vertices vs. their normals
    np.testing.assert_allclose(offset, 1.0, atol=0.02)
    assert track.on_track(poses).all()
    assert not track.on_track(track.start_poses(2, offset=track.width)).any()


def test_sensors_see_the_borders(track):
    # On the centreline, heading along it, rays at ±90° meet the borders at width / 2.
    side = SteeringTrack(n_points=200, sensor_angles=(-90.0, 90.0), sensor_noise=0.0)
    ranges = side.sense(side.start_poses(6))
    np.testing.assert_allclose(ranges, side.width / 2, rtol=0.03)
    readings = track.sense(track.start_poses(6))
    assert readings.shape == (6, 4) and (readings > 0).all()
    assert (readings <= track.max_range).all()
    noisy = track.sense(track.start_poses(6), rng=np.random.default_rng(0))
    assert not np.allclose(noisy, readings)


def test_expert_laps_and_straight_crashes(track):
    starts = track.start_poses(4, offset=0.8, heading=0.2)
    steps = int(1.2 * track.length / track.speed / track.dt)
    expert = track.rollout("expert", starts, steps, seed=0)
    assert not expert["left_track"].any()
    assert (expert["laps"] > 1.1).all()
    assert expert["path"].shape == (steps + 1, 4, 2) and expert["steer"].shape == (steps, 4)
    straight = track.rollout(lambda r: np.zeros(len(r)), starts, steps)
    assert straight["left_track"].all() and (straight["laps"] < 0.3).all()


def test_make_steering_data(track):
    X, y = make_steering_data(6, 40, track=track, seed=1)
    assert X.shape == (240, 4) and y.shape == (240,)
    assert X.dtype == np.float32 and y.dtype == np.float32
    assert np.abs(y).max() <= track.max_steer
    X2, y2 = make_steering_data(6, 40, track=track, seed=1)
    np.testing.assert_array_equal(y, y2)
    # a policy drives, the expert labels (DAgger)
    calls = []

    def policy(readings):
        calls.append(readings.shape)
        return np.zeros(len(readings))

    X3, y3 = make_steering_data(3, 10, track=track, policy=policy, noise=0.0, seed=0)
    assert calls == [(3, 4)] * 10 and y3.shape == (30,)
    with pytest.raises(ValueError, match="n_cars"):
        make_steering_data(0, 10, track=track)


def test_track_errors():
    with pytest.raises(ValueError, match="borders would cross"):
        SteeringTrack(radius=3.0, width=4.0)
    with pytest.raises(ValueError, match="wobble"):
        SteeringTrack(wobble=0.7)
