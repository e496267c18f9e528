"""Box arithmetic shared by the detection layers (static shapes, XLA-friendly).

Boxes are ``[y1, x1, y2, x2]`` in pixels, continuous coordinates: pixel ``i``
covers ``[i, i + 1)``, so a one-pixel object at row ``r`` has ``y1 = r`` and
``y2 = r + 1``. Padded ground-truth rows are ``-1`` everywhere.

These helpers use TensorFlow directly: the detection layers need ops that
``keras.ops`` does not have (padded non-maximum suppression, batched gather),
and tfzoo runs on the TensorFlow backend only.
"""

from __future__ import annotations

import math

import tensorflow as tf

# Decoded log-scale changes are clipped here (as in Detectron) so that
# exp() cannot overflow early in training.
BBOX_XFORM_CLIP = math.log(1000.0 / 16.0)
RPN_BOX_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
HEAD_BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def _split(boxes):
    y1, x1, y2, x2 = tf.unstack(boxes, 4, axis=-1)
    return y1, x1, y2, x2


def area(boxes):
    y1, x1, y2, x2 = _split(boxes)
    return tf.maximum(y2 - y1, 0.0) * tf.maximum(x2 - x1, 0.0)


def pairwise_iou(a, b, b_valid=None):
    """IoU of every box in ``a`` (..., N, 4) with every box in ``b`` (..., M, 4).

    Returns (..., N, M). Where ``b_valid`` (..., M) is False the IoU is -1, so
    padded ground truth never matches anything.
    """
    ay1, ax1, ay2, ax2 = _split(a[..., :, None, :])
    by1, bx1, by2, bx2 = _split(b[..., None, :, :])
    ih = tf.maximum(tf.minimum(ay2, by2) - tf.maximum(ay1, by1), 0.0)
    iw = tf.maximum(tf.minimum(ax2, bx2) - tf.maximum(ax1, bx1), 0.0)
    inter = ih * iw
    union = area(a)[..., :, None] + area(b)[..., None, :] - inter
    iou = inter / tf.maximum(union, 1e-8)
    if b_valid is not None:
        iou = tf.where(b_valid[..., None, :], iou, -tf.ones_like(iou))
    return iou


def _centre_size(boxes):
    y1, x1, y2, x2 = _split(boxes)
    h = tf.maximum(y2 - y1, 1e-6)
    w = tf.maximum(x2 - x1, 1e-6)
    return y1 + 0.5 * h, x1 + 0.5 * w, h, w


def encode(boxes, anchors, weights=RPN_BOX_WEIGHTS):
    """Regression targets ``(dy, dx, dh, dw)`` that move ``anchors`` onto ``boxes``."""
    wy, wx, wh, ww = weights
    acy, acx, ah, aw = _centre_size(anchors)
    bcy, bcx, bh, bw = _centre_size(boxes)
    return tf.stack(
        [
            wy * (bcy - acy) / ah,
            wx * (bcx - acx) / aw,
            wh * tf.math.log(bh / ah),
            ww * tf.math.log(bw / aw),
        ],
        axis=-1,
    )


def decode(deltas, anchors, weights=RPN_BOX_WEIGHTS):
    """Inverse of :func:`encode` (log-size changes clipped at ``log(1000/16)``)."""
    wy, wx, wh, ww = weights
    acy, acx, ah, aw = _centre_size(anchors)
    dy, dx, dh, dw = tf.unstack(deltas, 4, axis=-1)
    dh = tf.minimum(dh / wh, BBOX_XFORM_CLIP)
    dw = tf.minimum(dw / ww, BBOX_XFORM_CLIP)
    cy = acy + (dy / wy) * ah
    cx = acx + (dx / wx) * aw
    h = ah * tf.exp(dh)
    w = aw * tf.exp(dw)
    return tf.stack([cy - 0.5 * h, cx - 0.5 * w, cy + 0.5 * h, cx + 0.5 * w], axis=-1)


def clip(boxes, height, width):
    y1, x1, y2, x2 = _split(boxes)
    height = tf.cast(height, boxes.dtype)
    width = tf.cast(width, boxes.dtype)
    return tf.stack(
        [
            tf.clip_by_value(y1, 0.0, height),
            tf.clip_by_value(x1, 0.0, width),
            tf.clip_by_value(y2, 0.0, height),
            tf.clip_by_value(x2, 0.0, width),
        ],
        axis=-1,
    )


def gather(values, indices):
    """``values`` (B, N, ...) gathered at ``indices`` (B, K) per image -> (B, K, ...)."""
    return tf.gather(values, indices, batch_dims=1)


def interpolation_matrix(coords, size):
    """Bilinear weights of sample points ``coords`` (..., P) on a grid of ``size``.

    Returns (..., P, size): row p holds the weights of the two grid cells that
    sample p interpolates (a triangle kernel), with the coordinate clamped to
    ``[0, size - 1]`` as RoIAlign does at the border. Multiplying a grid by
    this matrix on each axis is exact separable bilinear resampling.
    """
    coords = tf.clip_by_value(coords, 0.0, float(size - 1))
    grid = tf.range(size, dtype=coords.dtype)
    return tf.nn.relu(1.0 - tf.abs(coords[..., None] - grid))


def crop_and_resize_masks(masks, boxes, size):
    """Crop each mask of ``masks`` (B, K, H, W) to its box (B, K, 4), bilinearly,
    at ``size`` x ``size`` sample points (cell centres). Returns (B, K, size, size).

    Used for the mask targets: each ground-truth instance mask is cropped to
    the RoI it was matched with, like RoIAlign with one sample per bin.
    """
    height, width = masks.shape[-2], masks.shape[-1]
    y1, x1, y2, x2 = _split(boxes)
    steps = (tf.range(size, dtype=boxes.dtype) + 0.5) / size
    ys = y1[..., None] + (y2 - y1)[..., None] * steps - 0.5  # pixel-centre coordinates
    xs = x1[..., None] + (x2 - x1)[..., None] * steps - 0.5
    wy = interpolation_matrix(ys, height)  # (B, K, size, H)
    wx = interpolation_matrix(xs, width)  # (B, K, size, W)
    masks = tf.cast(masks, boxes.dtype)
    return tf.einsum("bkph,bkhw,bkqw->bkpq", wy, masks, wx)


def paste_masks(masks, boxes, height, width):
    """Paste per-box masks (B, K, m, m) back into the image: (B, K, height, width).

    Each image pixel inside a box samples the mask bilinearly (the mask's
    cells cover the box evenly); pixels outside the box get 0.
    """
    m = masks.shape[-1]
    y1, x1, y2, x2 = _split(boxes)
    h = tf.maximum(y2 - y1, 1e-6)
    w = tf.maximum(x2 - x1, 1e-6)
    py = tf.range(height, dtype=boxes.dtype) + 0.5
    px = tf.range(width, dtype=boxes.dtype) + 0.5
    uy = (py - y1[..., None]) / h[..., None] * m - 0.5  # (B, K, H) in mask cells
    ux = (px - x1[..., None]) / w[..., None] * m - 0.5
    inside_y = tf.cast((py >= y1[..., None]) & (py < y2[..., None]), boxes.dtype)
    inside_x = tf.cast((px >= x1[..., None]) & (px < x2[..., None]), boxes.dtype)
    wy = interpolation_matrix(uy, m) * inside_y[..., None]  # (B, K, H, m)
    wx = interpolation_matrix(ux, m) * inside_x[..., None]  # (B, K, W, m)
    return tf.einsum("bkym,bkmn,bkxn->bkyx", wy, tf.cast(masks, boxes.dtype), wx)
