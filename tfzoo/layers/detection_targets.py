"""Training targets of Mask R-CNN: anchor matching, RoI sampling, mask targets.

Every output has a fixed size (sampled indices plus a "picked" flag), so the
training step compiles under XLA. Ground truth comes padded: boxes
``(B, G, 4)``, classes ``(B, G)`` with ``-1`` (or 0) on padding rows, masks
``(B, G, H, W)``. The instance count ``G`` may differ from batch to batch (a
traced step then sees it as unknown) and may be 0.
"""

from __future__ import annotations

import keras
from keras import ops

from tfzoo._saving import serializable
from tfzoo.layers import box_ops


def _sample(candidates, k, noise):
    """Pick up to ``k`` random True entries of ``candidates`` (B, N).

    Returns ``(index (B, k), picked (B, k) bool)``; rows past the number of
    candidates are not picked.
    """
    priority = ops.where(candidates, 1.0 + noise, 0.0)
    n = candidates.shape[1]
    if n is not None:
        values, index = ops.top_k(priority, k=min(k, n))
        return index, values > 0.5
    # Unknown count (a varying number of ground-truth instances, TensorFlow
    # tracing only): append k never-picked entries so that top_k still
    # returns k, then point the padding's indices back inside the candidates.
    n = ops.shape(candidates)[1]
    padding = ops.repeat(ops.zeros_like(priority[:, :1]), k, axis=1)
    values, index = ops.top_k(ops.concatenate([priority, padding], axis=1), k=k)
    return ops.minimum(index, ops.maximum(n - 1, 0)), values > 0.5


def _sample_balanced(positive, negative, total, positive_fraction, noise):
    """Up to ``total * positive_fraction`` positives, the rest negatives.

    Returns ``(index (B, P + total), picked, is_positive)`` where ``P`` is the
    positive quota; at most ``total`` rows are picked.
    """
    quota = max(1, int(round(total * positive_fraction)))
    pos_index, pos_picked = _sample(positive, quota, noise)
    neg_index, neg_picked = _sample(negative, total, noise)
    n_pos = ops.sum(ops.cast(pos_picked, "int32"), axis=1, keepdims=True)
    neg_picked = neg_picked & (
        ops.arange(neg_index.shape[1], dtype="int32")[None, :] < total - n_pos
    )
    index = ops.concatenate([pos_index, neg_index], axis=1)
    picked = ops.concatenate([pos_picked, neg_picked], axis=1)
    is_positive = ops.concatenate([pos_picked, ops.zeros_like(neg_picked)], axis=1)
    return index, picked, is_positive


def _gt_valid(gt_classes):
    return ops.cast(gt_classes, "int32") > 0


def _with_padding_row(gt_boxes, gt_classes, gt_masks=None):
    """Ground truth with one padding row appended when ``G`` may be 0.

    Matching takes an ``argmax`` over the instances, which has no answer for
    an empty axis; a padding row (box ``-1``, class ``-1``, empty mask) never
    matches anything, so it changes no target. ``G`` known and positive: the
    inputs as they are.
    """
    if gt_boxes.shape[1] is not None and gt_boxes.shape[1] > 0:
        return gt_boxes, gt_classes, gt_masks
    # Sums over the instance axis have the (batch, 1, ...) shape of one row
    # even when that axis is empty or of unknown size.
    gt_boxes = ops.concatenate(
        [gt_boxes, ops.full_like(ops.sum(gt_boxes, axis=1, keepdims=True), -1.0)], axis=1
    )
    gt_classes = ops.concatenate(
        [gt_classes, ops.full_like(ops.sum(gt_classes, axis=1, keepdims=True), -1)], axis=1
    )
    if gt_masks is not None:
        row = ops.zeros_like(ops.sum(ops.cast(gt_masks, "float32"), axis=1, keepdims=True))
        gt_masks = ops.concatenate([gt_masks, ops.cast(row, gt_masks.dtype)], axis=1)
    return gt_boxes, gt_classes, gt_masks


def _first_argmax(x, axis):
    """Index of the maximum along ``axis``, the first one on ties (every backend)."""
    return ops.cast(ops.argmax(x, axis=axis), "int32")


