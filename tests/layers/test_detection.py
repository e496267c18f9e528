"""Mask R-CNN layers: RoIAlign against a NumPy reference, anchors, RPN,
proposals, heads, targets and losses; every layer through the shared helper."""

import keras
import numpy as np
import pytest

from tests.backend_ops import compiled, gradients, to_numpy
from tfzoo.layers import box_ops
from tfzoo.layers.detection import (
    AnchorGenerator,
    BoxHead,
    MaskRCNNHead,
    ProposalLayer,
    RPNHead,
    make_anchors,
)
from tfzoo.layers.detection_targets import RoISampler, RPNTargets, head_losses, rpn_losses
from tfzoo.layers.roi_align import RoIAlign
from tfzoo.testing import run_layer_test


# -- a plain NumPy RoIAlign, written loop by loop from the paper's description --
def _bilinear(feature, y, x):
    h, w, _ = feature.shape
    if y < -1 or y > h or x < -1 or x > w:
        return np.zeros(feature.shape[-1])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * feature[y0, x0]
        + (1 - ly) * lx * feature[y0, x1]
        + ly * (1 - lx) * feature[y1, x0]
        + ly * lx * feature[y1, x1]
    )


def _roi_align_reference(features, strides, boxes, out, ratio, canonical_size, canonical_level):
    batch, rois = boxes.shape[:2]
    result = np.zeros((batch, rois, out, out, features[0].shape[-1]))
    levels = [int(np.log2(s)) for s in strides]
    for b in range(batch):
        for r in range(rois):
            y1, x1, y2, x2 = boxes[b, r]
            if len(strides) == 1:
                i = 0
            else:
                size = np.sqrt(max(y2 - y1, 0) * max(x2 - x1, 0))
                level = np.floor(canonical_level + np.log2(size / canonical_size + 1e-8))
                i = levels.index(int(np.clip(level, levels[0], levels[-1])))
            stride, feature = strides[i], features[i][b]
            bin_h, bin_w = (y2 - y1) / out, (x2 - x1) / out
            for p in range(out):
                for q in range(out):
                    total = 0.0
                    for a in range(ratio):
                        for c in range(ratio):
                            y = (y1 + bin_h * (p + (a + 0.5) / ratio)) / stride - 0.5
                            x = (x1 + bin_w * (q + (c + 0.5) / ratio)) / stride - 0.5
                            total = total + _bilinear(feature, y, x)
                    result[b, r, p, q] = total / ratio**2
    return result


def _random_boxes(rng, batch, rois, size):
    y1 = rng.uniform(-8, size - 4, (batch, rois))
    x1 = rng.uniform(-8, size - 4, (batch, rois))
    h = rng.uniform(1, size, (batch, rois))
    w = rng.uniform(1, size, (batch, rois))
    return np.stack([y1, x1, y1 + h, x1 + w], -1).astype("float32")


