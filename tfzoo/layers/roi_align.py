"""RoIAlign: bilinear sampling of one or several feature levels, by gather or
by separable interpolation matrices (whichever costs less for the maps' size)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfzoo._saving import serializable
from tfzoo._validation import check_int
from tfzoo.layers import box_ops

#: What one gathered feature row costs, in multiply-adds of a matrix product,
#: when the layer chooses how to sample. Measured with XLA on this project's
#: 2-core CPU: 800 boxes, 7x7 bins of 2x2 samples, four levels of a 128 px image
#: (32x32 to 4x4, 64 channels): 38 ms by gather (784 rows a box) against 18 ms by
#: matrices (12,460 multiply-adds a box and channel), about 33 multiply-adds a
#: row. 24 keeps the gather wherever the two are close.
GATHER_ROW_COST = 24


@serializable
class RoIAlign(keras.layers.Layer):
    """Crop a fixed-size feature patch for every box, by bilinear sampling.

    Each box is split into ``output_size x output_size`` bins; each bin
    averages ``sampling_ratio**2`` bilinear samples placed evenly inside it
    (Mask R-CNN's RoIAlign, "aligned" variant: pixel centres at half
    coordinates, no rounding anywhere). The samples are read with one
    ``keras.ops.take`` on the flattened feature maps, so the layer runs on
    every Keras backend, compiles under XLA (``tf.image.crop_and_resize``
    does not on CPU) and all shapes are static.

    With several feature levels (an FPN), each box reads the level that
    matches its size: ``level = floor(canonical_level + log2(sqrt(h * w) /
    canonical_size))``, clipped to the levels available, where a level is
    ``log2(stride)``.

    Args:
        output_size: bins per side (7 for the box head, 14 for the mask head).
        sampling_ratio: samples per bin per side.
        strides: stride of each feature level, in pixels (one per input map).
        canonical_size: box size (pixels) that maps to ``canonical_level``.
        canonical_level: the level (``log2(stride)``) of a box of
            ``canonical_size`` pixels.

    Call arguments:
        features: a feature map ``(B, H, W, C)`` or a list of them, finest first.
        boxes: ``(B, R, 4)`` boxes ``[y1, x1, y2, x2]`` in image pixels.

    Output:
        ``(B, R, output_size, output_size, C)``.
    """

    def __init__(
        self,
        output_size=7,
        sampling_ratio=2,
        strides=(4, 8, 16, 32),
        canonical_size=224.0,
        canonical_level=4,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.built = True  # no weights: nothing to build
        output_size = check_int(output_size, "output_size")
        sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
        strides = tuple(int(s) for s in np.atleast_1d(strides))
        for s in strides:
            if s < 1 or s & (s - 1):
                raise ValueError(f"strides must be powers of two, got {strides}")
        if list(strides) != sorted(strides):
            raise ValueError(f"strides must go from the finest level up, got {strides}")
        self.output_size = int(output_size)
        self.sampling_ratio = int(sampling_ratio)
        self.strides = strides
        self.canonical_size = float(canonical_size)
        self.canonical_level = int(canonical_level)

    def _levels(self, boxes):
        """Index (into ``strides``) of the level each box reads."""
        boxes = ops.convert_to_tensor(boxes)
        if len(self.strides) == 1:
            return ops.zeros_like(ops.cast(boxes[..., 0], "int32"))
        h = ops.maximum(boxes[..., 2] - boxes[..., 0], 0.0)
        w = ops.maximum(boxes[..., 3] - boxes[..., 1], 0.0)
        size = ops.sqrt(h * w)
        level = ops.floor(
            self.canonical_level + ops.log(size / self.canonical_size + 1e-8) / math.log(2.0)
        )
        first = math.log2(self.strides[0])
        last = math.log2(self.strides[-1])
        return ops.cast(ops.clip(level, first, last) - first, "int32")

    def call(self, features, boxes):
        if not isinstance(features, (list, tuple)):
            features = [features]
        if len(features) != len(self.strides):
            raise ValueError(
                f"RoIAlign got {len(features)} feature maps for {len(self.strides)} strides"
            )
        features = [ops.convert_to_tensor(f) for f in features]
        boxes = ops.cast(boxes, features[0].dtype)
        heights = [f.shape[1] for f in features]
        widths = [f.shape[2] for f in features]
        if self._by_matrices(heights, widths):
            return self._sample_by_matrices(features, boxes)
        return self._sample_by_gather(features, boxes)

    def _by_matrices(self, heights, widths):
        """Whether separable matrices cost less than gathering, for maps of these sizes."""
        if any(not isinstance(d, int) for d in (*heights, *widths)):
            return False  # unknown map sizes: the gather needs none
        k, n = self.output_size, self.output_size * self.sampling_ratio
        matrices = sum(k * h * w + k * k * w for h, w in zip(heights, widths))
        return matrices <= GATHER_ROW_COST * 4 * n * n

    def _sample_positions(self, boxes, stride):
        """Sample rows and columns (B, R, output_size * sampling_ratio) in cells of a
        map of ``stride`` (a number, or (B, R, 1) per box): evenly inside each bin,
        pixel centres at half coordinates."""
        n = self.output_size * self.sampling_ratio
        frac = (ops.arange(n, dtype=boxes.dtype) + 0.5) / n
        y1, x1, y2, x2 = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]
        ys = (y1[..., None] + (y2 - y1)[..., None] * frac) / stride - 0.5
        xs = (x1[..., None] + (x2 - x1)[..., None] * frac) / stride - 0.5
        return ys, xs

    def _sample_by_matrices(self, features, boxes):
        """Each box's bins as ``Ay @ F @ Ax^T`` on its level: ``Ay`` (k, H) and ``Ax``
        (k, W) hold each bin's bilinear weights averaged over its samples, so the
        result equals the sampled average exactly (up to rounding). Every level is
        computed for every box with the other levels' boxes weighted 0: static
        shapes, and matrix products instead of one row read per sample corner."""
        level = self._levels(boxes)  # (B, R)
        k, s = self.output_size, self.sampling_ratio
        out = None
        for i, (f, stride) in enumerate(zip(features, self.strides)):
            ys, xs = self._sample_positions(boxes, stride)
            on_level = ops.cast(level == i, boxes.dtype)[..., None, None]
            wy = _bin_weights(ys, f.shape[1], k, s) * on_level  # (B, R, k, H)
            wx = _bin_weights(xs, f.shape[2], k, s)  # (B, R, k, W)
            # Both products contract the last axis of both operands, so each
            # result comes out of the matrix product in the layout the next one
            # reads: (B, R, k, C, H), then (B, R, k, k, C). Keeping channels last
            # in between would transpose the large intermediate (k rows of every
            # box at full map width): on one core that was 1.3-1.8x slower.
            f = ops.transpose(f, (0, 3, 1, 2))  # (B, C, H, W)
            cols = ops.einsum("brqw,bchw->brqch", wx, f)
            part = ops.einsum("brph,brqch->brpqc", wy, cols)
            out = part if out is None else out + part
        return out

    def _sample_by_gather(self, features, boxes):
        channels = features[0].shape[-1]
        heights = [f.shape[1] for f in features]
        widths = [f.shape[2] for f in features]
        offsets = np.cumsum([0] + [h * w for h, w in zip(heights, widths)])[:-1]
        flat = ops.concatenate(
            [ops.reshape(f, (-1, h * w, channels)) for f, h, w in zip(features, heights, widths)],
            axis=1,
        )

        level = self._levels(boxes)  # (B, R)

        def per_level(values, dtype):
            return ops.take(ops.convert_to_tensor(np.asarray(values), dtype=dtype), level)

        stride = per_level(self.strides, boxes.dtype)
        height = per_level(heights, "int32")
        width = per_level(widths, "int32")
        offset = per_level(offsets, "int32")

        n = self.output_size * self.sampling_ratio
        ys, xs = self._sample_positions(boxes, stride[..., None])

        y_lo, y_hi, wy_lo, wy_hi = _corners(ys, height[..., None])
        x_lo, x_hi, wx_lo, wx_hi = _corners(xs, width[..., None])
        base = offset[..., None, None]
        row_w = width[..., None, None]
        r = boxes.shape[1]

        def read(yi, xi):
            index = base + yi[..., :, None] * row_w + xi[..., None, :]  # (B, R, n, n)
            values = box_ops.gather(flat, ops.reshape(index, (-1, r * n * n)))
            return ops.reshape(values, (-1, r, n, n, channels))

        def outer(a, b):
            return (a[..., :, None] * b[..., None, :])[..., None]

        sampled = (
            read(y_lo, x_lo) * outer(wy_lo, wx_lo)
            + read(y_lo, x_hi) * outer(wy_lo, wx_hi)
            + read(y_hi, x_lo) * outer(wy_hi, wx_lo)
            + read(y_hi, x_hi) * outer(wy_hi, wx_hi)
        )
        s, k = self.sampling_ratio, self.output_size
        sampled = ops.reshape(sampled, (-1, r, k, s, k, s, channels))
        return ops.mean(sampled, axis=(3, 5))

    def compute_output_shape(self, features_shape, boxes_shape):
        channels = features_shape[0][-1] if isinstance(features_shape, list) else features_shape[-1]
        return (boxes_shape[0], boxes_shape[1], self.output_size, self.output_size, channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            output_size=self.output_size,
            sampling_ratio=self.sampling_ratio,
            strides=list(self.strides),
            canonical_size=self.canonical_size,
            canonical_level=self.canonical_level,
        )
        return config


def _bin_weights(coords, size, bins, samples):
    """``coords`` (..., R, bins * samples) sample positions on an axis of ``size``
    cells -> (..., R, bins, size): each bin's bilinear weights on the cells,
    averaged over its samples (the rules of :func:`_corners`)."""
    low, high, w_low, w_high = _corners(coords, size)
    cells = ops.arange(size, dtype="int32")
    weights = ops.cast(low[..., None] == cells, coords.dtype) * w_low[..., None]
    weights = weights + ops.cast(high[..., None] == cells, coords.dtype) * w_high[..., None]
    r = coords.shape[-2]
    weights = ops.reshape(weights, (-1, r, bins, samples, size))
    return ops.mean(weights, axis=3)


def _corners(coords, size):
    """Low/high cell indices and bilinear weights along one axis.

    Samples further than one cell outside the map contribute zero; samples in
    the outer half-cell are clamped to the border (as in Detectron's RoIAlign).
    """
    size_f = ops.cast(size, coords.dtype)
    outside = (coords < -1.0) | (coords > size_f)
    c = ops.maximum(coords, 0.0)
    low = ops.floor(c)
    at_end = low >= size_f - 1.0
    low = ops.where(at_end, size_f - 1.0, low)
    high = ops.where(at_end, low, low + 1.0)
    c = ops.where(at_end, low, c)
    w_high = c - low
    w_low = 1.0 - w_high
    keep = ops.cast(ops.logical_not(outside), coords.dtype)
    return (
        ops.cast(low, "int32"),
        ops.cast(high, "int32"),
        w_low * keep,
        w_high * keep,
    )