@serializable
class RPNTargets(keras.layers.Layer):
    """Label and sample anchors for the RPN losses.

    An anchor is positive when its IoU with a ground-truth box is at least
    ``positive_iou`` or it is the best anchor of some box; negative below
    ``negative_iou``; ignored in between. ``samples_per_image`` anchors are
    drawn, at most ``positive_fraction`` of them positive.

    Call: ``layer(anchors (B, N, 4), gt_boxes, gt_classes)`` returns a dict:
    ``index`` (B, S) sampled anchor indices, ``picked`` (B, S), ``positive``
    (B, S) and ``box_targets`` (B, S, 4) (encoded deltas of the matched box).
    """

    def __init__(
        self,
        positive_iou=0.7,
        negative_iou=0.3,
        samples_per_image=256,
        positive_fraction=0.5,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.built = True  # no weights: nothing to build
        if not 0 < negative_iou <= positive_iou <= 1:
            raise ValueError("need 0 < negative_iou <= positive_iou <= 1")
        self.positive_iou = float(positive_iou)
        self.negative_iou = float(negative_iou)
        self.samples_per_image = int(samples_per_image)
        self.positive_fraction = float(positive_fraction)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, anchors, gt_boxes, gt_classes):
        anchors = ops.cast(anchors, "float32")
        gt_boxes = ops.cast(gt_boxes, "float32")
        gt_classes = ops.cast(gt_classes, "int32")
        gt_boxes, gt_classes, _ = _with_padding_row(gt_boxes, gt_classes)
        valid = _gt_valid(gt_classes)
        iou = box_ops.pairwise_iou(anchors, gt_boxes, valid)  # (B, N, G)
        best = ops.max(iou, axis=2)
        match = _first_argmax(iou, axis=2)
        # The best anchor(s) of each real box are positive whatever their IoU.
        best_of_gt = ops.max(iou, axis=1, keepdims=True)  # (B, 1, G)
        is_best = ops.any((iou >= best_of_gt - 1e-6) & (iou > 0.0) & valid[:, None], axis=2)
        positive = (best >= self.positive_iou) | is_best
        not_positive = ops.logical_not(positive)
        negative = (best < self.negative_iou) & (best >= 0.0) & not_positive
        # No ground truth at all: every anchor is a negative.
        negative = negative | ((best < 0.0) & not_positive)
        noise = keras.random.uniform(ops.shape(best), seed=self.seed_generator)
        index, picked, is_pos = _sample_balanced(
            positive, negative, self.samples_per_image, self.positive_fraction, noise
        )
        matched = box_ops.gather(gt_boxes, box_ops.gather(match, index))
        targets = box_ops.encode(matched, box_ops.gather(anchors, index), box_ops.RPN_BOX_WEIGHTS)
        targets = ops.where(is_pos[..., None], targets, 0.0)
        return {"index": index, "picked": picked, "positive": is_pos, "box_targets": targets}

    def get_config(self):
        config = super().get_config()
        config.update(
            positive_iou=self.positive_iou,
            negative_iou=self.negative_iou,
            samples_per_image=self.samples_per_image,
            positive_fraction=self.positive_fraction,
            seed=self.seed,
        )
        return config


@serializable
class RoISampler(keras.layers.Layer):
    """Sample a fixed number of RoIs per image and build the head targets.

    Candidates are the valid proposals plus the ground-truth boxes themselves.
    A candidate is foreground when its IoU with a ground-truth box is at
    least ``foreground_iou``, background otherwise. ``num_rois`` are kept per
    image, foreground first, at most ``foreground_fraction`` of them; the
    first ``num_mask_rois`` slots (all foreground when there is enough) also
    get mask targets: the matched instance mask cropped to the RoI and
    resampled to ``mask_size`` x ``mask_size``, thresholded at 0.5.

    Call: ``layer(proposals (B, K, 4), proposal_valid (B, K), gt_boxes,
    gt_classes, gt_masks)`` returns a dict with ``rois`` (B, R, 4),
    ``picked`` (B, R), ``classes`` (B, R) (0 = background), ``box_targets``
    (B, R, 4), ``foreground`` (B, R), ``mask_rois`` (B, M, 4),
    ``mask_classes`` (B, M), ``mask_weights`` (B, M) and ``mask_targets``
    (B, M, mask_size, mask_size).
    """

    def __init__(
        self,
        num_rois=64,
        foreground_fraction=0.25,
        foreground_iou=0.5,
        num_mask_rois=16,
        mask_size=28,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.built = True  # no weights: nothing to build
        if not 0 < foreground_fraction <= 1:
            raise ValueError("foreground_fraction must be in (0, 1]")
        self.num_rois = int(num_rois)
        self.foreground_fraction = float(foreground_fraction)
        self.foreground_iou = float(foreground_iou)
        self.num_mask_rois = int(num_mask_rois)
        self.mask_size = int(mask_size)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, proposals, proposal_valid, gt_boxes, gt_classes, gt_masks):
        proposals = ops.cast(proposals, "float32")
        proposal_valid = ops.cast(proposal_valid, "bool")
        gt_boxes = ops.cast(gt_boxes, "float32")
        gt_classes = ops.cast(gt_classes, "int32")
        gt_masks = ops.convert_to_tensor(gt_masks)
        gt_boxes, gt_classes, gt_masks = _with_padding_row(gt_boxes, gt_classes, gt_masks)
        valid_gt = _gt_valid(gt_classes)
        boxes = ops.concatenate([ops.stop_gradient(proposals), gt_boxes], axis=1)
        usable = ops.concatenate([proposal_valid, valid_gt], axis=1)
        iou = box_ops.pairwise_iou(boxes, gt_boxes, valid_gt)
        best = ops.max(iou, axis=2)
        match = _first_argmax(iou, axis=2)
        foreground = usable & (best >= self.foreground_iou)
        background = usable & ops.logical_not(foreground)
        noise = keras.random.uniform(ops.shape(best), seed=self.seed_generator)
        index, picked, is_fg = _sample_balanced(
            foreground, background, self.num_rois, self.foreground_fraction, noise
        )
        # Squeeze to num_rois slots: picked foreground first, then picked background.
        order = ops.cast(picked, "float32") + ops.cast(is_fg, "float32")
        order = order - ops.arange(index.shape[1], dtype="float32")[None] * 1e-4
        _, slot = ops.top_k(order, k=self.num_rois)
        index = box_ops.gather(index, slot)
        picked = box_ops.gather(picked, slot)
        is_fg = box_ops.gather(is_fg, slot)

        rois = box_ops.gather(boxes, index)
        gt_index = box_ops.gather(match, index)
        matched_boxes = box_ops.gather(gt_boxes, gt_index)
        classes = ops.where(is_fg, box_ops.gather(gt_classes, gt_index), 0)
        box_targets = box_ops.encode(matched_boxes, rois, box_ops.HEAD_BOX_WEIGHTS)
        box_targets = ops.where(is_fg[..., None], box_targets, 0.0)

        m = min(self.num_mask_rois, self.num_rois)
        mask_rois = rois[:, :m]
        mask_weights = is_fg[:, :m]
        masks = box_ops.gather(ops.cast(gt_masks, "float32"), gt_index[:, :m])
        crops = box_ops.crop_and_resize_masks(masks, mask_rois, self.mask_size)
        mask_targets = ops.cast(crops >= 0.5, "float32")
        return {
            "rois": ops.stop_gradient(rois),
            "picked": picked,
            "classes": classes,
            "box_targets": box_targets,
            "foreground": is_fg,
            "mask_rois": ops.stop_gradient(mask_rois),
            "mask_classes": classes[:, :m],
            "mask_weights": mask_weights,
            "mask_targets": mask_targets,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            num_rois=self.num_rois,
            foreground_fraction=self.foreground_fraction,
            foreground_iou=self.foreground_iou,
            num_mask_rois=self.num_mask_rois,
            mask_size=self.mask_size,
            seed=self.seed,
        )
        return config


