"""Mask R-CNN: a feature pyramid, an RPN, box and mask heads, static shapes throughout.

``build_mask_rcnn`` returns an uncompiled :class:`MaskRCNN`. Train it with
``model.fit(images, {"boxes": ..., "classes": ..., "masks": ...})`` on ground
truth padded to a number of instances per batch (the format of
``tfzoo.datasets.make_shapes``; the count may change from batch to batch and
may be 0); ``model.predict(images)`` returns padded detections. Every shape
inside the model is static (proposals and detections are padded and counted),
so the training step compiles with ``jit_compile=True`` (XLA on TensorFlow
and JAX, TPU). The model is written in ``keras.ops`` and trains through
Keras's backend-neutral ``compute_loss`` hook, so ``fit``, ``evaluate``,
``predict`` and ``export`` run on the TensorFlow, JAX and PyTorch backends.

``model.detect(images)`` takes images of any size (letterboxed to the model's
size) and returns each image's detections in its own pixels and resolution
(:mod:`tfzoo.models.mask_rcnn_detect`); the backbone may be a named
``keras.applications`` network with frozen stages
(:mod:`tfzoo.models.mask_rcnn_backbones`), and :func:`transfer_mask_rcnn`
(:mod:`tfzoo.models.mask_rcnn_transfer`) starts a model for new classes from
a trained one.
"""

from __future__ import annotations

import math
import sys

import keras
import numpy as np
from keras import ops

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
from tfzoo.models.mask_rcnn_backbones import (
    backbone_name,
    build_application_backbone,
    build_small_backbone,
    freeze_backbone,
)

