"""Mask R-CNN building blocks: anchors, RPN head, proposals, box and mask heads.

All shapes are static: proposals and detections are padded to a fixed count
and carry a validity flag, so the whole model compiles under XLA (TPU). The
layers are written in ``keras.ops`` and run on every Keras backend.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfzoo._saving import serializable
from tfzoo._validation import check_int
from tfzoo.layers import box_ops


def _pair(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or min(shape[:2]) < 1:
        raise ValueError(f"image_shape must start with (height, width), got {shape}")
    return shape[0], shape[1]


def make_anchors(image_shape, strides, sizes, aspect_ratios):
    """All anchors of a feature pyramid as a NumPy array (N, 4), level by level,
    then row, column and aspect ratio (the order the RPN head flattens in)."""
    height, width = _pair(image_shape)
    out = []
    for stride, size in zip(strides, sizes):
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        cy = (np.arange(rows) + 0.5) * stride
        cx = (np.arange(cols) + 0.5) * stride
        ratios = np.asarray(aspect_ratios, dtype=np.float64)
        h = size * np.sqrt(ratios)  # ratio = height / width, area = size**2
        w = size / np.sqrt(ratios)
        cy, cx = np.meshgrid(cy, cx, indexing="ij")
        cy, cx = cy[..., None], cx[..., None]
        boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)
        out.append(boxes.reshape(-1, 4))
    return np.concatenate(out).astype("float32")


@serializable
class AnchorGenerator(keras.layers.Layer):
    """Anchor boxes of a feature pyramid, one size per level.

    Level ``l`` has stride ``strides[l]`` and anchors of area ``sizes[l]**2``
    in every ``aspect_ratios`` (height / width), centred on each cell. The
    anchors depend only on the image shape, so they are computed once.

    Call: ``layer(images)`` (only the batch size is read) returns
    ``(B, N, 4)``; ``layer.anchors`` holds the (N, 4) NumPy array.
    """

    def __init__(
        self,
        image_shape,
        strides=(4, 8, 16, 32),
        sizes=(16, 32, 64, 128),
        aspect_ratios=(0.5, 1.0, 2.0),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.built = True  # no weights: nothing to build
        if len(strides) != len(sizes):
            raise ValueError(f"one anchor size per stride: {strides} vs {sizes}")
        if min(aspect_ratios) <= 0:
            raise ValueError(f"aspect ratios must be positive, got {aspect_ratios}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.strides = tuple(int(s) for s in strides)
        self.sizes = tuple(float(s) for s in sizes)
        self.aspect_ratios = tuple(float(r) for r in aspect_ratios)
        self.anchors = make_anchors(self.image_shape, self.strides, self.sizes, self.aspect_ratios)

    @property
    def num_anchors_per_location(self):
        return len(self.aspect_ratios)

    def call(self, images):
        anchors = ops.convert_to_tensor(self.anchors)
        # (B, 1, 1) zeros broadcast against the anchors: works for an unknown batch.
        zeros = ops.zeros_like(ops.reshape(ops.cast(images[:, 0, 0, 0], "float32"), (-1, 1, 1)))
        return zeros + anchors[None]

    def compute_output_shape(self, images_shape):
        return (images_shape[0], len(self.anchors), 4)

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=list(self.image_shape),
            strides=list(self.strides),
            sizes=list(self.sizes),
            aspect_ratios=list(self.aspect_ratios),
        )
        return config


@serializable
class RPNHead(keras.layers.Layer):
    """Region proposal head, shared across pyramid levels.

    A 3x3 convolution (ReLU) then two 1x1 convolutions: one objectness logit
    and four box deltas per anchor.

    Call: ``layer(features)`` with a list of ``(B, H_l, W_l, C)`` maps returns
    ``(objectness_logits (B, N), box_deltas (B, N, 4))``, flattened in
    :func:`make_anchors`' order.
    """

    def __init__(self, num_anchors=3, filters=64, **kwargs):
        super().__init__(**kwargs)
        num_anchors = check_int(num_anchors, "num_anchors")
        filters = check_int(filters, "filters")
        self.num_anchors = int(num_anchors)
        self.filters = int(filters)
        self.conv = keras.layers.Conv2D(
            self.filters, 3, padding="same", activation="relu", name="conv"
        )
        self.objectness = keras.layers.Conv2D(
            self.num_anchors,
            1,
            name="objectness",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        )
        self.deltas = keras.layers.Conv2D(
            4 * self.num_anchors,
            1,
            name="deltas",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        )

    def build(self, features_shape):
        shape = features_shape[0] if isinstance(features_shape, list) else features_shape
        self.conv.build(shape)
        hidden = tuple(shape[:-1]) + (self.filters,)
        self.objectness.build(hidden)
        self.deltas.build(hidden)

    def call(self, features):
        if not isinstance(features, (list, tuple)):
            features = [features]
        logits, deltas = [], []
        for f in features:
            h = self.conv(f)
            n = f.shape[1] * f.shape[2] * self.num_anchors
            logits.append(ops.reshape(self.objectness(h), (-1, n)))
            deltas.append(ops.reshape(self.deltas(h), (-1, n, 4)))
        return ops.concatenate(logits, axis=1), ops.concatenate(deltas, axis=1)

    def compute_output_shape(self, features_shape):
        shapes = features_shape if isinstance(features_shape, list) else [features_shape]
        n = sum(s[1] * s[2] * self.num_anchors for s in shapes)
        return (shapes[0][0], n), (shapes[0][0], n, 4)

    def get_config(self):
        config = super().get_config()
        config.update(num_anchors=self.num_anchors, filters=self.filters)
        return config


@serializable
class ProposalLayer(keras.layers.Layer):
    """Turn RPN outputs into a fixed number of proposals per image.

    Decode the deltas on the anchors, clip to the image, keep the
    ``pre_nms_top_k`` best by objectness, then padded non-maximum suppression
    (:func:`tfzoo.layers.box_ops.non_max_suppression_padded`, in
    ``keras.ops`` with a static output size) down to ``post_nms_top_k``
    (training) or ``inference_post_nms_top_k``. No gradient flows through the
    proposals.

    Call: ``layer(logits, deltas, anchors, training=...)`` returns
    ``(boxes (B, K, 4), scores (B, K), valid (B, K) bool)``; invalid rows are
    padding (zero boxes, score 0).
    """

    def __init__(
        self,
        image_shape,
        pre_nms_top_k=1000,
        post_nms_top_k=256,
        inference_post_nms_top_k=100,
        iou_threshold=0.7,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.built = True  # no weights: nothing to build
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.pre_nms_top_k = int(pre_nms_top_k)
        self.post_nms_top_k = int(post_nms_top_k)
        self.inference_post_nms_top_k = int(inference_post_nms_top_k)
        self.iou_threshold = float(iou_threshold)

    def call(self, logits, deltas, anchors, training=False):
        logits = ops.stop_gradient(ops.cast(logits, "float32"))
        deltas = ops.stop_gradient(ops.cast(deltas, "float32"))
        anchors = ops.cast(anchors, "float32")
        k = min(self.pre_nms_top_k, logits.shape[1])
        scores, index = ops.top_k(logits, k=k)
        boxes = box_ops.decode(box_ops.gather(deltas, index), box_ops.gather(anchors, index))
        boxes = box_ops.clip(boxes, self.image_shape[0], self.image_shape[1])
        scores = ops.sigmoid(scores)
        keep = self.post_nms_top_k if training else self.inference_post_nms_top_k
        keep = min(keep, k)
        selected, count = box_ops.non_max_suppression_padded(
            boxes, scores, max_output_size=keep, iou_threshold=self.iou_threshold
        )
        valid = ops.arange(keep, dtype="int32")[None, :] < count[:, None]
        boxes = ops.where(valid[..., None], box_ops.gather(boxes, selected), 0.0)
        scores = ops.where(valid, box_ops.gather(scores, selected), 0.0)
        return boxes, scores, valid

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=list(self.image_shape),
            pre_nms_top_k=self.pre_nms_top_k,
            post_nms_top_k=self.post_nms_top_k,
            inference_post_nms_top_k=self.inference_post_nms_top_k,
            iou_threshold=self.iou_threshold,
        )
        return config


@serializable
class BoxHead(keras.layers.Layer):
    """Box classification and regression head on RoIAlign features.

    Flatten, ``num_fc`` dense layers of ``fc_units`` (ReLU), then class logits
    (``num_classes + 1``, class 0 = background) and class-specific box deltas.

    Call: ``layer(roi_features (B, R, S, S, C))`` returns
    ``(class_logits (B, R, num_classes + 1), box_deltas (B, R, num_classes + 1, 4))``.
    """

    def __init__(self, num_classes, fc_units=256, num_fc=2, **kwargs):
        super().__init__(**kwargs)
        num_classes = check_int(num_classes, "num_classes")
        self.num_classes = int(num_classes)
        self.fc_units = int(fc_units)
        self.num_fc = int(num_fc)
        self.fcs = [
            keras.layers.Dense(self.fc_units, activation="relu", name=f"fc{i + 1}")
            for i in range(self.num_fc)
        ]
        self.classifier = keras.layers.Dense(
            self.num_classes + 1,
            name="class_logits",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        )
        self.regressor = keras.layers.Dense(
            4 * (self.num_classes + 1),
            name="box_deltas",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
        )

    def build(self, shape):
        width = int(np.prod(shape[2:]))
        for fc in self.fcs:
            fc.build((None, width))
            width = self.fc_units
        self.classifier.build((None, width))
        self.regressor.build((None, width))

    def call(self, features):
        rois = features.shape[1]
        x = ops.reshape(features, (-1, int(np.prod(features.shape[2:]))))
        for fc in self.fcs:
            x = fc(x)
        logits = ops.reshape(self.classifier(x), (-1, rois, self.num_classes + 1))
        deltas = ops.reshape(self.regressor(x), (-1, rois, self.num_classes + 1, 4))
        return logits, deltas

    def compute_output_shape(self, shape):
        return (shape[0], shape[1], self.num_classes + 1), (
            shape[0],
            shape[1],
            self.num_classes + 1,
            4,
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, fc_units=self.fc_units, num_fc=self.num_fc)
        return config


@serializable
class MaskRCNNHead(keras.layers.Layer):
    """Mask head: per-class mask logits, the channel of each RoI's class selected.

    ``num_convs`` 3x3 convolutions of ``filters`` (ReLU), a 2x2 transposed
    convolution (stride 2, ReLU) and a 1x1 convolution with one channel per
    class (``num_classes + 1``, background included so class ids index it
    directly). Each RoI keeps the channel of its class: the ground-truth
    class in training, the predicted class at inference.

    Call: ``layer(roi_features (B, R, S, S, C), classes (B, R), valid=None)``
    returns mask logits ``(B, R, 2S, 2S)``. ``valid`` (B, R) bool marks the RoIs
    that need a mask (at inference, the detections found; the rest is padding):
    when the batch size is static, the convolutions then run on the valid RoIs
    only, gathered into the smallest of a few fixed capacities (all, 1/2, 1/4,
    1/8 of ``B * R``) that holds them, so shapes stay static and one compiled
    function serves every fill; the other RoIs' logits are 0.
    """

    #: The capacities the valid RoIs are gathered into, as fractions of B * R.
    CAPACITY_DIVISORS = (8, 4, 2, 1)

    def __init__(self, num_classes, filters=64, num_convs=2, **kwargs):
        super().__init__(**kwargs)
        num_classes = check_int(num_classes, "num_classes")
        self.num_classes = int(num_classes)
        self.filters = int(filters)
        self.num_convs = int(num_convs)
        self.convs = [
            keras.layers.Conv2D(
                self.filters, 3, padding="same", activation="relu", name=f"conv{i + 1}"
            )
            for i in range(self.num_convs)
        ]
        self.upsample = keras.layers.Conv2DTranspose(
            self.filters, 2, strides=2, activation="relu", name="upsample"
        )
        self.logits = keras.layers.Conv2D(self.num_classes + 1, 1, name="mask_logits")

    def build(self, features_shape, classes_shape=None, valid_shape=None):
        size, channels = features_shape[2], features_shape[4]
        shape = (None, size, size, channels)
        for conv in self.convs:
            conv.build(shape)
            shape = (None, size, size, self.filters)
        self.upsample.build(shape)
        self.logits.build((None, 2 * size, 2 * size, self.filters))

    def call(self, features, classes, valid=None):
        batch, rois, size = features.shape[0], features.shape[1], features.shape[2]
        x = ops.reshape(features, (-1, size, size, features.shape[-1]))
        classes = ops.reshape(ops.clip(ops.cast(classes, "int32"), 0, self.num_classes), (-1,))
        if valid is None or batch is None:
            out = self._masks(x, classes)
        else:
            out = self._masks_of_valid(x, classes, ops.reshape(valid, (-1,)), batch * rois)
        return ops.reshape(out, (-1, rois, 2 * size, 2 * size))

    def _masks(self, x, classes):
        """The logits (N, 2S, 2S) of N RoIs' features (N, S, S, C) in their classes' channels."""
        for conv in self.convs:
            x = conv(x)
        x = self.logits(self.upsample(x))  # (N, 2S, 2S, K+1)
        pick = ops.one_hot(classes, self.num_classes + 1, dtype=x.dtype)
        return ops.einsum("nhwk,nk->nhw", x, pick)

    def _masks_of_valid(self, x, classes, valid, n):
        caps = sorted({max(1, -(-n // d)) for d in self.CAPACITY_DIVISORS})
        # The valid RoIs first (in order), then the rest: a key that sorts them so.
        ramp = ops.arange(n, dtype="float32")
        key = ops.cast(valid, "float32") * float(n) + (float(n) - 1.0 - ramp)
        _, order = ops.top_k(key, k=n)
        where = ops.argsort(order)  # each RoI's place in ``order`` (a permutation's inverse)
        filled = ops.sum(ops.cast(valid, "int32"))
        which = ops.sum(ops.cast(filled > ops.convert_to_tensor(caps[:-1], "int32"), "int32"))

        def branch(cap):
            def run(x, classes, valid, order, where):
                if cap == n:  # every RoI: no gather, no reordering
                    masks = self._masks(x, classes)
                    return masks * ops.cast(valid, masks.dtype)[:, None, None]
                picked = order[:cap]
                masks = self._masks(ops.take(x, picked, axis=0), ops.take(classes, picked))
                # Past the valid ones the capacity holds padding RoIs: their logits are 0 too.
                masks = masks * ops.cast(ops.take(valid, picked), masks.dtype)[:, None, None]
                masks = ops.pad(masks, [[0, n - cap], [0, 0], [0, 0]])
                return ops.take(masks, where, axis=0)

            return run

        return ops.switch(which, [branch(cap) for cap in caps], x, classes, valid, order, where)

    def compute_output_shape(self, features_shape, classes_shape=None, valid_shape=None):
        s = features_shape[2]
        return (features_shape[0], features_shape[1], 2 * s, 2 * s)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, filters=self.filters, num_convs=self.num_convs)
        return config
