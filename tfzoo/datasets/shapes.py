"""Generated images of coloured shapes with instance masks, for detection and segmentation."""

from __future__ import annotations

import numpy as np

from tfzoo._validation import check_int

SHAPE_CLASS_NAMES = ("background", "square", "circle", "triangle")

# Circumradius of a shape as a fraction of the image side, and its floor in pixels.
_RADIUS_RANGE = (0.08, 0.22)
_MIN_RADIUS_PX = 3.0
# Smallest RGB distance between a shape's colour and its background's mean colour.
_MIN_CONTRAST = 0.35
_COLOUR_TRIES = 8
# Pixel noise is uniform in [-w, w] per channel (standard deviation w / sqrt(3)).
_NOISE_HALF_WIDTH = 0.05
_GRADIENT_STD = 0.2
# Shape-pixels (images * max_instances * S * S) processed together, to bound the temporaries.
_CHUNK_PIXELS = 32 * 4 * 128 * 128


def _shape_masks(classes, cy, cx, radius, theta, size):
    """Filled masks ``(len(classes), size, size)`` of squares, circles and triangles.

    All shapes are given by their centre, circumradius and rotation; a pixel belongs to a shape when
    its centre does. Class 0 gives an empty mask.
    """
    out = np.zeros((len(classes), size, size), bool)
    grid = np.arange(size, dtype=np.float32) + 0.5
    for cls in (1, 2, 3):
        idx = np.flatnonzero(classes == cls)
        if idx.size == 0:
            continue
        dy = grid[None, :, None] - cy[idx, None, None]
        dx = grid[None, None, :] - cx[idx, None, None]
        r = radius[idx, None, None]
        if cls == 2:  # circle
            out[idx] = dy * dy + dx * dx <= r * r
            continue
        t = theta[idx, None, None]
        if cls == 1:  # square: |u|, |v| <= half side in the rotated frame
            half = r / np.sqrt(np.float32(2.0))
            cos, sin = np.cos(t), np.sin(t)
            inside = np.abs(cos * dx + sin * dy) <= half
            inside &= np.abs(cos * dy - sin * dx) <= half
        else:  # equilateral triangle: inside all three edges (inradius = circumradius / 2)
            inside = np.ones((idx.size, size, size), bool)
            for k in range(3):
                phi = t + np.float32(np.pi / 3 + 2 * np.pi * k / 3)
                inside &= np.cos(phi) * dx + np.sin(phi) * dy <= r / 2
        out[idx] = inside
    return out


