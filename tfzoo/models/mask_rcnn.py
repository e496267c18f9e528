"""Mask R-CNN: a feature pyramid, an RPN, box and mask heads, static shapes throughout.

``build_mask_rcnn`` returns an uncompiled :class:`MaskRCNN`. Train it with
``model.fit(images, {"boxes": ..., "classes": ..., "masks": ...})`` on ground
truth padded to a number of instances per batch (the format of
``tfzoo.datasets.make_shapes``; the count may change from batch to batch and
may be 0); ``model.predict(images)`` returns padded detections. Every shape
inside the model is static (proposals and detections are padded and counted),
so the training step compiles with ``jit_compile=True`` (TPU).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tfzoo._saving import serializable
from tfzoo._validation import check_int
from tfzoo.layers import box_ops
from tfzoo.layers.detection import (
    AnchorGenerator,
    BoxHead,
    MaskRCNNHead,
    ProposalLayer,
    RPNHead,
)
from tfzoo.layers.detection_targets import RoISampler, RPNTargets, head_losses, rpn_losses
from tfzoo.layers.roi_align import RoIAlign

LOSS_NAMES = ("rpn_class_loss", "rpn_box_loss", "class_loss", "box_loss", "mask_loss")


def build_small_backbone(image_shape, widths=(32, 64, 96, 128, 160), name="small_backbone"):
    """A small convolutional backbone that trains from scratch on a CPU.

    A stride-2 stem, then one stage per level (a stride-2 3x3 convolution and
    a 3x3 convolution, each with batch norm and ReLU). Outputs the maps of
    strides 4, 8, 16 and 32 (C2..C5).
    """

    def conv(x, filters, stride, label):
        x = keras.layers.Conv2D(
            filters, 3, strides=stride, padding="same", use_bias=False, name=f"{label}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"{label}_bn")(x)
        return keras.layers.ReLU(name=f"{label}_relu")(x)

    images = keras.Input(shape=tuple(image_shape), name="images")
    x = conv(images, widths[0], 2, "stem")
    outputs = []
    for level, filters in enumerate(widths[1:], start=2):
        x = conv(x, filters, 2, f"c{level}a")
        x = conv(x, filters, 1, f"c{level}b")
        outputs.append(x)
    return keras.Model(images, outputs, name=name)


def build_fpn(backbone, filters=64, name="fpn"):
    """Feature pyramid network on a multi-output backbone (finest level first).

    1x1 lateral convolutions to ``filters`` channels, a top-down pathway
    (nearest-neighbour upsampling and sums) and a 3x3 output convolution per
    level. Returns a ``keras.Model`` from the backbone's input to the
    pyramid levels.
    """
    features = list(backbone.outputs)
    if len(features) < 1:
        raise ValueError("the backbone has no outputs")
    laterals = [
        keras.layers.Conv2D(filters, 1, name=f"{name}_lateral{i}")(f)
        for i, f in enumerate(features)
    ]
    merged = [laterals[-1]]
    for i in range(len(laterals) - 2, -1, -1):
        up = keras.layers.UpSampling2D(2, name=f"{name}_up{i}")(merged[0])
        target = laterals[i].shape[1:3]
        if tuple(up.shape[1:3]) != tuple(target):
            up = keras.layers.Cropping2D(
                ((0, up.shape[1] - target[0]), (0, up.shape[2] - target[1])),
                name=f"{name}_crop{i}",
            )(up)
        merged.insert(0, keras.layers.Add(name=f"{name}_merge{i}")([laterals[i], up]))
    outputs = [
        keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_out{i}")(m)
        for i, m in enumerate(merged)
    ]
    return keras.Model(backbone.inputs, outputs, name=name)


def _strides_of(model, image_shape):
    strides = []
    for out in model.outputs:
        ratio = image_shape[0] / out.shape[1]
        stride = 2 ** round(math.log2(ratio))
        if math.ceil(image_shape[0] / stride) != out.shape[1]:
            raise ValueError(
                f"feature map of height {out.shape[1]} is not the image height "
                f"{image_shape[0]} divided by a power of two"
            )
        strides.append(stride)
    if strides != sorted(strides) or len(set(strides)) != len(strides):
        raise ValueError(f"backbone outputs must go from fine to coarse, got strides {strides}")
    return tuple(strides)


@serializable
class MaskRCNN(keras.Model):
    """Mask R-CNN with static shapes (see :func:`build_mask_rcnn` for the arguments).

    ``call(images)`` (inference) returns a dict of padded detections:
    ``boxes`` (B, D, 4) ``[y1, x1, y2, x2]`` pixels, ``classes`` (B, D) int32
    (``-1`` on padding), ``scores`` (B, D), ``masks`` (B, D, H, W) mask
    probabilities pasted into the image, and ``num_detections`` (B,).

    ``fit`` takes ``(images, {"boxes", "classes", "masks"})`` with ground
    truth padded to a common count ``G`` per batch (padding rows: class ``-1``
    or ``0``; ``G`` may vary between batches and may be 0): boxes ``(B, G,
    4)``, classes ``(B, G)`` (ids ``1..num_classes``), masks ``(B, G, H, W)``
    at the image size. It minimises the sum of the RPN objectness and box
    losses, the head's classification and box losses and the mask loss; each
    is reported.

    Bad input is refused with a ``ValueError``: images of another shape than
    ``image_shape``, masks of another size than the images, mismatched
    instance counts, class ids above ``num_classes``, NaN or infinite images
    or boxes. ``fit``, ``evaluate`` and ``predict`` check in-memory arrays
    before they start; inside the graph (datasets) the same value checks run
    as assertions (an ``InvalidArgumentError`` naming the problem) except
    under XLA, which compiles assertions out. ``predict`` on zero images
    returns empty arrays.
    """

    def __init__(
        self,
        feature_extractor,
        num_classes,
        image_shape,
        anchor_sizes=None,
        aspect_ratios=(0.5, 1.0, 2.0),
        rpn_filters=64,
        pre_nms_top_k=1000,
        post_nms_top_k=256,
        inference_post_nms_top_k=100,
        rpn_samples=256,
        num_rois=64,
        num_mask_rois=16,
        foreground_fraction=0.25,
        fc_units=256,
        mask_filters=64,
        mask_convs=2,
        max_detections=16,
        score_threshold=0.05,
        detection_iou=0.5,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        num_classes = check_int(num_classes, "num_classes")
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}")
        self.feature_extractor = feature_extractor
        self.num_classes = int(num_classes)
        self.image_shape = image_shape
        self.strides = _strides_of(feature_extractor, image_shape)
        if anchor_sizes is None:
            anchor_sizes = tuple(4 * s for s in self.strides)
        self.anchor_sizes = tuple(float(s) for s in anchor_sizes)
        self.aspect_ratios = tuple(float(r) for r in aspect_ratios)
        self.rpn_filters = int(rpn_filters)
        self.pre_nms_top_k = int(pre_nms_top_k)
        self.post_nms_top_k = int(post_nms_top_k)
        self.inference_post_nms_top_k = int(inference_post_nms_top_k)
        self.rpn_samples = int(rpn_samples)
        self.num_rois = int(num_rois)
        self.num_mask_rois = int(num_mask_rois)
        self.foreground_fraction = float(foreground_fraction)
        self.fc_units = int(fc_units)
        self.mask_filters = int(mask_filters)
        self.mask_convs = int(mask_convs)
        self.max_detections = int(max_detections)
        self.score_threshold = float(score_threshold)
        self.detection_iou = float(detection_iou)
        self.seed = seed

        self.anchor_generator = AnchorGenerator(
            image_shape, self.strides, self.anchor_sizes, self.aspect_ratios, name="anchors"
        )
        self.rpn_head = RPNHead(len(self.aspect_ratios), self.rpn_filters, name="rpn_head")
        self.proposal_layer = ProposalLayer(
            image_shape,
            pre_nms_top_k=self.pre_nms_top_k,
            post_nms_top_k=self.post_nms_top_k,
            inference_post_nms_top_k=self.inference_post_nms_top_k,
            name="proposals",
        )
        # Box size that maps to the middle pyramid level.
        mid = self.strides[len(self.strides) // 2]
        canonical = dict(
            strides=self.strides,
            canonical_size=4.0 * mid,
            canonical_level=int(math.log2(mid)),
        )
        self.box_roi_align = RoIAlign(7, 2, name="box_roi_align", **canonical)
        self.mask_roi_align = RoIAlign(14, 2, name="mask_roi_align", **canonical)
        self.box_head = BoxHead(self.num_classes, self.fc_units, name="box_head")
        self.mask_head = MaskRCNNHead(
            self.num_classes, self.mask_filters, self.mask_convs, name="mask_head"
        )
        self.rpn_targets = RPNTargets(samples_per_image=self.rpn_samples, seed=seed)
        self.roi_sampler = RoISampler(
            num_rois=self.num_rois,
            foreground_fraction=self.foreground_fraction,
            num_mask_rois=self.num_mask_rois,
            mask_size=28,
            seed=None if seed is None else seed + 1,
        )
        self.loss_trackers = [keras.metrics.Mean(name="loss")] + [
            keras.metrics.Mean(name=n) for n in LOSS_NAMES
        ]

    def build(self, input_shape=None):
        # Run the inference graph once on zeros: builds every sub-layer.
        if not self.built:
            self.call(tf.zeros((1,) + self.image_shape))
        self.built = True

    # -- inference -------------------------------------------------------
    def _check_image_shape(self, shape, what="images"):
        shape, want = tuple(shape), self.image_shape
        if len(shape) != 4:
            raise ValueError(
                f"MaskRCNN takes a batch of images (batch, height, width, channels) of shape "
                f"{want}; got {what} of shape {shape}"
            )
        if shape[3] is not None and shape[3] != want[2]:
            raise ValueError(
                f"MaskRCNN was built for {want[2]}-channel images of shape {want}; got {what} "
                f"of shape {shape}, with {shape[3]} channel(s)"
            )
        if any(got is not None and got != size for got, size in zip(shape[1:3], want[:2])):
            raise ValueError(
                f"MaskRCNN was built for images of shape {want} (height, width, channels); "
                f"got {what} of shape {shape}. Build a model for that size or resize the images"
            )

    def _empty_detections(self):
        d, (h, w) = self.max_detections, self.image_shape[:2]
        return {
            "boxes": tf.zeros([0, d, 4]),
            "classes": tf.zeros([0, d], tf.int32),
            "scores": tf.zeros([0, d]),
            "masks": tf.zeros([0, d, h, w]),
            "num_detections": tf.zeros([0], tf.int32),
        }

    def call(self, images, training=False):
        self._check_image_shape(images.shape)
        if images.shape[0] == 0:
            return self._empty_detections()
        images = tf.cast(images, self.compute_dtype)
        features = self.feature_extractor(images, training=training)
        logits, deltas = self.rpn_head(features)
        anchors = self.anchor_generator(images)
        proposals, _, valid = self.proposal_layer(logits, deltas, anchors, training=False)
        class_logits, box_deltas = self.box_head(self.box_roi_align(features, proposals))
        boxes, classes, scores, count = self._detections(proposals, valid, class_logits, box_deltas)
        mask_logits = self.mask_head(self.mask_roi_align(features, boxes), classes)
        found = tf.range(self.max_detections)[None] < count[:, None]
        probs = tf.sigmoid(tf.cast(mask_logits, "float32"))
        probs *= tf.cast(found, "float32")[..., None, None]
        masks = box_ops.paste_masks(probs, boxes, self.image_shape[0], self.image_shape[1])
        return {
            "boxes": boxes,
            "classes": tf.where(found, classes, -1),
            "scores": scores,
            "masks": masks,
            "num_detections": count,
        }

    def _detections(self, proposals, valid, class_logits, box_deltas):
        c = self.num_classes
        probs = tf.nn.softmax(tf.cast(class_logits, "float32"), axis=-1)[..., 1:]  # (B, K, C)
        probs = probs * tf.cast(valid, "float32")[..., None]
        deltas = tf.cast(box_deltas, "float32")[:, :, 1:, :]
        boxes = box_ops.decode(deltas, proposals[:, :, None, :], box_ops.HEAD_BOX_WEIGHTS)
        boxes = box_ops.clip(boxes, self.image_shape[0], self.image_shape[1])
        batch = tf.shape(proposals)[0]
        k = proposals.shape[1] * c
        boxes = tf.reshape(boxes, [batch, k, 4])
        scores = tf.reshape(probs, [batch, k])
        classes = tf.tile(tf.range(1, c + 1)[None, None, :], [batch, proposals.shape[1], 1])
        classes = tf.reshape(classes, [batch, k])
        scores, order = tf.math.top_k(scores, k=k)
        boxes = box_ops.gather(boxes, order)
        classes = box_ops.gather(classes, order)
        # Class-aware NMS in one call: shift each class into its own region.
        shift = tf.cast(classes, "float32")[..., None] * float(max(self.image_shape[:2]) + 1)
        keep = min(self.max_detections, k)
        selected, count = tf.image.non_max_suppression_padded(
            boxes + shift,
            scores,
            max_output_size=keep,
            iou_threshold=self.detection_iou,
            score_threshold=self.score_threshold,
            pad_to_max_output_size=True,
            sorted_input=True,
            canonicalized_coordinates=True,
        )
        found = tf.range(keep)[None] < count[:, None]
        boxes = tf.where(found[..., None], box_ops.gather(boxes, selected), 0.0)
        scores = tf.where(found, box_ops.gather(scores, selected), 0.0)
        classes = tf.where(found, box_ops.gather(classes, selected), 0)
        if keep < self.max_detections:
            pad = self.max_detections - keep
            boxes = tf.pad(boxes, [[0, 0], [0, pad], [0, 0]])
            scores = tf.pad(scores, [[0, 0], [0, pad]])
            classes = tf.pad(classes, [[0, 0], [0, pad]])
        return boxes, classes, scores, tf.cast(count, tf.int32)

    # -- training --------------------------------------------------------
    def compute_losses(self, images, targets, training=True):
        """The five losses (a dict) of a batch with padded ground truth."""
        for key in ("boxes", "classes", "masks"):
            if key not in targets:
                raise ValueError(
                    f"Mask R-CNN targets need 'boxes', 'classes' and 'masks'; missing {key!r}"
                )
        images = tf.cast(images, self.compute_dtype)
        gt_boxes = tf.cast(targets["boxes"], "float32")
        gt_classes = tf.cast(targets["classes"], tf.int32)
        gt_masks = tf.convert_to_tensor(targets["masks"])
        self._check_image_shape(images.shape)
        self._check_target_shapes(images.shape, gt_boxes.shape, gt_classes.shape, gt_masks.shape)
        if None in tuple(gt_masks.shape)[2:]:  # known only at run time: checked then
            gt_masks = tf.ensure_shape(gt_masks, [None, None, *self.image_shape[:2]])
        images, gt_boxes, gt_classes = self._assert_valid(images, gt_boxes, gt_classes)
        features = self.feature_extractor(images, training=training)
        logits, deltas = self.rpn_head(features)
        anchors = self.anchor_generator(images)
        rpn_class, rpn_box = rpn_losses(
            logits, deltas, self.rpn_targets(anchors, gt_boxes, gt_classes)
        )
        proposals, _, valid = self.proposal_layer(logits, deltas, anchors, training=True)
        sample = self.roi_sampler(proposals, valid, gt_boxes, gt_classes, gt_masks)
        class_logits, box_deltas = self.box_head(self.box_roi_align(features, sample["rois"]))
        mask_logits = self.mask_head(
            self.mask_roi_align(features, sample["mask_rois"]), sample["mask_classes"]
        )
        cls, box, mask = head_losses(class_logits, box_deltas, mask_logits, sample)
        return dict(zip(LOSS_NAMES, (rpn_class, rpn_box, cls, box, mask)))

    def _check_target_shapes(self, images, boxes, classes, masks):
        """Static shape checks of a batch of ground truth (``None`` dims pass)."""
        images, boxes, classes, masks = (tuple(s) for s in (images, boxes, classes, masks))

        def same(a, b):
            return a is None or b is None or a == b

        if len(boxes) != 3 or not same(boxes[2], 4):
            raise ValueError(f"boxes must have shape (batch, instances, 4); got {boxes}")
        if len(classes) != 2:
            raise ValueError(f"classes must have shape (batch, instances); got {classes}")
        if len(masks) != 4:
            raise ValueError(
                f"masks must have shape (batch, instances, height, width); got {masks}"
            )
        h, w = self.image_shape[:2]
        if not (same(masks[2], h) and same(masks[3], w)):
            raise ValueError(
                f"masks must have the images' height and width {(h, w)}; got masks of shape "
                f"{masks} for images of shape {images}. Resize the masks with the images"
            )
        if not (same(boxes[1], classes[1]) and same(boxes[1], masks[1])):
            raise ValueError(
                "boxes, classes and masks must have the same number of instances; got shapes "
                f"{boxes}, {classes} and {masks}"
            )
        for name, shape in (("boxes", boxes), ("classes", classes), ("masks", masks)):
            if not same(shape[0], images[0]):
                raise ValueError(f"{name} has {shape[0]} rows for {images[0]} images")

    def _assert_valid(self, images, gt_boxes, gt_classes):
        """Graph-time value checks (assertions; XLA compiles them out)."""
        checks = [
            tf.debugging.Assert(
                tf.reduce_all(tf.math.is_finite(tf.cast(images, "float32"))),
                ["MaskRCNN: the images contain NaN or infinite values"],
            ),
            tf.debugging.Assert(
                tf.reduce_all(tf.math.is_finite(gt_boxes)),
                ["MaskRCNN: the ground-truth boxes contain NaN or infinite values"],
            ),
            tf.debugging.Assert(
                tf.reduce_all((gt_classes >= -1) & (gt_classes <= self.num_classes)),
                [
                    f"MaskRCNN: class ids must be in 1..{self.num_classes} "
                    "(-1 or 0 on padding rows); got min and max",
                    tf.reduce_min(gt_classes),
                    tf.reduce_max(gt_classes),
                ],
            ),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(images), tf.identity(gt_boxes), tf.identity(gt_classes)

    def _check_arrays(self, x, y=None):
        """Host-side checks of in-memory images and targets (before fit/evaluate/predict)."""
        if not hasattr(x, "shape") or isinstance(x, tf.data.Dataset):
            return
        self._check_image_shape(x.shape)
        images = np.asarray(x)
        if np.issubdtype(images.dtype, np.floating):
            for start in range(0, len(images), 256):  # bounded temporaries
                chunk = images[start : start + 256]
                finite = np.isfinite(chunk.reshape(len(chunk), -1)).all(axis=1)
                if not finite.all():
                    raise ValueError(
                        "MaskRCNN: the images contain NaN or infinite values (image "
                        f"{start + int(np.argmin(finite))} is the first)"
                    )
        if not isinstance(y, dict):
            return
        for key in ("boxes", "classes", "masks"):
            if key not in y:
                raise ValueError(
                    f"Mask R-CNN targets need 'boxes', 'classes' and 'masks'; missing {key!r}"
                )
        boxes, classes = np.asarray(y["boxes"]), np.asarray(y["classes"])
        self._check_target_shapes(images.shape, boxes.shape, classes.shape, np.shape(y["masks"]))
        if boxes.size and not np.isfinite(boxes).all():
            raise ValueError("MaskRCNN: the ground-truth boxes contain NaN or infinite values")
        bad = classes[(classes < -1) | (classes > self.num_classes)]
        if bad.size:
            raise ValueError(
                f"class ids must be in 1..{self.num_classes} (num_classes={self.num_classes}; "
                f"-1 or 0 on padding rows); got {sorted(set(bad.tolist()))[:10]}"
            )

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        self._check_arrays(x, y)
        if isinstance(validation_data, (tuple, list)) and len(validation_data) >= 2:
            self._check_arrays(validation_data[0], validation_data[1])
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_arrays(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_arrays(x)
        if hasattr(x, "shape") and not isinstance(x, tf.data.Dataset) and x.shape[0] == 0:
            return {k: v.numpy() for k, v in self._empty_detections().items()}
        return super().predict(x, *args, **kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None, **kwargs):
        """Export for serving (``keras.Model.export``), with a short report.

        Keras's own report lists every captured variable (some 80 lines for
        Mask R-CNN); this one names the endpoint, its input and its outputs.
        ``verbose=False`` prints nothing.
        """
        if format != "tf_saved_model":
            return super().export(filepath, format=format, verbose=verbose, **kwargs)
        result = super().export(filepath, format=format, verbose=False, **kwargs)
        if verbose is None or verbose:
            d, (h, w, c) = self.max_detections, self.image_shape
            print(
                f"Saved artifact at '{filepath}'. Endpoint 'serve': images float32 "
                f"(batch, {h}, {w}, {c}) -> a dict of boxes float32 (batch, {d}, 4), "
                f"classes int32 (batch, {d}), scores float32 (batch, {d}), masks float32 "
                f"(batch, {d}, {h}, {w}), num_detections int32 (batch,)."
            )
        return result

    @property
    def metrics(self):
        return list(self.loss_trackers)

    def _update(self, losses, total):
        self.loss_trackers[0].update_state(total)
        for tracker, name in zip(self.loss_trackers[1:], LOSS_NAMES):
            tracker.update_state(losses[name])
        return {m.name: m.result() for m in self.loss_trackers}

    def train_step(self, data):
        images, targets = data[0], data[1]
        with tf.GradientTape() as tape:
            losses = self.compute_losses(images, targets, training=True)
            total = tf.add_n(list(losses.values()))
            if self.losses:
                total += tf.add_n([tf.cast(x, "float32") for x in self.losses])
            # Gradients are summed over replicas: scale the per-replica mean.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = total / replicas
            scaled = self.optimizer.scale_loss(scaled)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        return self._update(losses, total)

    def test_step(self, data):
        images, targets = data[0], data[1]
        losses = self.compute_losses(images, targets, training=False)
        return self._update(losses, tf.add_n(list(losses.values())))

    # -- saving ----------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "feature_extractor": keras.saving.serialize_keras_object(self.feature_extractor),
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
            "anchor_sizes": list(self.anchor_sizes),
            "aspect_ratios": list(self.aspect_ratios),
            "rpn_filters": self.rpn_filters,
            "pre_nms_top_k": self.pre_nms_top_k,
            "post_nms_top_k": self.post_nms_top_k,
            "inference_post_nms_top_k": self.inference_post_nms_top_k,
            "rpn_samples": self.rpn_samples,
            "num_rois": self.num_rois,
            "num_mask_rois": self.num_mask_rois,
            "foreground_fraction": self.foreground_fraction,
            "fc_units": self.fc_units,
            "mask_filters": self.mask_filters,
            "mask_convs": self.mask_convs,
            "max_detections": self.max_detections,
            "score_threshold": self.score_threshold,
            "detection_iou": self.detection_iou,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["feature_extractor"] = keras.saving.deserialize_keras_object(
            config["feature_extractor"]
        )
        return cls(**config)


def build_mask_rcnn(
    num_classes,
    image_shape=(128, 128, 3),
    backbone=None,
    backbone_layers=None,
    fpn_filters=64,
    **kwargs,
):
    """Build an uncompiled Mask R-CNN.

    Args:
        num_classes: object classes, background excluded (class ids 1..num_classes).
        image_shape: ``(height, width, channels)``; static (XLA/TPU).
        backbone: ``None`` for :func:`build_small_backbone` (trains from scratch
            on a CPU), or any Keras model on images: with several outputs
            (finest first) they are used as the pyramid inputs; otherwise name
            the layers to tap in ``backbone_layers`` (e.g. for
            ``keras.applications.MobileNetV2(include_top=False, weights=None,
            input_shape=image_shape)``: ``["block_3_expand_relu",
            "block_6_expand_relu", "block_13_expand_relu", "out_relu"]``).
            Preprocessing the images for a pretrained backbone is the
            caller's job; the default backbone takes images in [0, 1].
        backbone_layers: names of the backbone layers to tap, finest first.
        fpn_filters: channels of the feature pyramid.
        **kwargs: passed to :class:`MaskRCNN`: ``anchor_sizes`` (default 4 x
            each stride), ``aspect_ratios``, ``rpn_filters``,
            ``pre_nms_top_k``, ``post_nms_top_k`` (training proposals),
            ``inference_post_nms_top_k``, ``rpn_samples``, ``num_rois``,
            ``num_mask_rois``, ``foreground_fraction``, ``fc_units``,
            ``mask_filters``, ``mask_convs``, ``max_detections``,
            ``score_threshold``, ``detection_iou``, ``seed``.

    Returns:
        A built, uncompiled :class:`MaskRCNN`. Compile it with an optimizer
        only (the losses are part of the model), e.g.
        ``model.compile(keras.optimizers.Adam(1e-3))``.
    """
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}")
    if backbone is None:
        backbone = build_small_backbone(image_shape)
    elif backbone_layers:
        backbone = keras.Model(
            backbone.inputs,
            [backbone.get_layer(name).output for name in backbone_layers],
            name=f"{backbone.name}_taps",
        )
    elif len(backbone.outputs) < 2:
        raise ValueError("a single-output backbone needs backbone_layers= naming the layers to tap")
    features = build_fpn(backbone, fpn_filters)
    model = MaskRCNN(features, num_classes, image_shape, **kwargs)
    model(tf.zeros((1,) + image_shape))
    return model
