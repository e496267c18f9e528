"""Training targets of Mask R-CNN: anchor matching, RoI sampling, mask targets.

Every output has a fixed size (sampled indices plus a "picked" flag), so the
training step compiles under XLA. Ground truth comes padded: boxes
``(B, G, 4)``, classes ``(B, G)`` with ``-1`` (or 0) on padding rows, masks
``(B, G, H, W)``. The instance count ``G`` may differ from batch to batch (a
traced step then sees it as unknown) and may be 0.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfzoo._saving import serializable
from tfzoo.layers import box_ops


def _sample(candidates, k, noise):
    """Pick up to ``k`` random True entries of ``candidates`` (B, N).

    Returns ``(index (B, k), picked (B, k) bool)``; rows past the number of
    candidates are not picked.
    """
    priority = tf.where(candidates, 1.0 + noise, 0.0)
    n = candidates.shape[1]
    if n is not None:
        values, index = tf.math.top_k(priority, k=min(k, n))
        return index, values > 0.5
    # Unknown count (a varying number of ground-truth instances): pad with
    # never-picked entries so that top_k still returns k, then point the
    # padding's indices back inside the candidates.
    n = tf.shape(candidates)[1]
    priority = tf.pad(priority, [[0, 0], [0, tf.maximum(k - n, 0)]])
    values, index = tf.math.top_k(priority, k=k)
    return tf.minimum(index, tf.maximum(n - 1, 0)), values > 0.5


def _sample_balanced(positive, negative, total, positive_fraction, noise):
    """Up to ``total * positive_fraction`` positives, the rest negatives.

    Returns ``(index (B, P + total), picked, is_positive)`` where ``P`` is the
    positive quota; at most ``total`` rows are picked.
    """
    quota = max(1, int(round(total * positive_fraction)))
    pos_index, pos_picked = _sample(positive, quota, noise)
    neg_index, neg_picked = _sample(negative, total, noise)
    n_pos = tf.reduce_sum(tf.cast(pos_picked, tf.int32), axis=1, keepdims=True)
    neg_picked &= tf.range(neg_index.shape[1])[None, :] < total - n_pos
    index = tf.concat([pos_index, neg_index], axis=1)
    picked = tf.concat([pos_picked, neg_picked], axis=1)
    is_positive = tf.concat([pos_picked, tf.zeros_like(neg_picked)], axis=1)
    return index, picked, is_positive


def _gt_valid(gt_classes):
    return tf.cast(gt_classes, tf.int32) > 0


def _with_padding_row(gt_boxes, gt_classes, gt_masks=None):
    """Ground truth with one padding row appended when ``G`` may be 0.

    Matching takes an ``argmax`` over the instances, which has no answer for
    an empty axis; a padding row (box ``-1``, class ``-1``, empty mask) never
    matches anything, so it changes no target. ``G`` known and positive: the
    inputs as they are.
    """
    if gt_boxes.shape[1] is not None and gt_boxes.shape[1] > 0:
        return gt_boxes, gt_classes, gt_masks
    batch = tf.shape(gt_boxes)[0]
    gt_boxes = tf.concat([gt_boxes, -tf.ones([batch, 1, 4], gt_boxes.dtype)], axis=1)
    gt_classes = tf.concat([gt_classes, -tf.ones([batch, 1], gt_classes.dtype)], axis=1)
    if gt_masks is not None:
        pad = tf.zeros(tf.concat([[batch, 1], tf.shape(gt_masks)[2:]], 0), gt_masks.dtype)
        pad.set_shape([None, 1] + list(gt_masks.shape[2:]))
        gt_masks = tf.concat([gt_masks, pad], axis=1)
    return gt_boxes, gt_classes, gt_masks


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
        if not 0 < negative_iou <= positive_iou <= 1:
            raise ValueError("need 0 < negative_iou <= positive_iou <= 1")
        self.positive_iou = float(positive_iou)
        self.negative_iou = float(negative_iou)
        self.samples_per_image = int(samples_per_image)
        self.positive_fraction = float(positive_fraction)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, anchors, gt_boxes, gt_classes):
        gt_boxes = tf.cast(gt_boxes, "float32")
        gt_classes = tf.cast(gt_classes, tf.int32)
        gt_boxes, gt_classes, _ = _with_padding_row(gt_boxes, gt_classes)
        valid = _gt_valid(gt_classes)
        iou = box_ops.pairwise_iou(anchors, gt_boxes, valid)  # (B, N, G)
        best = tf.reduce_max(iou, axis=2)
        match = tf.argmax(iou, axis=2, output_type=tf.int32)
        # The best anchor(s) of each real box are positive whatever their IoU.
        best_of_gt = tf.reduce_max(iou, axis=1, keepdims=True)  # (B, 1, G)
        is_best = tf.reduce_any((iou >= best_of_gt - 1e-6) & (iou > 0.0) & valid[:, None], axis=2)
        positive = (best >= self.positive_iou) | is_best
        negative = (best < self.negative_iou) & (best >= 0.0) & ~positive
        # No ground truth at all: every anchor is a negative.
        negative |= (best < 0.0) & ~positive
        noise = keras.random.uniform(tf.shape(best), seed=self.seed_generator)
        index, picked, is_pos = _sample_balanced(
            positive, negative, self.samples_per_image, self.positive_fraction, noise
        )
        matched = box_ops.gather(gt_boxes, box_ops.gather(match, index))
        targets = box_ops.encode(matched, box_ops.gather(anchors, index), box_ops.RPN_BOX_WEIGHTS)
        targets = tf.where(is_pos[..., None], targets, 0.0)
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
        gt_boxes = tf.cast(gt_boxes, "float32")
        gt_classes = tf.cast(gt_classes, tf.int32)
        gt_boxes, gt_classes, gt_masks = _with_padding_row(gt_boxes, gt_classes, gt_masks)
        valid_gt = _gt_valid(gt_classes)
        boxes = tf.concat([tf.stop_gradient(proposals), gt_boxes], axis=1)
        usable = tf.concat([proposal_valid, valid_gt], axis=1)
        iou = box_ops.pairwise_iou(boxes, gt_boxes, valid_gt)
        best = tf.reduce_max(iou, axis=2)
        match = tf.argmax(iou, axis=2, output_type=tf.int32)
        foreground = usable & (best >= self.foreground_iou)
        background = usable & ~foreground
        noise = keras.random.uniform(tf.shape(best), seed=self.seed_generator)
        index, picked, is_fg = _sample_balanced(
            foreground, background, self.num_rois, self.foreground_fraction, noise
        )
        # Squeeze to num_rois slots: picked foreground first, then picked background.
        order = tf.cast(picked, "float32") + tf.cast(is_fg, "float32")
        order -= tf.cast(tf.range(index.shape[1]), "float32")[None] * 1e-4
        _, slot = tf.math.top_k(order, k=self.num_rois)
        index = box_ops.gather(index, slot)
        picked = box_ops.gather(picked, slot)
        is_fg = box_ops.gather(is_fg, slot)

        rois = box_ops.gather(boxes, index)
        gt_index = box_ops.gather(match, index)
        matched_boxes = box_ops.gather(gt_boxes, gt_index)
        classes = tf.where(is_fg, box_ops.gather(gt_classes, gt_index), 0)
        box_targets = box_ops.encode(matched_boxes, rois, box_ops.HEAD_BOX_WEIGHTS)
        box_targets = tf.where(is_fg[..., None], box_targets, 0.0)

        m = min(self.num_mask_rois, self.num_rois)
        mask_rois = rois[:, :m]
        mask_weights = is_fg[:, :m]
        masks = box_ops.gather(tf.cast(gt_masks, "float32"), gt_index[:, :m])
        crops = box_ops.crop_and_resize_masks(masks, mask_rois, self.mask_size)
        mask_targets = tf.cast(crops >= 0.5, "float32")
        return {
            "rois": tf.stop_gradient(rois),
            "picked": picked,
            "classes": classes,
            "box_targets": box_targets,
            "foreground": is_fg,
            "mask_rois": tf.stop_gradient(mask_rois),
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
    weights = tf.cast(weights, values.dtype)
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def _huber(x, delta):
    ax = tf.abs(x)
    return tf.where(ax < delta, 0.5 * x * x / delta, ax - 0.5 * delta)


def rpn_losses(logits, deltas, targets):
    """RPN objectness (binary cross-entropy) and box (Huber) losses.

    Both are averaged over the sampled anchors, so the box loss weighs
    positives as Detectron does (by the whole sample, not the positives).
    """
    picked_logits = box_ops.gather(tf.cast(logits, "float32"), targets["index"])
    labels = tf.cast(targets["positive"], "float32")
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=picked_logits)
    class_loss = _masked_mean(bce, targets["picked"])
    picked_deltas = box_ops.gather(tf.cast(deltas, "float32"), targets["index"])
    box = tf.reduce_sum(_huber(picked_deltas - targets["box_targets"], 1.0 / 9.0), axis=-1)
    box = tf.reduce_sum(box * tf.cast(targets["positive"], "float32"))
    box_loss = box / tf.maximum(tf.reduce_sum(tf.cast(targets["picked"], "float32")), 1.0)
    return class_loss, box_loss


def head_losses(class_logits, box_deltas, mask_logits, targets):
    """Classification (softmax cross-entropy), box (Huber on the deltas of the
    ground-truth class) and mask (per-pixel binary cross-entropy on the
    ground-truth class' mask, foreground RoIs only) losses."""
    class_logits = tf.cast(class_logits, "float32")
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=targets["classes"], logits=class_logits
    )
    class_loss = _masked_mean(ce, targets["picked"])
    deltas = tf.gather(tf.cast(box_deltas, "float32"), targets["classes"], batch_dims=2)
    box = tf.reduce_sum(_huber(deltas - targets["box_targets"], 1.0), axis=-1)
    box = tf.reduce_sum(box * tf.cast(targets["foreground"], "float32"))
    box_loss = box / tf.maximum(tf.reduce_sum(tf.cast(targets["picked"], "float32")), 1.0)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=targets["mask_targets"], logits=tf.cast(mask_logits, "float32")
    )
    mask_loss = _masked_mean(tf.reduce_mean(bce, axis=[2, 3]), targets["mask_weights"])
    return class_loss, box_loss, mask_loss
