"""GENERATED imitation data: a robot car with range sensors and an expert driver.

The simulator is plain NumPy and vectorised over cars: a kinematic bicycle
drives at constant speed on a closed track given by its centreline and
width; range sensors cast rays at fixed angles to the track's two borders;
an expert (pure pursuit on the known centreline) says how to steer.
"""

from __future__ import annotations

import numpy as np

DEFAULT_SENSOR_ANGLES = (-60.0, -20.0, 20.0, 60.0)


def _wrap(angle):
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


class SteeringTrack:
    """A closed track, a kinematic-bicycle robot car, its range sensors and an expert.

    The centreline is the rounded loop ``r(t) = radius·(1 + wobble·cos(lobes·t))``
    driven anticlockwise: with ``wobble > 1 / (lobes² + 1)`` it has right
    bends between its left ones. The car keeps ``speed`` and turns by
    ``ψ' = speed / wheelbase · tan(δ)``, ``|δ| <= max_steer``, stepped every
    ``dt`` seconds. It leaves the track when its distance to the centreline
    exceeds ``width / 2``.

    Args:
        radius, lobes, wobble: shape of the centreline (m, count, fraction).
        width: track width (m).
        n_points: vertices of the centreline and of each border polyline.
        sensor_angles: ray directions relative to the heading (degrees, left positive).
        max_range: longest sensor reading (m).
        sensor_noise: standard deviation of the Gaussian noise on readings (m).
        speed, wheelbase, max_steer, dt: the car (m/s, m, rad, s).
        lookahead: the expert's pure-pursuit look-ahead distance along the centreline (m).

    Attributes:
        centreline, left_border, right_border: ``(n_points, 2)`` polylines.
        length: centreline length (m), one lap.

    Example:
        >>> track = SteeringTrack()
        >>> poses = track.start_poses(4, seed=0)
        >>> result = track.rollout("expert", poses, steps=600)
        >>> result["laps"]
    """

    def __init__(
        self,
        *,
        radius=20.0,
        lobes=3,
        wobble=0.2,
        width=4.0,
        n_points=300,
        sensor_angles=DEFAULT_SENSOR_ANGLES,
        max_range=15.0,
        sensor_noise=0.2,
        speed=8.0,
        wheelbase=2.0,
        max_steer=0.5,
        dt=0.1,
        lookahead=6.0,
    ):
        if not (radius > 0 and width > 0 and 0 <= wobble < 0.5 and int(lobes) == lobes >= 1):
            raise ValueError(
                "need radius > 0, width > 0, 0 <= wobble < 0.5 and an integer lobes >= 1, got "
                f"radius={radius!r}, width={width!r}, wobble={wobble!r}, lobes={lobes!r}"
            )
        if n_points < 16:
            raise ValueError(f"n_points must be at least 16, got {n_points!r}")
        if not (0 < max_steer < np.pi / 2 and speed > 0 and wheelbase > 0 and dt > 0):
            raise ValueError("max_steer must be in (0, pi/2); speed, wheelbase, dt positive")
        self.radius = float(radius)
        self.lobes = int(lobes)
        self.wobble = float(wobble)
        self.width = float(width)
        self.n_points = int(n_points)
        self.sensor_angles = np.deg2rad(np.asarray(sensor_angles, dtype=np.float64))
        self.max_range = float(max_range)
        self.sensor_noise = float(sensor_noise)
        self.speed = float(speed)
        self.wheelbase = float(wheelbase)
        self.max_steer = float(max_steer)
        self.dt = float(dt)
        self.lookahead = float(lookahead)

        t = np.linspace(0.0, 2 * np.pi, self.n_points, endpoint=False)
        r = self.radius * (1 + self.wobble * np.cos(self.lobes * t))
        self.centreline = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
        nxt = np.roll(self.centreline, -1, axis=0)
        self._seg_start = self.centreline
        self._seg_vec = nxt - self.centreline
        seg_len = np.linalg.norm(self._seg_vec, axis=1)
        self._seg_len = seg_len
        self._s = np.concatenate([[0.0], np.cumsum(seg_len)])  # arc length at each vertex
        self.length = float(self._s[-1])
        tangent = np.roll(self.centreline, -1, axis=0) - np.roll(self.centreline, 1, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)  # to the left
        heading = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
        ds = np.gradient(self._s[:-1])
        self.curvature = np.gradient(heading) / ds
        tightest = 1.0 / np.abs(self.curvature).max()
        if tightest <= self.width / 2:
            raise ValueError(
                f"the tightest bend has radius {tightest:.2f} m, not more than half the "
                f"width ({self.width / 2:.2f} m): the borders would cross"
            )
        self.left_border = self.centreline + 0.5 * self.width * normal
        self.right_border = self.centreline - 0.5 * self.width * normal
        starts = np.concatenate([self.left_border, self.right_border])
        ends = np.concatenate(
            [np.roll(self.left_border, -1, axis=0), np.roll(self.right_border, -1, axis=0)]
        )
        self._wall_start = starts
        self._wall_vec = ends - starts

    # ---------------------------------------------------------------- geometry
    def point_at(self, s):
        """Centreline points ``(..., 2)`` at arc lengths ``s`` (wrapped to one lap)."""
        s = np.mod(s, self.length)
        closed = np.concatenate([self.centreline, self.centreline[:1]])
        return np.stack([np.interp(s, self._s, closed[:, k]) for k in range(2)], axis=-1)

    def project(self, xy):
        """Nearest centreline point of each position ``(B, 2)``.

        Returns:
            ``s`` (arc length, m), ``offset`` (signed distance, left positive)
            and ``heading`` (direction of the centreline there, rad), each ``(B,)``.
        """
        xy = np.asarray(xy, dtype=np.float64)
        rel = xy[:, None, :] - self._seg_start[None]  # (B, n, 2)
        u = np.einsum("bnk,nk->bn", rel, self._seg_vec) / self._seg_len**2
        u = np.clip(u, 0.0, 1.0)
        d2 = np.sum((rel - u[..., None] * self._seg_vec) ** 2, axis=-1)
        i = np.argmin(d2, axis=1)
        rows = np.arange(len(xy))
        seg = self._seg_vec[i]
        s = np.mod(self._s[i] + u[rows, i] * self._seg_len[i], self.length)
        offset = _cross(seg, rel[rows, i]) / self._seg_len[i]
        return s, offset, np.arctan2(seg[:, 1], seg[:, 0])

    def on_track(self, poses):
        """Whether each car ``(B, 3)`` is within the borders."""
        return np.abs(self.project(np.asarray(poses)[:, :2])[1]) < self.width / 2

    def start_poses(self, n, *, s=None, offset=0.0, heading=0.0, seed=None):
        """Poses ``(n, 3)`` = (x, y, yaw) on the track.

        Args:
            s: arc lengths (default: evenly spaced around the lap).
            offset: lateral offsets from the centreline (m, left positive).
            heading: yaw relative to the centreline direction (rad).
            seed: with ``s=None`` and a seed, random arc lengths instead.
        """
        if s is None:
            if seed is None:
                s = np.arange(n) * self.length / n
            else:
                s = np.random.default_rng(seed).uniform(0, self.length, n)
        s = np.broadcast_to(np.asarray(s, dtype=np.float64), (n,))
        ahead = self.point_at(s + 0.01)
        here = self.point_at(s)
        direction = np.arctan2(ahead[:, 1] - here[:, 1], ahead[:, 0] - here[:, 0])
        normal = np.stack([-np.sin(direction), np.cos(direction)], axis=1)
        xy = here + np.broadcast_to(offset, (n,))[:, None] * normal
        return np.column_stack([xy, _wrap(direction + heading)])

    # ------------------------------------------------------ sensors and motion
    def sense(self, poses, rng=None):
        """Range readings ``(B, n_sensors)`` in metres, at most ``max_range``.

        Each ray from the car's position at its sensor angle stops at the
        first border it meets; ``rng`` (a NumPy Generator) adds the sensor noise.
        """
        poses = np.asarray(poses, dtype=np.float64)
        angles = poses[:, 2:3] + self.sensor_angles[None, :]  # (B, N)
        d = np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # (B, N, 2)
        rel = self._wall_start[None] - poses[:, None, :2]  # (B, K, 2)
        e = self._wall_vec  # (K, 2)
        denom = d[..., None, 0] * e[None, None, :, 1] - d[..., None, 1] * e[None, None, :, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = _cross(rel, e)[:, None, :] / denom  # distance along the ray
            u = (
                rel[:, None, :, 0] * d[..., None, 1] - rel[:, None, :, 1] * d[..., None, 0]
            ) / denom
        hit = (t > 0) & (u >= 0) & (u <= 1)
        ranges = np.where(hit, t, np.inf).min(axis=-1)
        ranges = np.minimum(ranges, self.max_range)
        if rng is not None and self.sensor_noise > 0:
            ranges = ranges + rng.normal(0.0, self.sensor_noise, ranges.shape)
        return np.clip(ranges, 0.0, self.max_range)

    def expert(self, poses):
        """The expert's steering ``(B,)``: pure pursuit of the centreline point
        ``lookahead`` metres ahead of the car's projection, within ``±max_steer``."""
        poses = np.asarray(poses, dtype=np.float64)
        s, _, _ = self.project(poses[:, :2])
        target = self.point_at(s + self.lookahead)
        delta = target - poses[:, :2]
        alpha = _wrap(np.arctan2(delta[:, 1], delta[:, 0]) - poses[:, 2])
        distance = np.maximum(np.linalg.norm(delta, axis=1), 1e-6)
        steer = np.arctan(2.0 * self.wheelbase * np.sin(alpha) / distance)
        return np.clip(steer, -self.max_steer, self.max_steer)

    def step(self, poses, steer):
        """Advance the cars ``(B, 3)`` by ``dt`` with steering angles ``(B,)``."""
        poses = np.asarray(poses, dtype=np.float64)
        steer = np.clip(
            np.asarray(steer, dtype=np.float64).reshape(-1), -self.max_steer, self.max_steer
        )
        x, y, yaw = poses.T
        x = x + self.speed * np.cos(yaw) * self.dt
        y = y + self.speed * np.sin(yaw) * self.dt
        yaw = _wrap(yaw + self.speed / self.wheelbase * np.tan(steer) * self.dt)
        return np.column_stack([x, y, yaw])

    # ---------------------------------------------------------------- driving
    def rollout(self, policy, poses, steps, *, seed=None):
        """Drive the cars closed-loop for ``steps`` steps; a car that leaves the track stops.

        Args:
            policy: ``"expert"``, or a callable that maps the sensor readings
                ``(B, n_sensors)`` to steering angles ``(B,)`` (e.g. a fitted
                regressor's ``predict``), called once per step for all cars.
            poses: start poses ``(B, 3)``.
            steps: number of time steps.
            seed: seeds the sensor noise (``None``: noiseless sensors).

        Returns:
            A dict: ``path`` ``(steps + 1, B, 2)``, ``steer`` ``(steps, B)``,
            ``distance`` (metres driven along the centreline before leaving
            or stopping), ``laps`` (``distance / length``), ``left_track``
            (bool) and ``steps_on_track``, each ``(B,)``.
        """
        rng = None if seed is None else np.random.default_rng(seed)
        poses = np.array(poses, dtype=np.float64)
        n = len(poses)
        alive = self.on_track(poses)
        s_prev = self.project(poses[:, :2])[0]
        distance = np.zeros(n)
        steps_on = np.zeros(n, dtype=int)
        path = [poses[:, :2].copy()]
        steers = []
        for _ in range(int(steps)):
            readings = self.sense(poses, rng)
            steer = self.expert(poses) if _is_expert(policy) else policy(readings)
            steer = np.asarray(steer, dtype=np.float64).reshape(n)
            moved = self.step(poses, steer)
            poses = np.where(alive[:, None], moved, poses)
            s, offset, _ = self.project(poses[:, :2])
            ds = (s - s_prev + self.length / 2) % self.length - self.length / 2
            distance += np.where(alive, ds, 0.0)
            s_prev = s
            still = alive & (np.abs(offset) < self.width / 2)
            steps_on += still
            alive = still
            path.append(poses[:, :2].copy())
            steers.append(np.where(alive, steer, np.nan))
        return {
            "path": np.stack(path),
            "steer": np.stack(steers) if steers else np.zeros((0, n)),
            "distance": distance,
            "laps": distance / self.length,
            "left_track": ~alive,
            "steps_on_track": steps_on,
        }


def _is_expert(policy):
    return isinstance(policy, str) and policy == "expert"


def make_steering_data(
    n_cars=64, steps=250, *, track=None, policy=None, noise=0.15, spread=1.0, seed=0
):
    """GENERATED (sensor readings -> expert steering) pairs for imitation learning.

    ``n_cars`` cars start at random places on ``track`` (default
    ``SteeringTrack()``) with random lateral offsets (within ±35% of the
    width, times ``spread``) and heading errors (σ = 0.2 rad, times
    ``spread``) and drive ``steps`` steps. Each
    step records the noisy sensor readings and the expert's steering; the
    car executes ``policy`` (default: the expert) plus a perturbation, an
    AR(1) process with correlation 0.9 and a standard deviation drawn per
    car from ``[0, noise]`` rad, so the data show recoveries from drifts
    and not only clean driving. A car that leaves the track restarts at a
    new random pose. Passing a learned policy gives the states that policy
    visits, labelled by the expert (DAgger). ``noise=0, spread=0`` gives
    clean laps on the centreline only: too narrow for imitation (see
    ``recipes/robot_steering.py``).

    Args:
        n_cars: cars simulated side by side.
        steps: steps per car.
        track: a :class:`SteeringTrack`.
        policy: ``None`` (the expert drives) or a callable ``readings -> steering``.
        noise: largest standard deviation of the steering perturbation (rad).
        spread: scale of the random start offsets and heading errors (0: on
            the centreline, heading along it).
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        ``X`` float32 ``(n_cars * steps, n_sensors)`` (metres) and ``y``
        float32 ``(n_cars * steps,)`` (expert steering, rad). Rows are
        ordered car by car: car ``i`` has rows ``i*steps ... (i+1)*steps - 1``.
    """
    if n_cars < 1 or steps < 1 or noise < 0 or spread < 0:
        raise ValueError(
            "n_cars and steps must be positive, noise and spread non-negative; got "
            f"n_cars={n_cars!r}, steps={steps!r}, noise={noise!r}, spread={spread!r}"
        )
    track = SteeringTrack() if track is None else track
    rng = np.random.default_rng(seed)

    def random_poses(k):
        s = rng.uniform(0, track.length, k)
        offset = spread * rng.uniform(-0.35, 0.35, k) * track.width
        heading = spread * np.clip(rng.normal(0, 0.2, k), -0.5, 0.5)
        return track.start_poses(k, s=s, offset=offset, heading=heading)

    poses = random_poses(n_cars)
    sigma = rng.uniform(0, noise, n_cars)
    rho = 0.9
    drift = np.zeros(n_cars)
    X = np.zeros((steps, n_cars, len(track.sensor_angles)), np.float32)
    y = np.zeros((steps, n_cars), np.float32)
    for t in range(steps):
        readings = track.sense(poses, rng)
        label = track.expert(poses)
        X[t], y[t] = readings, label
        action = label if policy is None else np.asarray(policy(readings)).reshape(n_cars)
        drift = rho * drift + sigma * np.sqrt(1 - rho**2) * rng.standard_normal(n_cars)
        poses = track.step(poses, action + drift)
        off = ~track.on_track(poses)
        if off.any():
            poses[off] = random_poses(int(off.sum()))
            drift[off] = 0.0
    return X.transpose(1, 0, 2).reshape(-1, X.shape[-1]), y.T.reshape(-1)
