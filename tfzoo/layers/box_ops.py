"""Box arithmetic shared by the detection layers (static shapes, XLA-friendly).

Boxes are ``[y1, x1, y2, x2]`` in pixels, continuous coordinates: pixel ``i``
covers ``[i, i + 1)``, so a one-pixel object at row ``r`` has ``y1 = r`` and
``y2 = r + 1``. Padded ground-truth rows are ``-1`` everywhere.

Everything here is written in ``keras.ops`` and runs on every Keras backend
(TensorFlow, JAX, PyTorch), under ``jit_compile=True`` too: the batched
gather is one flat ``take`` and the padded non-maximum suppression is a loop
over a static number of output boxes.
"""

from __future__ import annotations

import math

from keras import ops

# Decoded log-scale changes are clipped here (as in Detectron) so that
# exp() cannot overflow early in training.
BBOX_XFORM_CLIP = math.log(1000.0 / 16.0)
RPN_BOX_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
HEAD_BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def _split(boxes):
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def area(boxes):
    y1, x1, y2, x2 = _split(boxes)
    return ops.maximum(y2 - y1, 0.0) * ops.maximum(x2 - x1, 0.0)


def pairwise_iou(a, b, b_valid=None):
    """IoU of every box in ``a`` (..., N, 4) with every box in ``b`` (..., M, 4).

    Returns (..., N, M). Where ``b_valid`` (..., M) is False the IoU is -1, so
    padded ground truth never matches anything.
    """
    a = ops.convert_to_tensor(a)
    b = ops.convert_to_tensor(b)
    ay1, ax1, ay2, ax2 = _split(a[..., :, None, :])
    by1, bx1, by2, bx2 = _split(b[..., None, :, :])
    ih = ops.maximum(ops.minimum(ay2, by2) - ops.maximum(ay1, by1), 0.0)
    iw = ops.maximum(ops.minimum(ax2, bx2) - ops.maximum(ax1, bx1), 0.0)
    inter = ih * iw
    union = area(a)[..., :, None] + area(b)[..., None, :] - inter
    iou = inter / ops.maximum(union, 1e-8)
    if b_valid is not None:
        b_valid = ops.convert_to_tensor(b_valid)
        iou = ops.where(b_valid[..., None, :], iou, -ops.ones_like(iou))
    return iou


def _centre_size(boxes):
    y1, x1, y2, x2 = _split(boxes)
    h = ops.maximum(y2 - y1, 1e-6)
    w = ops.maximum(x2 - x1, 1e-6)
    return y1 + 0.5 * h, x1 + 0.5 * w, h, w


def encode(boxes, anchors, weights=RPN_BOX_WEIGHTS):
    """Regression targets ``(dy, dx, dh, dw)`` that move ``anchors`` onto ``boxes``."""
    wy, wx, wh, ww = weights
    acy, acx, ah, aw = _centre_size(ops.convert_to_tensor(anchors))
    bcy, bcx, bh, bw = _centre_size(ops.convert_to_tensor(boxes))
    return ops.stack(
        [
            wy * (bcy - acy) / ah,
            wx * (bcx - acx) / aw,
            wh * ops.log(bh / ah),
            ww * ops.log(bw / aw),
        ],
        axis=-1,
    )


def decode(deltas, anchors, weights=RPN_BOX_WEIGHTS):
    """Inverse of :func:`encode` (log-size changes clipped at ``log(1000/16)``)."""
    wy, wx, wh, ww = weights
    acy, acx, ah, aw = _centre_size(ops.convert_to_tensor(anchors))
    dy, dx, dh, dw = _split(ops.convert_to_tensor(deltas))
    dh = ops.minimum(dh / wh, BBOX_XFORM_CLIP)
    dw = ops.minimum(dw / ww, BBOX_XFORM_CLIP)
    cy = acy + (dy / wy) * ah
    cx = acx + (dx / wx) * aw
    h = ah * ops.exp(dh)
    w = aw * ops.exp(dw)
    return ops.stack([cy - 0.5 * h, cx - 0.5 * w, cy + 0.5 * h, cx + 0.5 * w], axis=-1)