LOSS_NAMES = ("rpn_class_loss", "rpn_box_loss", "class_loss", "box_loss", "mask_loss")


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

    Training goes through Keras's ``compute_loss`` hook on every backend:
    ``call(images, training=True)`` returns the pyramid features and the raw
    RPN outputs, and :meth:`compute_loss` assigns the targets (it needs the
    ground truth), runs the box and mask heads on the sampled RoIs and
    returns the total loss; the five losses are ``keras.metrics.Mean``
    trackers in ``metrics`` and so in the logs. ``sample_weight`` is not
    used. Under ``tf.distribute`` the loss is divided by the number of
    replicas (the gradients are summed over them), as Keras's own losses are.

    Images are floats in [0, 1] (as ``make_shapes`` and the loaders give);
    ``uint8`` arrays (pixels 0-255, as images are stored) given to ``fit``,
    ``evaluate`` or ``predict`` are divided by 255 first (before, they gave
    zero detections, silently).

    Bad input is refused with a ``ValueError``: images of another shape than
    ``image_shape``, masks of another size than the images, mismatched
    instance counts, class ids above ``num_classes``, NaN or infinite images
    or boxes. ``fit``, ``evaluate`` and ``predict`` check in-memory (NumPy)
    arrays before they start, on every backend. On TensorFlow the same value
    checks also run inside the graph (datasets) as assertions (an
    ``InvalidArgumentError`` naming the problem) except under XLA, which
    compiles assertions out; JAX and PyTorch have no in-graph assertions, so
    there only the checks of in-memory arrays run. ``predict`` on zero
    images returns empty arrays.

    :meth:`detect` takes a list of images of any size and returns, per image,
    boxes, classes, scores and full-resolution masks in that image's own
    pixels. ``class_names`` (optional; ``num_classes`` names, or
    ``num_classes + 1`` with the background first as ``make_shapes`` gives
    them) are kept in the config (``model.class_names``, background first) and
    name ``detect``'s detections.
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
        class_names=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        num_classes = check_int(num_classes, "num_classes")
        self.class_names = _check_class_names(class_names, num_classes)
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
        # Keras's own "loss" tracker reports the total; these the five parts.
        self.loss_trackers = [keras.metrics.Mean(name=n) for n in LOSS_NAMES]

    def build(self, input_shape=None):
        # Build the heads from the pyramid's shapes, without running the
        # model (an eager run on zeros costs ~45 s on JAX, which dispatches
        # and compiles op by op); the other layers have no weights.
        if not self.built:
            shapes = [tuple(out.shape) for out in self.feature_extractor.outputs]
            channels = shapes[0][-1]
            self.rpn_head.build(shapes)
            size = self.box_roi_align.output_size
            self.box_head.build((None, None, size, size, channels))
            size = self.mask_roi_align.output_size
            self.mask_head.build((None, None, size, size, channels))
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
            "boxes": ops.zeros([0, d, 4]),
            "classes": ops.zeros([0, d], "int32"),
            "scores": ops.zeros([0, d]),
            "masks": ops.zeros([0, d, h, w]),
            "num_detections": ops.zeros([0], "int32"),
        }

    def _raw_outputs(self, images, training):
        """Pyramid features and RPN outputs: what the losses start from."""
        images = ops.cast(images, self.compute_dtype)
        features = self.feature_extractor(images, training=training)
        logits, deltas = self.rpn_head(features)
        return {"features": list(features), "rpn_logits": logits, "rpn_deltas": deltas}

    def call(self, images, training=False):
        """Detections (inference), or with ``training=True`` the raw outputs
        that :meth:`compute_loss` turns into losses with the ground truth."""
        self._check_image_shape(images.shape)
        if images.shape[0] == 0 and not training:
            return self._empty_detections()
        raw = self._raw_outputs(images, training)
        if training:
            return raw
        out = self._infer(images, raw)
        masks = box_ops.paste_masks(
            out.pop("roi_masks"), out["boxes"], self.image_shape[0], self.image_shape[1]
        )
        return {**out, "masks": masks}

    def _infer(self, images, raw):
        """Padded detections with each detection's mask probabilities on its box
        (``roi_masks`` (B, D, 28, 28), zeros on padding), not pasted."""
        features, logits, deltas = raw["features"], raw["rpn_logits"], raw["rpn_deltas"]
        anchors = self.anchor_generator(images)
        proposals, _, valid = self.proposal_layer(logits, deltas, anchors, training=False)
        class_logits, box_deltas = self.box_head(self.box_roi_align(features, proposals))
        boxes, classes, scores, count = self._detections(proposals, valid, class_logits, box_deltas)
        found = ops.arange(self.max_detections, dtype="int32")[None] < count[:, None]
        mask_logits = self.mask_head(self.mask_roi_align(features, boxes), classes, found)
        probs = ops.sigmoid(ops.cast(mask_logits, "float32"))
        probs = probs * ops.cast(found, "float32")[..., None, None]
        return {
            "boxes": boxes,
            "classes": ops.where(found, classes, -1),
            "scores": scores,
            "roi_masks": probs,
            "num_detections": count,
        }

    def _detections(self, proposals, valid, class_logits, box_deltas):
        c = self.num_classes
        probs = ops.softmax(ops.cast(class_logits, "float32"), axis=-1)[..., 1:]  # (B, K, C)
        probs = probs * ops.cast(valid, "float32")[..., None]
        deltas = ops.cast(box_deltas, "float32")[:, :, 1:, :]
        boxes = box_ops.decode(deltas, proposals[:, :, None, :], box_ops.HEAD_BOX_WEIGHTS)
        boxes = box_ops.clip(boxes, self.image_shape[0], self.image_shape[1])
        k = proposals.shape[1] * c
        classes = ops.zeros_like(ops.cast(probs, "int32")) + ops.arange(1, c + 1, dtype="int32")
        boxes = ops.reshape(boxes, (-1, k, 4))
        scores = ops.reshape(probs, (-1, k))
        classes = ops.reshape(classes, (-1, k))
        scores, order = ops.top_k(scores, k=k)
        boxes = box_ops.gather(boxes, order)
        classes = box_ops.gather(classes, order)
        # Class-aware NMS in one pass: shift each class into its own region.
        shift = ops.cast(classes, "float32")[..., None] * float(max(self.image_shape[:2]) + 1)
        keep = min(self.max_detections, k)
        selected, count = box_ops.non_max_suppression_padded(
            boxes + shift,
            scores,
            max_output_size=keep,
            iou_threshold=self.detection_iou,
            score_threshold=self.score_threshold,
        )
        found = ops.arange(keep, dtype="int32")[None] < count[:, None]
        boxes = ops.where(found[..., None], box_ops.gather(boxes, selected), 0.0)
        scores = ops.where(found, box_ops.gather(scores, selected), 0.0)
        classes = ops.where(found, box_ops.gather(classes, selected), 0)
        if keep < self.max_detections:
            pad = self.max_detections - keep
            boxes = ops.pad(boxes, [[0, 0], [0, pad], [0, 0]])
            scores = ops.pad(scores, [[0, 0], [0, pad]])
            classes = ops.pad(classes, [[0, 0], [0, pad]])
        return boxes, classes, scores, ops.cast(count, "int32")

    # -- training --------------------------------------------------------
    def compute_losses(self, images, targets, training=True):
        """The five losses (a dict) of a batch with padded ground truth."""
        self._check_image_shape(tuple(images.shape))
        _check_target_keys(targets)
        return self._losses_from(self._raw_outputs(images, training), images, targets)

    def _losses_from(self, raw, images, targets):
        """The five losses from :meth:`call`'s raw outputs and the ground truth."""
        _check_target_keys(targets)
        images = ops.convert_to_tensor(images)
        gt_boxes = ops.cast(targets["boxes"], "float32")
        gt_classes = ops.cast(targets["classes"], "int32")
        gt_masks = ops.convert_to_tensor(targets["masks"])
        self._check_target_shapes(images.shape, gt_boxes.shape, gt_classes.shape, gt_masks.shape)
        if keras.backend.backend() == "tensorflow":
            gt_boxes, gt_classes, gt_masks = self._assert_valid(
                images, gt_boxes, gt_classes, gt_masks
            )
        features, logits, deltas = raw["features"], raw["rpn_logits"], raw["rpn_deltas"]
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

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras's loss hook: target assignment, the heads on the sampled RoIs, the losses.

        ``y_pred`` is :meth:`call`'s output for ``x``: in training the raw
        outputs; in ``evaluate`` (``call`` in inference mode returns
        detections) the raw outputs are recomputed from ``x``. Updates the
        five loss trackers and returns the total (plus any ``self.losses``),
        divided by the number of replicas under ``tf.distribute``.
        """
        if not (isinstance(y_pred, dict) and "features" in y_pred):
            self._check_image_shape(tuple(x.shape))
            y_pred = self._raw_outputs(x, training=False)
        losses = self._losses_from(y_pred, x, y)
        total = ops.sum(ops.stack([losses[name] for name in LOSS_NAMES]))
        for extra in self.losses:
            total = total + ops.sum(ops.cast(extra, "float32"))
        for tracker, name in zip(self.loss_trackers, LOSS_NAMES):
            tracker.update_state(losses[name])
        return _per_replica(total)

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

    def _assert_valid(self, images, gt_boxes, gt_classes, gt_masks):
        """TensorFlow only: graph-time value checks (assertions; XLA compiles them out),
        and the masks' size checked at run time when it is unknown while tracing."""
        import tensorflow as tf

        if None in tuple(gt_masks.shape)[2:]:
            gt_masks = tf.ensure_shape(gt_masks, [None, None, *self.image_shape[:2]])
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
            return tf.identity(gt_boxes), tf.identity(gt_classes), tf.identity(gt_masks)

    def _check_arrays(self, x, y=None):
        """Host-side checks of in-memory images and targets (before fit/evaluate/predict)."""
        if not _is_array(x):
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
        x = _pixels(x)
        self._check_arrays(x, y)
        if isinstance(validation_data, (tuple, list)) and len(validation_data) >= 2:
            validation_data = (_pixels(validation_data[0]), *validation_data[1:])
            self._check_arrays(validation_data[0], validation_data[1])
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x = _pixels(x)
        self._check_arrays(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Keras's ``predict``; NumPy images run in batches of one fixed size.

        An array's last batch is padded with blank images (and fewer images than
        ``batch_size`` run at the next power of two), so every call compiles and
        runs one batch shape; the padding's rows are dropped from the outputs
        (callbacks see the padded batches). Datasets, ``steps`` and a
        ``tf.distribute`` strategy or ``keras.distribution`` go through Keras's
        own ``predict``.
        """
        x = _pixels(x)
        self._check_arrays(x)
        if _is_array(x) and x.shape[0] == 0:
            return {k: ops.convert_to_numpy(v) for k, v in self._empty_detections().items()}
        if isinstance(x, np.ndarray) and steps is None and not _distributed(self):
            from tfzoo.models.mask_rcnn_detect import predict_batched

            size = 32 if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
            return predict_batched(self, x, size, verbose=verbose, callbacks=callbacks)
        return super().predict(
            x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks
        )

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

    # -- images of any size ----------------------------------------------
    def detect(self, images, score_threshold=0.5, batch_size=8):
        """Detect objects in images of any size; results in each image's own pixels.

        Args:
            images: a list of images ``(height, width, channels)`` of any height,
                width and aspect ratio (or a 4-d array of images of one size):
                ``uint8`` pixels 0..255, or floats in ``[0, 1]`` (anything else
                is a ``ValueError``, as are NaNs). A 2-d image is taken for a
                1-channel model.
            score_threshold: detections scoring below it are dropped (the
                model's own ``score_threshold``, applied before NMS, still
                holds: a lower value here returns nothing more).
            batch_size: images per prediction call. Every call runs one
                compiled function of a fixed batch size: the last batch is
                padded with blank images, and fewer images than
                ``batch_size`` run at the next power of two, so repeated
                calls do not retrace.

        Returns:
            A list with one dict per image: ``"boxes"`` float32 ``(N, 4)``
            ``[y1, x1, y2, x2]`` in the image's pixels (``y2``/``x2``
            exclusive, as ``make_shapes`` and the COCO loader give them),
            clipped to the image; ``"classes"`` int32 ``(N,)`` (ids
            ``1..num_classes``); ``"scores"`` float32 ``(N,)``, highest first;
            ``"masks"`` uint8 ``(N, height, width)`` 0/1 at the image's own
            resolution; and ``"names"`` (each detection's class name) when
            the model has ``class_names``.

        Each image is letterboxed to ``image_shape`` (scaled by one factor,
        placed top-left, zero-padded: ``tfzoo.datasets.letterbox.Letterbox``),
        as the COCO loader prepares training images; boxes map back as
        ``original = model / scale``, and each mask head output is pasted into
        its box at the original resolution.
        """
        from tfzoo.models.mask_rcnn_detect import detect

        return detect(self, images, score_threshold=score_threshold, batch_size=batch_size)

    def _predict_rois(self, images, batch_size):
        """Padded detections of model-size images in [0, 1], with unpasted ``roi_masks``."""
        from tfzoo.models.mask_rcnn_detect import predict_rois

        return predict_rois(self, images, batch_size)

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
            "class_names": None if self.class_names is None else list(self.class_names),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["feature_extractor"] = keras.saving.deserialize_keras_object(
            config["feature_extractor"]
        )
        return cls(**config)


def _pixels(x):
    """uint8 image arrays (pixels 0-255, as images are stored) as float32 in [0, 1]."""
    if isinstance(x, np.ndarray) and x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return x


def build_mask_rcnn(
    num_classes,
    image_shape=(128, 128, 3),
    backbone="small",
    backbone_layers=None,
    fpn_filters=64,
    backbone_weights=None,
    frozen_stages=0,
    freeze_batch_norm=False,
    **kwargs,
):
    """Build an uncompiled Mask R-CNN.

    Args:
        num_classes: object classes, background excluded (class ids 1..num_classes).
        image_shape: ``(height, width, channels)``; static (XLA/TPU). Named
            ``keras.applications`` backbones need a height and width that are
            multiples of 32 (and at least 32).
        backbone: ``"small"`` (the default; ``None`` means the same):
            :func:`build_small_backbone`, which trains from scratch on a CPU; or
            the name of a ``keras.applications`` backbone, ``"resnet50"``,
            ``"mobilenet_v3_large"`` or ``"efficientnet_v2_b0"`` (Keras's class
            names ``"ResNet50"``, ``"MobileNetV3Large"``, ``"EfficientNetV2B0"``
            are accepted too), tapped at strides 4, 8, 16 and 32 and with its
            own preprocessing inside the model (see
            :mod:`tfzoo.models.mask_rcnn_backbones`); or any Keras model on
            images: with several outputs (finest first) they are used as the
            pyramid inputs; otherwise name the layers to tap in
            ``backbone_layers`` (e.g. for
            ``keras.applications.MobileNetV2(include_top=False, weights=None,
            input_shape=image_shape)``: ``["block_3_expand_relu",
            "block_6_expand_relu", "block_13_expand_relu", "out_relu"]``). A
            Keras model of your own gets no preprocessing: it receives the
            model's images as they are.
        backbone_layers: names of the backbone layers to tap, finest first.
        fpn_filters: channels of the feature pyramid.
        backbone_weights: for a named backbone, ``None`` (random
            initialisation) or ``"imagenet"`` (downloaded by Keras on first
            use into ``~/.keras/models``) or a path to a weights file. A saved
            ``.keras`` model keeps its weights in the file: loading it
            downloads nothing.
        frozen_stages: backbone stages that are not trained, counted as
            detectron2's ``FREEZE_AT``: 0 none, 1 the stem, 2 the stem and C2,
            ..., 5 the whole backbone (``2`` is usual with ImageNet weights).
        freeze_batch_norm: make the backbone's batch normalisation layers not
            trainable, so they run in inference mode (their moving statistics
            are used and not updated): what small batches of a pretrained
            backbone need.
        **kwargs: passed to :class:`MaskRCNN`: ``class_names``,
            ``anchor_sizes`` (default 4 x each stride), ``aspect_ratios``,
            ``rpn_filters``, ``pre_nms_top_k``, ``post_nms_top_k`` (training
            proposals), ``inference_post_nms_top_k``, ``rpn_samples``,
            ``num_rois``, ``num_mask_rois``, ``foreground_fraction``,
            ``fc_units``, ``mask_filters``, ``mask_convs``, ``max_detections``,
            ``score_threshold``, ``detection_iou``, ``seed``.

    Every backbone takes images in ``[0, 1]`` (``uint8`` arrays given to
    ``fit``, ``evaluate``, ``predict`` and ``detect`` are divided by 255).
    The frozen flags are part of the model's config: they survive ``.keras``
    saving and :func:`transfer_mask_rcnn`.

    Returns:
        A built, uncompiled :class:`MaskRCNN`. Compile it with an optimizer
        only (the losses are part of the model), e.g.
        ``model.compile(keras.optimizers.Adam(1e-3))``.
    """
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}")
    frozen_stages = check_int(frozen_stages, "frozen_stages", minimum=0)
    named = backbone is None or isinstance(backbone, str)
    if named:
        name = "small" if backbone is None else backbone_name(backbone)
        if name == "small":
            if backbone_weights is not None:
                raise ValueError(
                    "backbone_weights needs a keras.applications backbone; the 'small' backbone "
                    f"has no pretrained weights (got backbone_weights={backbone_weights!r})"
                )
            backbone = build_small_backbone(image_shape)
        else:
            backbone = build_application_backbone(name, image_shape, weights=backbone_weights)
    elif not isinstance(backbone, keras.Model):
        raise ValueError(
            "backbone must be 'small', a keras.applications name or a Keras model; got "
            f"{type(backbone).__name__}"
        )
    elif backbone_weights is not None:
        raise ValueError(
            "backbone_weights is for named backbones; load the weights into your own model "
            f"yourself (got backbone_weights={backbone_weights!r})"
        )
    if named and backbone_layers:
        raise ValueError(
            "backbone_layers is for a Keras model of your own; a named backbone is tapped at "
            f"strides 4, 8, 16 and 32 itself (got backbone_layers={backbone_layers!r})"
        )
    if backbone_layers:
        backbone = keras.Model(
            backbone.inputs,
            [backbone.get_layer(name).output for name in backbone_layers],
            name=f"{backbone.name}_taps",
        )
    elif len(backbone.outputs) < 2:
        raise ValueError("a single-output backbone needs backbone_layers= naming the layers to tap")
    if frozen_stages or freeze_batch_norm:
        freeze_backbone(backbone, image_shape, frozen_stages, freeze_batch_norm)
    features = build_fpn(backbone, fpn_filters)
    model = MaskRCNN(features, num_classes, image_shape, **kwargs)
    model.build((None,) + image_shape)
    return model


def _check_class_names(class_names, num_classes):
    """``None``, or the names as a tuple indexed by class id (entry 0 the background)."""
    if class_names is None:
        return None
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
        raise ValueError(f"class_names must be a list of strings, got {class_names!r}")
    names = tuple(class_names)
    if len(names) == num_classes:
        names = ("background", *names)
    if len(names) != num_classes + 1:
        raise ValueError(
            f"class_names must name the {num_classes} classes (ids 1..{num_classes}), or "
            f"{num_classes + 1} with the background first as make_shapes gives them; got "
            f"{len(names)} names"
        )
    return names


def _check_target_keys(targets):
    if not isinstance(targets, dict):
        raise ValueError(
            "Mask R-CNN targets must be a dict with 'boxes', 'classes' and 'masks'; got "
            f"{type(targets).__name__}"
        )
    for key in ("boxes", "classes", "masks"):
        if key not in targets:
            raise ValueError(
                f"Mask R-CNN targets need 'boxes', 'classes' and 'masks'; missing {key!r}"
            )


def _is_array(x):
    """An in-memory batch (NumPy or a backend tensor), not a ``tf.data.Dataset``."""
    if not hasattr(x, "shape"):
        return False
    tf = sys.modules.get("tensorflow")  # a dataset exists only if TensorFlow is loaded
    return tf is None or not isinstance(x, tf.data.Dataset)


def _distributed(model):
    """Whether ``model`` predicts under several replicas (a ``tf.distribute`` strategy)
    or a ``keras.distribution``: Keras's ``predict`` splits the batches there."""
    if keras.backend.backend() == "tensorflow":
        return model.distribute_strategy.num_replicas_in_sync > 1
    return keras.distribution.distribution() is not None


def _per_replica(total):
    """The loss one replica minimises: under ``tf.distribute`` the gradients
    are summed over the replicas, so the global-batch mean is divided by
    their number (as ``keras.losses`` do); on JAX and PyTorch as it is."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            total = total / replicas
    return total