@pytest.mark.parametrize("strides", [(8,), (4, 8, 16, 32)])
def test_roi_align_matches_numpy_reference(strides):
    rng = np.random.default_rng(0)
    features = [rng.normal(size=(2, 64 // s, 64 // s, 3)).astype("float32") for s in strides]
    boxes = _random_boxes(rng, 2, 7, 64)
    layer = RoIAlign(5, 2, strides, canonical_size=16.0, canonical_level=3)
    want = _roi_align_reference(features, strides, boxes.astype("float64"), 5, 2, 16.0, 3)
    got = to_numpy(layer([keras.ops.convert_to_tensor(f) for f in features], boxes))
    np.testing.assert_allclose(got, want, atol=1e-5)
    jitted = compiled(lambda fs, b: layer(fs, b))
    np.testing.assert_allclose(to_numpy(jitted(features, boxes)), want, atol=1e-5)
    if len(strides) > 1:  # the boxes really do read several levels
        levels = to_numpy(layer._levels(keras.ops.convert_to_tensor(boxes)))
        assert len(np.unique(levels)) >= 3
    # both ways of sampling, whichever the layer picks for these sizes
    tensors = [keras.ops.convert_to_tensor(f) for f in features]
    boxes_t = keras.ops.convert_to_tensor(boxes)
    for sample in (layer._sample_by_gather, layer._sample_by_matrices):
        np.testing.assert_allclose(to_numpy(sample(tensors, boxes_t)), want, atol=1e-5)


def test_roi_align_picks_matrices_for_small_maps_and_gathers_on_large_ones():
    layer = RoIAlign(7, 2, (4, 8, 16, 32))
    assert layer._by_matrices([32, 16, 8, 4], [32, 16, 8, 4])  # a 128 px model's pyramid
    assert not layer._by_matrices([128, 64, 32, 16], [128, 64, 32, 16])  # 512 px
    assert not layer._by_matrices([None] * 4, [None] * 4)


def test_roi_align_ways_agree_on_gradients():
    rng = np.random.default_rng(2)
    features = [rng.normal(size=(1, 16 // s, 16 // s, 2)).astype("float32") for s in (2, 4)]
    boxes = np.array([[[1.0, 2.0, 9.0, 15.0], [-3.0, 0.5, 4.0, 6.0]]], "float32")
    layer = RoIAlign(3, 2, (2, 4), canonical_size=8.0, canonical_level=2)
    weights = keras.ops.convert_to_tensor(rng.normal(size=(1, 2, 3, 3, 2)).astype("float32"))
    grads = []
    for sample in (layer._sample_by_gather, layer._sample_by_matrices):
        _, _, got = gradients(
            lambda a, b, sample=sample: (
                keras.ops.sum(sample([a, b], keras.ops.convert_to_tensor(boxes)) * weights),
                (),
            ),
            inputs=features,
        )
        grads.append([to_numpy(g) for g in got])
    for by_gather, by_matrices in zip(*grads):
        np.testing.assert_allclose(by_matrices, by_gather, atol=1e-5)
    assert all(np.abs(g).sum() > 0 for g in grads[0])


def test_roi_align_gradient_reaches_features():
    feature = np.random.default_rng(1).normal(size=(1, 8, 8, 2)).astype("float32")
    boxes = np.array([[[4.0, 4.0, 20.0, 20.0]]], "float32")
    layer = RoIAlign(2, 2, (4,))
    _, _, (grad,) = gradients(lambda f: (keras.ops.sum(layer([f], boxes)), ()), inputs=[feature])
    assert grad[0, 1:5, 1:5].sum() > 0 and grad[0, 6:, 6:].sum() == 0


def test_roi_align_layer_helper():
    rng = np.random.default_rng(1)
    features = [rng.normal(size=(2, s, s, 4)).astype("float32") for s in (16, 8)]
    run_layer_test(
        RoIAlign,
        {"output_size": 3, "strides": [4, 8], "canonical_size": 16.0, "canonical_level": 3},
        input_data=([features[0], features[1]], _random_boxes(rng, 2, 5, 64)),
        expected_output_shape=(2, 5, 3, 3, 4),
        run_mirrored=False,
    )


def test_roi_align_rejects_bad_strides():
    with pytest.raises(ValueError, match="powers of two"):
        RoIAlign(7, strides=(4, 6))
    with pytest.raises(ValueError, match="finest"):
        RoIAlign(7, strides=(8, 4))


def test_anchors_cover_levels_sizes_and_ratios():
    anchors = make_anchors((64, 32), (8, 16), (16, 32), (0.5, 1.0, 2.0))
    assert anchors.shape == (3 * (8 * 4 + 4 * 2), 4)
    h = anchors[:, 2] - anchors[:, 0]
    w = anchors[:, 3] - anchors[:, 1]
    np.testing.assert_allclose(np.sqrt(h * w)[:96], 16, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(h * w)[96:], 32, rtol=1e-6)
    np.testing.assert_allclose(h[:3] / w[:3], [0.5, 1.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose((anchors[0, 0] + anchors[0, 2]) / 2, 4.0)  # first centre
    run_layer_test(
        AnchorGenerator,
        {"image_shape": [64, 32, 3], "strides": [8, 16], "sizes": [16, 32]},
        input_shape=(2, 64, 32, 3),
        expected_output_shape=(2, 120, 4),
        run_mirrored=False,
    )


def test_rpn_head_shapes_and_helper():
    run_layer_test(
        RPNHead,
        {"num_anchors": 3, "filters": 8},
        input_shape=[(2, 8, 8, 4), (2, 4, 4, 4)],
        expected_output_shape=[(2, 240), (2, 240, 4)],
        expected_num_trainable_weights=6,
    )


def test_box_ops_round_trip_and_iou():
    rng = np.random.default_rng(2)
    anchors = _random_boxes(rng, 1, 20, 64)
    anchors[..., 2:] = np.maximum(anchors[..., 2:], anchors[..., :2] + 1)
    boxes = _random_boxes(rng, 1, 20, 64)
    for weights in (box_ops.RPN_BOX_WEIGHTS, box_ops.HEAD_BOX_WEIGHTS):
        back = box_ops.decode(box_ops.encode(boxes, anchors, weights), anchors, weights)
        np.testing.assert_allclose(to_numpy(back), boxes, atol=1e-3)
    a = np.array([[[0, 0, 10, 10]]], "float32")
    b = np.array([[[5, 0, 15, 10], [0, 0, 10, 10], [-1, -1, -1, -1]]], "float32")
    iou = to_numpy(box_ops.pairwise_iou(a, b, np.array([[True, True, False]])))
    np.testing.assert_allclose(iou, [[[50 / 150, 1.0, -1.0]]], rtol=1e-6)


def test_mask_crop_and_paste():
    mask = np.zeros((1, 1, 32, 32), "float32")
    mask[0, 0, 8:24, 4:20] = 1
    box = np.array([[[8, 4, 24, 20]]], "float32")
    crop = to_numpy(box_ops.crop_and_resize_masks(mask, box, 8))
    np.testing.assert_allclose(crop, 1.0)  # the box is the mask's tight box
    pasted = to_numpy(box_ops.paste_masks(crop, box, 32, 32))
    np.testing.assert_allclose(pasted, mask)  # and pasting puts it back exactly


def test_proposals_are_padded_nms_and_compile():
    anchors = np.array(
        [[[0, 0, 10, 10], [0, 1, 10, 11], [20, 20, 30, 30], [40, 40, 50, 50]]], "float32"
    )
    logits = np.array([[3.0, 2.0, 1.0, -1.0]], "float32")
    deltas = np.zeros((1, 4, 4), "float32")
    layer = ProposalLayer((64, 64, 3), pre_nms_top_k=4, post_nms_top_k=6, iou_threshold=0.5)
    boxes, scores, valid = layer(logits, deltas, anchors, training=True)
    assert boxes.shape == (1, 4, 4)  # capped at pre_nms_top_k
    np.testing.assert_array_equal(to_numpy(valid), [[True, True, True, False]])
    np.testing.assert_allclose(to_numpy(boxes)[0, :3], anchors[0, [0, 2, 3]])
    np.testing.assert_allclose(to_numpy(scores)[0, 3], 0.0)
    jitted = compiled(lambda a, b, c: layer(a, b, c, training=True))
    for x, y in zip(jitted(logits, deltas, anchors), (boxes, scores, valid)):
        np.testing.assert_array_equal(to_numpy(x), to_numpy(y))
    run_layer_test(
        ProposalLayer,
        {"image_shape": [64, 64, 3], "pre_nms_top_k": 4, "inference_post_nms_top_k": 3},
        input_data=(logits, deltas, anchors),
        expected_output_shape=[(1, 3, 4), (1, 3), (1, 3)],
        run_mirrored=False,
    )


def test_box_head_helper():
    run_layer_test(
        BoxHead,
        {"num_classes": 3, "fc_units": 16},
        input_shape=(2, 5, 3, 3, 4),
        expected_output_shape=[(2, 5, 4), (2, 5, 4, 4)],
        expected_num_trainable_weights=8,
    )


def test_mask_head_selects_the_class_channel():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(2, 3, 4, 4, 5)).astype("float32")
    classes = np.array([[0, 1, 2], [2, 2, 1]], "int32")
    head = MaskRCNNHead(2, filters=6, num_convs=1)
    picked = to_numpy(head(features, classes))
    assert picked.shape == (2, 3, 8, 8)
    x = keras.ops.reshape(features, (6, 4, 4, 5))
    for conv in head.convs:
        x = conv(x)
    all_classes = to_numpy(head.logits(head.upsample(x))).reshape(2, 3, 8, 8, 3)
    for b in range(2):
        for r in range(3):
            np.testing.assert_allclose(picked[b, r], all_classes[b, r, :, :, classes[b, r]], 1e-5)
    run_layer_test(
        MaskRCNNHead,
        {"num_classes": 2, "filters": 6, "num_convs": 1},
        input_data=(features, classes),
        expected_output_shape=(2, 3, 8, 8),
    )


@pytest.mark.parametrize("filled", [0, 1, 2, 3, 5, 8, 9, 16])
def test_mask_head_on_the_valid_rois_only_equals_the_full_head(filled):
    # B * R = 16 RoIs: capacities 2, 4, 8 and 16, so the fills run every branch.
    rng = np.random.default_rng(filled)
    features = rng.normal(size=(2, 8, 4, 4, 5)).astype("float32")
    classes = rng.integers(0, 3, size=(2, 8)).astype("int32")
    valid = np.zeros(16, bool)
    valid[rng.permutation(16)[:filled]] = True
    valid = valid.reshape(2, 8)
    head = MaskRCNNHead(2, filters=6, num_convs=1)
    full = to_numpy(head(features, classes))
    # Eagerly, and compiled as a step is (one function for every fill: the branch is chosen inside).
    for only in (head(features, classes, valid), compiled(head)(features, classes, valid)):
        only = to_numpy(only)
        assert only.shape == full.shape == (2, 8, 8, 8)
        np.testing.assert_allclose(only[valid], full[valid], rtol=1e-5, atol=1e-5)
        assert np.all(only[~valid] == 0)


def _ground_truth():
    boxes = np.full((2, 3, 4), -1, "float32")
    classes = np.full((2, 3), -1, "int32")
    masks = np.zeros((2, 3, 64, 64), "uint8")
    boxes[0, :2] = [[4, 4, 20, 20], [30, 30, 60, 50]]
    classes[0, :2] = [1, 2]
    masks[0, 0, 4:20, 4:20] = 1
    masks[0, 1, 30:60, 30:50] = 1
    boxes[1, 0] = [10, 10, 40, 40]
    classes[1, 0] = 3
    masks[1, 0, 10:40, 10:40] = 1
    return boxes, classes, masks


def test_rpn_targets_label_and_sample():
    boxes, classes, _ = _ground_truth()
    anchors = make_anchors((64, 64), (8, 16), (16, 32), (0.5, 1.0, 2.0))
    anchors = np.concatenate([anchors, boxes[0, :2]])  # two anchors equal real boxes
    batch_anchors = np.stack([anchors, anchors])
    layer = RPNTargets(samples_per_image=32, positive_fraction=0.5, seed=0)
    t = to_numpy(layer(batch_anchors, boxes, classes))
    picked, positive = t["picked"], t["positive"]
    assert picked.sum(axis=1).max() <= 32 and positive.sum(axis=1).max() <= 16
    assert positive[0].sum() >= 2 and positive[1].sum() >= 1  # every box has a positive
    iou = to_numpy(box_ops.pairwise_iou(batch_anchors, boxes, classes > 0)).max(axis=2)
    chosen = np.take_along_axis(iou, t["index"], axis=1)
    assert np.all(chosen[positive] > 0.3)
    assert np.all(chosen[picked & ~positive] < 0.3)
    exact = [
        i
        for i, (p, ok) in enumerate(zip(t["index"][0], positive[0]))
        if ok and p >= len(anchors) - 2
    ]
    np.testing.assert_allclose(t["box_targets"][0, exact], 0.0, atol=1e-5)
    run_layer_test(
        RPNTargets,
        {"samples_per_image": 32, "seed": 0},
        input_data=(batch_anchors, boxes, classes),
        run_mirrored=False,
        deterministic=False,
    )


def test_roi_sampler_targets():
    boxes, classes, masks = _ground_truth()
    proposals = np.zeros((2, 10, 4), "float32")
    proposals[0, 0] = [5, 5, 21, 21]
    proposals[0, 1] = [0, 40, 10, 60]  # background
    valid = np.zeros((2, 10), bool)
    valid[0, :2] = True
    layer = RoISampler(num_rois=8, foreground_fraction=0.5, num_mask_rois=4, mask_size=8, seed=0)
    t = to_numpy(layer(proposals, valid, boxes, classes, masks))
    assert t["rois"].shape == (2, 8, 4) and t["mask_targets"].shape == (2, 4, 8, 8)
    # Image 0: the two real boxes and the good proposal are foreground and come first.
    np.testing.assert_array_equal(t["foreground"][0, :3], True)
    assert t["foreground"][0, 3:].sum() == 0 and t["picked"][0].sum() == 4
    assert sorted(t["classes"][0, :3]) == [1, 1, 2]
    np.testing.assert_array_equal(t["picked"][1], [True] + [False] * 7)  # only its box
    # A RoI equal to its ground-truth box gets an all-ones mask target.
    for k in range(3):
        if np.allclose(t["mask_rois"][0, k], boxes[0, 0]):
            np.testing.assert_array_equal(t["mask_targets"][0, k], 1.0)
    np.testing.assert_array_equal(t["mask_weights"][1], [True, False, False, False])
    run_layer_test(
        RoISampler,
        {"num_rois": 8, "num_mask_rois": 4, "mask_size": 8, "seed": 0},
        input_data=(proposals, valid, boxes, classes, masks),
        run_mirrored=False,
        deterministic=False,
    )


def test_losses_are_zero_for_perfect_predictions():
    targets = {
        "index": np.array([[0, 1]]),
        "picked": np.array([[True, True]]),
        "positive": np.array([[True, False]]),
        "box_targets": np.array([[[0.5, 0.1, 0.0, 0.2], [0, 0, 0, 0]]], "float32"),
    }
    logits = np.array([[30.0, -30.0]], "float32")
    cls, box = rpn_losses(logits, targets["box_targets"], targets)
    assert float(cls) < 1e-6 and float(box) == 0.0
    cls, box = rpn_losses(-logits, targets["box_targets"] + 1.0, targets)
    assert float(cls) > 10 and float(box) > 0.1
    head = {
        "classes": np.array([[2, 0]]),
        "picked": np.array([[True, True]]),
        "foreground": np.array([[True, False]]),
        "box_targets": np.array([[[0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0]]], "float32"),
        "mask_targets": np.ones((1, 1, 4, 4), "float32"),
        "mask_weights": np.array([[True]]),
    }
    class_logits = np.array([[[0, 0, 40.0], [40.0, 0, 0]]], "float32")
    deltas = np.zeros((1, 2, 3, 4), "float32")
    deltas[0, 0, 2] = [0.1, 0.2, 0.3, 0.4]
    losses = head_losses(class_logits, deltas, np.full((1, 1, 4, 4), 40.0, "float32"), head)
    assert max(float(x) for x in losses) < 1e-6
    deltas[0, 0, 1] = 5.0  # another class' deltas do not count
    assert float(head_losses(class_logits, deltas, np.zeros((1, 1, 4, 4)), head)[1]) < 1e-6


def _picked_targets(t):
    """The sampled RoIs and their targets, picked rows only, in a canonical order."""
    rows = []
    for b in range(t["picked"].shape[0]):
        keep = t["picked"][b]
        rows.append(
            sorted(
                zip(
                    map(tuple, np.round(t["rois"][b][keep], 4)),
                    t["classes"][b][keep],
                    map(tuple, np.round(t["box_targets"][b][keep], 4)),
                )
            )
        )
    return rows


def _sampler_inputs():
    boxes, classes, masks = _ground_truth()
    proposals = np.zeros((2, 10, 4), "float32")
    proposals[0, 0] = [5, 5, 21, 21]
    proposals[0, 1] = [0, 40, 10, 60]
    valid = np.zeros((2, 10), bool)
    valid[0, :2] = True
    return proposals, valid, boxes, classes, masks


_SAMPLER_KWARGS = dict(num_rois=8, foreground_fraction=0.5, num_mask_rois=4, mask_size=8, seed=0)


def _pad(a, value):
    """One more padding instance row."""
    return np.concatenate([a, np.full_like(a[:, :1], value)], axis=1)


def test_roi_sampler_and_rpn_targets_ignore_padding_instances():
    proposals, valid, boxes, classes, masks = _sampler_inputs()
    static = to_numpy(RoISampler(**_SAMPLER_KWARGS)(proposals, valid, boxes, classes, masks))
    # Four instances (one more padding row): the same targets.
    t4 = RoISampler(**_SAMPLER_KWARGS)(
        proposals, valid, _pad(boxes, -1), _pad(classes, -1), _pad(masks, 0)
    )
    t4 = to_numpy(t4)
    assert _picked_targets(t4) == _picked_targets(static)
    np.testing.assert_array_equal(t4["mask_weights"], static["mask_weights"])

    anchors = make_anchors((64, 64), (8, 16), (16, 32), (0.5, 1.0, 2.0))
    batch_anchors = np.stack([anchors, anchors])
    want = to_numpy(RPNTargets(samples_per_image=32, seed=0)(batch_anchors, boxes, classes))
    got = RPNTargets(samples_per_image=32, seed=0)(
        batch_anchors, _pad(boxes, -1), _pad(classes, -1)
    )
    got = to_numpy(got)
    for key in ("picked", "positive"):
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.tensorflow_only  # tf.function traced with an unknown (None) instance axis
def test_roi_sampler_and_rpn_targets_take_an_unknown_instance_count():
    import tensorflow as tf

    # A training step traced for one instance count sees the next one as unknown (None).
    proposals, valid, boxes, classes, masks = _sampler_inputs()
    static = to_numpy(RoISampler(**_SAMPLER_KWARGS)(proposals, valid, boxes, classes, masks))
    sampler = RoISampler(**_SAMPLER_KWARGS)
    spec = [
        tf.TensorSpec((2, 10, 4)),
        tf.TensorSpec((2, 10), tf.bool),
        tf.TensorSpec((2, None, 4)),
        tf.TensorSpec((2, None), tf.int32),
        tf.TensorSpec((2, None, 64, 64), tf.uint8),
    ]
    dynamic = tf.function(sampler.call, input_signature=spec)
    t = to_numpy(dynamic(proposals, valid, boxes, classes, masks))
    assert {k: v.shape for k, v in t.items()} == {k: v.shape for k, v in static.items()}
    assert _picked_targets(t) == _picked_targets(static)
    np.testing.assert_array_equal(t["mask_weights"], static["mask_weights"])
    # Four instances in the next batch (one more padding row): the same targets.
    t4 = dynamic(proposals, valid, _pad(boxes, -1), _pad(classes, -1), _pad(masks, 0))
    assert _picked_targets(to_numpy(t4)) == _picked_targets(static)

    anchors = make_anchors((64, 64), (8, 16), (16, 32), (0.5, 1.0, 2.0))
    batch_anchors = np.stack([anchors, anchors])
    rpn = RPNTargets(samples_per_image=32, seed=0)
    want = to_numpy(rpn(batch_anchors, boxes, classes))
    rpn = RPNTargets(samples_per_image=32, seed=0)
    spec = [tf.TensorSpec(batch_anchors.shape), spec[2], spec[3]]
    got = tf.function(rpn.call, input_signature=spec)(batch_anchors, boxes, classes)
    for key in ("picked", "positive"):
        np.testing.assert_array_equal(to_numpy(got[key]), want[key], err_msg=key)


def test_targets_of_images_without_instances():
    # No ground truth at all (an instance axis of 0): every sample is background.
    boxes = np.zeros((2, 0, 4), "float32")
    classes = np.zeros((2, 0), "int32")
    masks = np.zeros((2, 0, 64, 64), "float32")
    proposals = np.tile(np.array([[5, 5, 21, 21], [0, 40, 10, 60]], "float32"), (2, 5, 1))
    valid = np.ones((2, 10), bool)
    t = RoISampler(num_rois=8, num_mask_rois=4, mask_size=8, seed=0)(
        proposals, valid, boxes, classes, masks
    )
    assert t["rois"].shape == (2, 8, 4) and t["mask_targets"].shape == (2, 4, 8, 8)
    t = to_numpy(t)
    assert int(np.sum(t["picked"].astype("int32"))) == 16
    assert not np.any(t["foreground"]) and not np.any(t["mask_weights"])
    np.testing.assert_array_equal(t["classes"], 0)
    anchors = make_anchors((64, 64), (8, 16), (16, 32), (0.5, 1.0, 2.0))
    r = RPNTargets(samples_per_image=32, seed=0)(np.stack([anchors, anchors]), boxes, classes)
    r = to_numpy(r)
    assert not np.any(r["positive"])
    np.testing.assert_array_equal(r["picked"].sum(axis=1), [32, 32])  # all negatives


def _greedy_nms(boxes, scores, keep, threshold, score_threshold):
    """Plain NumPy greedy NMS on score-sorted boxes (one image)."""
    chosen = []
    for i in range(len(boxes)):
        if len(chosen) == keep:
            break
        if scores[i] <= score_threshold or not np.any(boxes[i] > 0):
            continue
        ious = [
            to_numpy(box_ops.pairwise_iou(boxes[None, [i]], boxes[None, [j]]))[0, 0, 0]
            for j in chosen
        ]
        if all(v < threshold for v in ious):
            chosen.append(i)
    return chosen


def _nms_case():
    rng = np.random.default_rng(5)
    boxes = np.clip(_random_boxes(rng, 2, 40, 32), 0, 32)
    boxes[1, 5:9] = 0.0  # padding boxes are never kept
    scores = np.sort(rng.uniform(size=(2, 40)).astype("float32"), axis=1)[:, ::-1].copy()
    selected, count = box_ops.non_max_suppression_padded(boxes, scores, 12, 0.4, 0.2)
    return boxes, scores, to_numpy(selected), to_numpy(count)


def test_padded_nms_matches_numpy():
    boxes, scores, selected, count = _nms_case()
    for b in range(2):
        want = _greedy_nms(boxes[b], scores[b], 12, 0.4, 0.2)
        assert count[b] == len(want) and count[b] > 3
        np.testing.assert_array_equal(selected[b, : count[b]], want)
        np.testing.assert_array_equal(selected[b, count[b] :], 0)


@pytest.mark.tensorflow_only  # the reference is tf.image's
def test_padded_nms_matches_tensorflow():
    import tensorflow as tf

    boxes, scores, selected, count = _nms_case()
    want_tf, count_tf = tf.image.non_max_suppression_padded(
        boxes, scores, 12, 0.4, 0.2, pad_to_max_output_size=True, sorted_input=True
    )
    for b in range(2):
        assert count[b] == int(count_tf[b])
        np.testing.assert_array_equal(selected[b, : count[b]], want_tf.numpy()[b, : count[b]])