def _masked_mean(values, weights):
    weights = ops.cast(weights, values.dtype)
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1.0)


def _huber(x, delta):
    ax = ops.abs(x)
    return ops.where(ax < delta, 0.5 * x * x / delta, ax - 0.5 * delta)


def _sigmoid_cross_entropy(labels, logits):
    """Binary cross-entropy on logits, in the overflow-free form."""
    return ops.relu(logits) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def _take_class(values, classes):
    """``values`` (B, R, C, ...) at class ``classes`` (B, R) -> (B, R, ...)."""
    index = ops.cast(classes, "int32")
    for _ in range(len(values.shape) - 2):
        index = ops.expand_dims(index, -1)
    return ops.squeeze(ops.take_along_axis(values, index, axis=2), axis=2)


def rpn_losses(logits, deltas, targets):
    """RPN objectness (binary cross-entropy) and box (Huber) losses.

    Both are averaged over the sampled anchors, so the box loss weighs
    positives as Detectron does (by the whole sample, not the positives).
    """
    picked_logits = box_ops.gather(ops.cast(logits, "float32"), targets["index"])
    labels = ops.cast(targets["positive"], "float32")
    bce = _sigmoid_cross_entropy(labels, picked_logits)
    class_loss = _masked_mean(bce, targets["picked"])
    picked_deltas = box_ops.gather(ops.cast(deltas, "float32"), targets["index"])
    # (targets may be NumPy: an operator between NumPy and a torch tensor is NumPy's)
    box_targets = ops.convert_to_tensor(targets["box_targets"], "float32")
    box = ops.sum(_huber(picked_deltas - box_targets, 1.0 / 9.0), axis=-1)
    box = ops.sum(box * labels)
    box_loss = box / ops.maximum(ops.sum(ops.cast(targets["picked"], "float32")), 1.0)
    return class_loss, box_loss


def head_losses(class_logits, box_deltas, mask_logits, targets):
    """Classification (softmax cross-entropy), box (Huber on the deltas of the
    ground-truth class) and mask (per-pixel binary cross-entropy on the
    ground-truth class' mask, foreground RoIs only) losses."""
    class_logits = ops.cast(class_logits, "float32")
    log_probs = ops.log_softmax(class_logits, axis=-1)
    ce = -_take_class(log_probs, targets["classes"])
    class_loss = _masked_mean(ce, targets["picked"])
    deltas = _take_class(ops.cast(box_deltas, "float32"), targets["classes"])
    box_targets = ops.convert_to_tensor(targets["box_targets"], "float32")
    box = ops.sum(_huber(deltas - box_targets, 1.0), axis=-1)
    box = ops.sum(box * ops.cast(targets["foreground"], "float32"))
    box_loss = box / ops.maximum(ops.sum(ops.cast(targets["picked"], "float32")), 1.0)
    bce = _sigmoid_cross_entropy(
        ops.cast(targets["mask_targets"], "float32"), ops.cast(mask_logits, "float32")
    )
    mask_loss = _masked_mean(ops.mean(bce, axis=(2, 3)), targets["mask_weights"])
    return class_loss, box_loss, mask_loss