def make_shapes(n, image_size=128, max_instances=4, seed=None, min_area=None):
    """GENERATED images of squares, circles and triangles with instance masks.

    Each image has 1 to ``max_instances`` shapes (drawn uniformly) of random class, colour, size,
    position and rotation, painted in order on a random background (a random colour with a random
    linear gradient and mild pixel noise, so colour alone does not give a shape away). Shapes lie
    fully inside the image; later shapes occlude earlier ones. The ground truth of each instance is
    its *visible* mask and the tight box of that mask; an instance whose visible area is below
    ``min_area`` pixels is dropped, so every kept instance can be seen. The topmost shape is never
    occluded, so with the default ``min_area`` every image keeps at least one instance. Inspired by
    the shapes sample of Matterport's Mask R-CNN. See ``datasets/shapes.md``.

    Args:
        n: number of images (a positive integer).
        image_size: side ``S`` of the square images in pixels, at least 16.
        max_instances: most shapes drawn per image, at least 1; also the padded instance axis.
        seed: seed of the ``numpy.random.Generator`` that makes every draw (``None``: fresh
            entropy). The same seed gives the same data.
        min_area: smallest visible area (pixels) an instance keeps; default
            ``max(4, image_size**2 // 256)`` (64 pixels at 128 x 128).

    Returns:
        A dict:

        - ``"images"``: float32 ``(n, S, S, 3)`` RGB in ``[0, 1]``.
        - ``"boxes"``: float32 ``(n, max_instances, 4)``, ``[y1, x1, y2, x2]`` in pixels with
          ``y2``/``x2`` exclusive (a one-pixel object at row ``r`` has ``y1 = r, y2 = r + 1``);
          padded rows are ``-1``.
        - ``"classes"``: int32 ``(n, max_instances)``, 1 square, 2 circle, 3 triangle (0 is
          background and never used); padded entries are ``-1``.
        - ``"masks"``: uint8 ``(n, max_instances, S, S)`` visible masks (0/1), pairwise disjoint;
          padded instances are all 0.
        - ``"num_instances"``: int32 ``(n,)``, kept instances per image. Instances keep their
          drawing order (bottom first) in rows ``0 .. num_instances - 1``; padding follows.
        - ``"class_names"``: ``("background", "square", "circle", "triangle")``.

    Example:

    >>> data = make_shapes(8, image_size=64, seed=0)
    >>> data["images"].shape, data["masks"].shape
    ((8, 64, 64, 3), (8, 4, 64, 64))
    """
    n = check_int(n, "n")
    size = check_int(image_size, "image_size", minimum=16)
    m = check_int(max_instances, "max_instances")
    if min_area is None:
        min_area = max(4, size * size // 256)
    elif min_area < 0:
        raise ValueError(f"min_area must be >= 0, got {min_area!r}")

    rng = np.random.default_rng(seed)
    # Every per-image and per-shape draw, up front, in a fixed order.
    drawn = rng.integers(1, m + 1, n)
    classes = rng.integers(1, 4, (n, m))
    r_lo = max(_RADIUS_RANGE[0] * size, _MIN_RADIUS_PX)
    r_hi = max(_RADIUS_RANGE[1] * size, r_lo)
    radius = rng.uniform(r_lo, r_hi, (n, m))
    cy = radius + rng.uniform(0, 1, (n, m)) * (size - 2 * radius)
    cx = radius + rng.uniform(0, 1, (n, m)) * (size - 2 * radius)
    theta = rng.uniform(0, 2 * np.pi, (n, m))
    base = rng.uniform(0.1, 0.9, (n, 3))
    slope = rng.normal(0, _GRADIENT_STD, (n, 3))
    direction = rng.uniform(0, 2 * np.pi, n)
    # Shape colours: the first of a few candidates far enough from the background's colour.
    candidates = rng.uniform(0, 1, (n, m, _COLOUR_TRIES, 3))
    distance = np.linalg.norm(candidates - base[:, None, None, :], axis=-1)
    far = distance >= _MIN_CONTRAST
    pick = np.where(far.any(-1), far.argmax(-1), distance.argmax(-1))
    colours = np.take_along_axis(candidates, pick[..., None, None], axis=2)[:, :, 0]
    active = np.arange(m)[None, :] < drawn[:, None]
    shapes = np.where(active, classes, 0)  # class 0: slot not drawn

    # Per-image palette: row 0 the background's base colour, row i + 1 shape i's colour, both
    # shifted by the mean of the uniform noise added below.
    palette = np.concatenate([base[:, None, :], colours], axis=1) - _NOISE_HALF_WIDTH
    palette = palette.astype(np.float32).reshape(n * (m + 1), 3)
    images = np.empty((n, size, size, 3), np.float32)
    visible = np.zeros((n, m, size, size), bool)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    f32 = np.float32
    chunk = max(1, _CHUNK_PIXELS // (m * size * size))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        b = stop - start
        full = _shape_masks(
            shapes[start:stop].ravel(),
            cy[start:stop].ravel().astype(f32),
            cx[start:stop].ravel().astype(f32),
            radius[start:stop].ravel().astype(f32),
            theta[start:stop].ravel().astype(f32),
            size,
        ).reshape(b, m, size, size)
        # Visible = drawn and not covered by any later shape; label = index of the top shape + 1.
        covered = np.zeros((b, size, size), bool)
        label = np.repeat(np.arange(start, stop) * (m + 1), size * size).reshape(b, size, size)
        for i in range(m - 1, -1, -1):
            np.logical_and(full[:, i], ~covered, out=visible[start:stop, i])
            label[visible[start:stop, i]] += i + 1
            covered |= full[:, i]
        # Image = uniform noise + palette colour + a linear gradient along a random direction over
        # the whole image (like uneven lighting).
        out = images[start:stop]
        rng.random(out.shape, dtype=f32, out=out)
        out *= f32(2 * _NOISE_HALF_WIDTH)
        out += np.take(palette, label, axis=0)
        d = direction[start:stop, None, None]
        ramp = (np.cos(d) * grid[None, :, None] + np.sin(d) * grid[None, None, :]).astype(f32)
        out += ramp[..., None] * slope[start:stop, None, None, :].astype(f32)
        np.clip(out, 0, 1, out=out)

    area = visible.sum(axis=(2, 3))
    keep = active & (area >= min_area) & (area > 0)
    # Kept instances first, in drawing order (stable sort), padding after.
    order = np.argsort(~keep, axis=1, kind="stable")
    keep = np.take_along_axis(keep, order, axis=1)
    moved = np.flatnonzero((order != np.arange(m)).any(axis=1))
    visible[moved] = visible[moved[:, None], order[moved]]
    visible[~keep] = False
    classes = np.where(keep, np.take_along_axis(classes, order, axis=1), -1).astype(np.int32)

    rows = visible.any(axis=3)
    cols = visible.any(axis=2)
    boxes = np.stack(
        [
            rows.argmax(-1),
            cols.argmax(-1),
            size - rows[..., ::-1].argmax(-1),
            size - cols[..., ::-1].argmax(-1),
        ],
        axis=-1,
    ).astype(np.float32)
    boxes[~keep] = -1
    return {
        "images": images,
        "boxes": boxes,
        "classes": classes,
        "masks": visible.view(np.uint8),
        "num_instances": keep.sum(axis=1).astype(np.int32),
        "class_names": SHAPE_CLASS_NAMES,
    }