def clip(boxes, height, width):
    y1, x1, y2, x2 = _split(ops.convert_to_tensor(boxes))
    height, width = float(height), float(width)
    return ops.stack(
        [
            ops.clip(y1, 0.0, height),
            ops.clip(x1, 0.0, width),
            ops.clip(y2, 0.0, height),
            ops.clip(x2, 0.0, width),
        ],
        axis=-1,
    )


def _dim(x, axis):
    """Size of ``x`` along ``axis``: a Python int when static, else a tensor."""
    size = x.shape[axis]
    return size if size is not None else ops.shape(x)[axis]


def gather(values, indices):
    """``values`` (B, N, ...) gathered at ``indices`` (B, K) per image -> (B, K, ...).

    One flat ``take`` on the batch-major rows (row ``b * N + index``), which
    every backend and XLA run as a single gather; the batch size and ``N``
    may be unknown while tracing on TensorFlow.
    """
    values = ops.convert_to_tensor(values)
    indices = ops.cast(indices, "int32")
    rest = tuple(_dim(values, i) for i in range(2, len(values.shape)))
    n = _dim(values, 1)
    # Row number of each image, without arange on a possibly unknown batch size.
    row = ops.cumsum(ops.ones_like(indices[:, :1]), axis=0) - 1  # (B, 1)
    flat_index = ops.reshape(indices + row * ops.cast(n, "int32"), (-1,))
    flat = ops.reshape(values, (-1, *rest))
    out = ops.take(flat, flat_index, axis=0)
    return ops.reshape(out, (-1, _dim(indices, 1), *rest))


def non_max_suppression_padded(boxes, scores, max_output_size, iou_threshold, score_threshold=None):
    """Greedy non-maximum suppression with a static output size.

    ``boxes`` (B, N, 4) and ``scores`` (B, N) must be sorted by decreasing
    score in each image. A box is kept when its IoU with every box kept
    before it is below ``iou_threshold``; boxes with a score not above
    ``score_threshold`` and all-zero padding boxes (every coordinate <= 0)
    are never kept (the rules of ``tf.image.non_max_suppression_padded``).

    The loop runs ``max_output_size`` times: each pass keeps the first box
    still alive and removes it and every box that overlaps it, so the cost is
    ``max_output_size * N`` and all shapes are static.

    Returns ``(selected (B, max_output_size) int32, count (B,) int32)``:
    the first ``count`` entries of each row index the kept boxes, in score
    order; the rest are 0.
    """
    boxes = ops.convert_to_tensor(boxes, "float32")
    scores = ops.convert_to_tensor(scores, "float32")
    n = boxes.shape[1]
    k = int(max_output_size)
    alive = ops.any(boxes > 0.0, axis=-1)
    if score_threshold is not None:
        alive = alive & (scores > float(score_threshold))
    positions = ops.arange(n, dtype="int32")[None, :]  # (1, N)
    slots = ops.arange(k, dtype="int32")[None, :]  # (1, K)
    # One int32 state (B, N + K + 1): alive flags, selected indices, count
    # (a single tensor, so that the loop also traces on symbolic inputs).
    state = ops.concatenate(
        [ops.cast(alive, "int32"), ops.zeros_like(ops.cast(alive[:, :1], "int32")) * slots], axis=1
    )
    state = ops.concatenate([state, ops.zeros_like(state[:, :1])], axis=1)

    def body(t, state):
        alive, selected, count = state[:, :n] > 0, state[:, n : n + k], state[:, n + k :]
        # First box still alive (N when none is).
        first = ops.min(ops.where(alive, positions, n), axis=1)  # (B,)
        found = first < n
        index = ops.minimum(first, n - 1)
        box = gather(boxes, index[:, None])  # (B, 1, 4)
        iou = pairwise_iou(box, boxes)[:, 0, :]  # (B, N)
        suppressed = (iou >= iou_threshold) | (positions == index[:, None])
        alive = alive & ops.logical_not(suppressed & found[:, None])
        selected = ops.where((slots == t) & found[:, None], index[:, None], selected)
        count = count + ops.cast(found, "int32")[:, None]
        return ops.concatenate([ops.cast(alive, "int32"), selected, count], axis=1)

    state = ops.fori_loop(0, k, body, state)
    selected, count = state[:, n : n + k], state[:, n + k]
    return selected, count


def interpolation_matrix(coords, size):
    """Bilinear weights of sample points ``coords`` (..., P) on a grid of ``size``.

    Returns (..., P, size): row p holds the weights of the two grid cells that
    sample p interpolates (a triangle kernel), with the coordinate clamped to
    ``[0, size - 1]`` as RoIAlign does at the border. Multiplying a grid by
    this matrix on each axis is exact separable bilinear resampling.
    """
    coords = ops.clip(coords, 0.0, float(size - 1))
    grid = ops.arange(size, dtype=coords.dtype)
    return ops.relu(1.0 - ops.abs(coords[..., None] - grid))


def crop_and_resize_masks(masks, boxes, size):
    """Crop each mask of ``masks`` (B, K, H, W) to its box (B, K, 4), bilinearly,
    at ``size`` x ``size`` sample points (cell centres). Returns (B, K, size, size).

    Used for the mask targets: each ground-truth instance mask is cropped to
    the RoI it was matched with, like RoIAlign with one sample per bin.
    """
    masks = ops.convert_to_tensor(masks)
    boxes = ops.convert_to_tensor(boxes)
    height, width = masks.shape[-2], masks.shape[-1]
    y1, x1, y2, x2 = _split(boxes)
    steps = (ops.arange(size, dtype=boxes.dtype) + 0.5) / size
    ys = y1[..., None] + (y2 - y1)[..., None] * steps - 0.5  # pixel-centre coordinates
    xs = x1[..., None] + (x2 - x1)[..., None] * steps - 0.5
    wy = interpolation_matrix(ys, height)  # (B, K, size, H)
    wx = interpolation_matrix(xs, width)  # (B, K, size, W)
    masks = ops.cast(masks, boxes.dtype)
    return ops.einsum("bkph,bkhw,bkqw->bkpq", wy, masks, wx)


def paste_masks(masks, boxes, height, width):
    """Paste per-box masks (B, K, m, m) back into the image: (B, K, height, width).

    Each image pixel inside a box samples the mask bilinearly (the mask's
    cells cover the box evenly); pixels outside the box get 0.
    """
    masks = ops.convert_to_tensor(masks)
    boxes = ops.convert_to_tensor(boxes)
    m = masks.shape[-1]
    y1, x1, y2, x2 = _split(boxes)
    h = ops.maximum(y2 - y1, 1e-6)
    w = ops.maximum(x2 - x1, 1e-6)
    py = ops.arange(height, dtype=boxes.dtype) + 0.5
    px = ops.arange(width, dtype=boxes.dtype) + 0.5
    uy = (py - y1[..., None]) / h[..., None] * m - 0.5  # (B, K, H) in mask cells
    ux = (px - x1[..., None]) / w[..., None] * m - 0.5
    inside_y = ops.cast((py >= y1[..., None]) & (py < y2[..., None]), boxes.dtype)
    inside_x = ops.cast((px >= x1[..., None]) & (px < x2[..., None]), boxes.dtype)
    wy = interpolation_matrix(uy, m) * inside_y[..., None]  # (B, K, H, m)
    wx = interpolation_matrix(ux, m) * inside_x[..., None]  # (B, K, W, m)
    return ops.einsum("bkym,bkmn,bkxn->bkyx", wy, ops.cast(masks, boxes.dtype), wx)
