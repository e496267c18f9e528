"""Mask R-CNN on the user's data (issue #15): detect at any image size, COCO results files,
named backbones with frozen stages, transfer to new classes."""

import json

import keras
import numpy as np
import pytest

from tests.backend_ops import BACKEND, to_numpy
from tests.models.mask_rcnn_small import SMALL
from tfzoo.datasets import make_shapes
from tfzoo.datasets.letterbox import Letterbox
from tfzoo.evaluation import to_coco_results
from tfzoo.models import MaskRCNN, TransferReport, build_mask_rcnn, transfer_mask_rcnn
from tfzoo.models.mask_rcnn_backbones import BackbonePreprocessing

# The transfer test's training step: XLA on JAX (its only compiled path), a traced graph on
# TensorFlow (its XLA compile costs 1.5x the CPU time here), eager on PyTorch.
JIT = BACKEND == "jax"
SIZES = [(97, 143), (300, 200), (640, 480)]


@pytest.fixture(scope="module")
def tiny():
    """One tiny 3-class model (32 px, stem and C2 frozen, frozen batch norm) for every test."""
    return build_mask_rcnn(
        3,
        (32, 32, 3),
        fpn_filters=8,
        seed=0,
        frozen_stages=2,
        freeze_batch_norm=True,
        class_names=["square", "circle", "triangle"],
        **{**SMALL, "score_threshold": 0.0},
    )


def _rectangle(box, height, width):
    """0/1 mask of the pixels whose centres lie in ``box`` (exclusive y2/x2)."""
    y1, x1, y2, x2 = box
    ys, xs = np.arange(height) + 0.5, np.arange(width) + 0.5
    rows, cols = (ys >= y1) & (ys < y2), (xs >= x1) & (xs < x2)
    return (rows[:, None] & cols[None, :]).astype(np.uint8)


def test_detect_maps_known_detections_to_original_pixels(tiny, monkeypatch):
    # Detections in model pixels we choose; detect must map them as Letterbox says.
    m = 28
    full = np.ones((m, m), np.float32)
    left = np.zeros((m, m), np.float32)
    left[:, : m // 2] = 1.0  # the left half of the box
    # Box 2 runs past the resized image into the padding on the right and bottom.
    model_boxes = np.array([[3.3, 2.7, 17.1, 21.9], [10.2, 5.1, 30.7, 31.6], [1, 1, 5, 5]])
    seen = {}

    def fake(images, batch_size):
        seen["images"], seen["batch_size"] = images, batch_size
        n = len(images)
        roi = np.zeros((n, 5, m, m), np.float32)
        roi[:, 0], roi[:, 1] = full, left
        boxes = np.zeros((n, 5, 4), np.float32)
        boxes[:, :3] = model_boxes
        return {
            "boxes": boxes,
            "classes": np.tile(np.array([2, 1, 3, -1, -1], np.int32), (n, 1)),
            "scores": np.tile(np.array([0.9, 0.7, 0.3, 0.0, 0.0], np.float32), (n, 1)),
            "roi_masks": roi,
            "num_detections": np.full(n, 3, np.int32),
        }

    monkeypatch.setattr(tiny, "_predict_rois", fake)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in SIZES]
    images[1] = images[1].astype(np.float32) / 255.0  # floats in [0, 1] are taken too
    out = tiny.detect(images, score_threshold=0.5, batch_size=2)
    assert len(out) == 3 and seen["batch_size"] == 2
    for i, (image, got) in enumerate(zip(images, out)):
        lb = Letterbox.fit(image.shape[:2], (32, 32))
        np.testing.assert_array_equal(seen["images"][i], lb.image_to_model(image))
        height, width = image.shape[:2]
        assert sorted(got) == ["boxes", "classes", "masks", "names", "scores"]
        # The 0.3 detection is under the threshold; padding rows never count.
        np.testing.assert_array_equal(got["classes"], [2, 1])
        np.testing.assert_array_equal(got["scores"], np.float32([0.9, 0.7]))
        assert got["names"] == ["circle", "square"]
        np.testing.assert_array_equal(got["boxes"], lb.boxes_to_original(model_boxes[:2]))
        assert got["masks"].shape == (2, height, width) and got["masks"].dtype == np.uint8
        assert got["boxes"][1, 2] == height or got["boxes"][1, 3] == width  # clipped
        # A full mask covers exactly the pixels of its box at the original resolution;
        # a half mask the left half of the (unclipped) box, cut at the image border.
        y1, x1, y2, x2 = model_boxes[1] / lb.scale
        np.testing.assert_array_equal(
            got["masks"][0], _rectangle(model_boxes[0] / lb.scale, height, width)
        )
        half = _rectangle((y1, x1, y2, x1 + (x2 - x1) / 2), height, width)
        assert np.sum(got["masks"][1] != half) == 0, i
    low = tiny.detect(images[:1], score_threshold=0.2)
    assert len(low[0]["classes"]) == 3
    assert tiny.detect([]) == []


def test_detect_checks_its_input(tiny):
    image = np.zeros((20, 30, 3), np.uint8)
    with pytest.raises(ValueError, match=r"list of images.*shape \(20, 30, 3\).*\[image\]"):
        tiny.detect(image)
    with pytest.raises(ValueError, match=r"image 1 has shape \(20, 30\).*\(height, width, 3\)"):
        tiny.detect([image, image[..., 0]])
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\].*in \[255, 255\]"):
        tiny.detect([image.astype(np.float32) + 255])
    with pytest.raises(ValueError, match="uint8 .* or float .* image 0 is int16"):
        tiny.detect([image.astype(np.int16)])
    with pytest.raises(ValueError, match="NaN"):
        tiny.detect([np.full((4, 4, 3), np.nan, np.float32)])
    with pytest.raises(ValueError, match=r"score_threshold must be in \[0, 1\], got 2"):
        tiny.detect([image], score_threshold=2)


@pytest.mark.compile_heavy
def test_detect_runs_the_model_at_any_size(tiny):
    # Mask logits pushed up: every detection's mask fills its box, whatever the weights.
    bias = tiny.mask_head.logits.bias
    saved = to_numpy(bias)
    bias.assign(np.full(bias.shape, 12.0, "float32"))
    try:
        rng = np.random.default_rng(1)
        images = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in SIZES]
        images.append(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        out = tiny.detect(images, score_threshold=0.0, batch_size=4)
        # The same scenes, letterboxed by hand, at the model's size (one compiled shape).
        boxes = [Letterbox.fit(im.shape[:2], (32, 32)) for im in images]
        at_model = tiny.detect([lb.image_to_model(im) for lb, im in zip(boxes, images)], 0.0, 4)
    finally:
        bias.assign(saved)
    for image, lb, got, small in zip(images, boxes, out, at_model):
        height, width = image.shape[:2]
        n = len(got["classes"])
        assert n >= 1 and got["masks"].shape == (n, height, width)
        assert np.all((got["classes"] >= 1) & (got["classes"] <= 3))
        assert np.all(np.diff(got["scores"]) <= 0) and np.all(got["scores"] >= 0)
        assert np.all(got["boxes"] >= 0) and np.all(got["boxes"][:, 2] <= height)
        assert np.all(got["boxes"][:, 3] <= width)
        np.testing.assert_array_equal(got["classes"], small["classes"])
        np.testing.assert_allclose(got["boxes"], lb.boxes_to_original(small["boxes"]), atol=1e-3)
        for box, mask in zip(got["boxes"], got["masks"]):
            # At most a one-pixel rim where a box edge meets a pixel centre.
            rim = np.sum(mask != _rectangle(box, height, width))
            assert rim <= 2 * (height + width), rim
            assert mask.sum() >= 0.9 * _rectangle(box, height, width).sum()


def _coco_ground_truth(mask_utils):
    """Two images of different sizes; COCO category ids 7 and 42 (model classes 1 and 2)."""
    sizes = [(40, 60), (30, 50)]
    boxes = [np.array([[5.0, 10, 25, 40]]), np.array([[2.0, 3, 22, 33], [10, 20, 30, 45]])]
    classes = [np.array([1]), np.array([2, 1])]
    category_ids = {1: 7, 2: 42}
    images, annotations, detections = [], [], []
    for i, ((height, width), image_boxes, image_classes) in enumerate(zip(sizes, boxes, classes)):
        images.append({"id": 100 + i, "height": height, "width": width, "file_name": f"{i}.png"})
        masks = np.stack([_rectangle(b, height, width) for b in image_boxes])
        for box, c, mask in zip(image_boxes, image_classes, masks):
            rle = mask_utils.encode(np.asfortranarray(mask))
            rle["counts"] = rle["counts"].decode("ascii")
            y1, x1, y2, x2 = box.tolist()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": 100 + i,
                    "category_id": category_ids[int(c)],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": float(mask.sum()),
                    "segmentation": rle,
                    "iscrowd": 0,
                }
            )
        scores = np.linspace(0.9, 0.8, len(image_boxes)).astype(np.float32)
        detections.append(
            {"boxes": image_boxes, "classes": image_classes, "scores": scores, "masks": masks}
        )
    categories = [{"id": 7, "name": "square"}, {"id": 42, "name": "circle"}]
    gt = {"images": images, "annotations": annotations, "categories": categories}
    return gt, detections, category_ids


def _cocoeval(gt_file, results_file, iou_type):
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_file))
        evaluator = COCOeval(coco, coco.loadRes(str(results_file)), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats[0]  # AP at IoU 0.50:0.95


def test_to_coco_results_scores_with_cocoeval(tmp_path):
    mask_utils = pytest.importorskip("pycocotools.mask")
    gt, detections, category_ids = _coco_ground_truth(mask_utils)
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(gt))
    path = tmp_path / "results.json"
    results = to_coco_results(detections, [100, 101], category_ids=category_ids, path=path)
    assert json.loads(path.read_text()) == results and len(results) == 3
    assert sorted(r["category_id"] for r in results) == [7, 7, 42]
    assert results[0]["bbox"] == [10.0, 5.0, 30.0, 20.0] and results[0]["image_id"] == 100
    # Detections equal to the ground truth: AP 1 for boxes and masks, in COCO's own evaluator.
    assert _cocoeval(gt_file, path, "bbox") == pytest.approx(1.0)
    assert _cocoeval(gt_file, path, "segm") == pytest.approx(1.0)
    # Image 100's box moved 7 px right: IoU (30 - 7) / (30 + 7) = 0.62 matches at IoU
    # thresholds 0.50, 0.55 and 0.60 of the ten, so that image alone scores AP 0.3.
    moved = dict(detections[0], boxes=detections[0]["boxes"] + [0, 7, 0, 7])
    one = {**gt, "images": gt["images"][:1], "annotations": gt["annotations"][:1]}
    one_file = tmp_path / "one.json"
    one_file.write_text(json.dumps(one))
    to_coco_results([moved], [100], category_ids, path=tmp_path / "moved.json")
    assert _cocoeval(one_file, tmp_path / "moved.json", "bbox") == pytest.approx(0.3)
    # Without the mapping the class ids are the category ids; a class the mapping lacks is named.
    assert {r["category_id"] for r in to_coco_results(detections, [100, 101])} == {1, 2}
    with pytest.raises(ValueError, match=r"class ids \[2\] that category_ids does not map"):
        to_coco_results(detections, [100, 101], category_ids={1: 7})
    with pytest.raises(ValueError, match="image_ids has 1 entries but detections have 2"):
        to_coco_results(detections, [100])
    with pytest.raises(ValueError, match="one dict per image"):
        to_coco_results(detections[0], [100])
    # Boxes only (no masks): no segmentation.
    bare = [{k: d[k] for k in ("boxes", "classes", "scores")} for d in detections]
    assert all("segmentation" not in r for r in to_coco_results(bare, [100, 101]))


def _no_download(monkeypatch):
    from keras.src.utils import file_utils

    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to download {args[:1]}")

    monkeypatch.setattr(file_utils, "get_file", refuse)


def _backbone_part(model):
    """id(weight) of the feature extractor's backbone layers (not the FPN's)."""
    return {
        id(w)
        for layer in model.feature_extractor.layers
        if not layer.name.startswith("fpn_")
        for w in layer.weights
    }


@pytest.mark.compile_heavy
def test_named_backbones_build_freeze_preprocess_and_save(monkeypatch, tmp_path):
    _no_download(monkeypatch)
    shape = (64, 64, 3)
    resnet = build_mask_rcnn(
        2, shape, backbone="ResNet50", frozen_stages=3, freeze_batch_norm=True, **SMALL
    )
    models = [(resnet, 64)]
    if BACKEND == "tensorflow":
        # The backbone code is symbolic Keras, the same on every backend; JAX spends ~25 s of
        # CPU compiling each of these two applications' weight initialisers, so it builds
        # ResNet50 only.
        mobilenet = build_mask_rcnn(2, shape, backbone="MobileNetV3Large", frozen_stages=5, **SMALL)
        effnet = build_mask_rcnn(2, shape, backbone="efficientnet_v2_b0", fpn_filters=16, **SMALL)
        models += [(mobilenet, 64), (effnet, 16)]
    for model, filters in models:
        assert model.strides == (4, 8, 16, 32)
        got = [tuple(out.shape) for out in model.feature_extractor.outputs]
        assert got == [(None, s, s, filters) for s in (16, 8, 4, 2)]
    # ResNet50: the stem, conv2_x and conv3_x frozen, every batch norm frozen; conv4_x and
    # conv5_x (Keras names its layers by stage) train.
    trainable = {id(w) for w in resnet.trainable_weights} & _backbone_part(resnet)
    layers = list(resnet.feature_extractor.get_layer("resnet50_taps").layers)
    want = {
        id(w)
        for layer in layers
        if layer.name.startswith(("conv4_", "conv5_"))
        and not isinstance(layer, keras.layers.BatchNormalization)
        for w in layer.trainable_weights
    }
    assert want and trainable == want
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)
    # Preprocessing inside the model: [0, 1] images become what ResNet50 expects.
    preprocessing = resnet.feature_extractor.get_layer("resnet50_preprocessing")
    assert isinstance(preprocessing, BackbonePreprocessing)
    images = np.random.default_rng(0).random((2, 4, 4, 3)).astype("float32")
    want_caffe = keras.applications.resnet50.preprocess_input(images * 255.0)
    np.testing.assert_allclose(to_numpy(preprocessing(images)), want_caffe, atol=1e-4)
    if BACKEND == "tensorflow":
        # The whole MobileNetV3 frozen; EfficientNetV2-B0 (nothing frozen) trains everywhere.
        assert not {id(w) for w in mobilenet.trainable_weights} & _backbone_part(mobilenet)
        assert len(_backbone_part(effnet)) > 300
        assert {id(w) for w in effnet.trainable_weights} & _backbone_part(effnet) == {
            id(w)
            for w in effnet.feature_extractor.trainable_weights
            if id(w) in _backbone_part(effnet)
        }
        assert len(effnet.feature_extractor.trainable_weights) > 100
        # Both take 0..255 pixels into their own preprocessing layers.
        inner = mobilenet.feature_extractor
        assert inner.get_layer("mobilenet_v3_large_preprocessing").mode == "scale_255"
        rescale = [
            layer
            for layer in inner.get_layer("mobilenet_v3_large_taps").layers
            if isinstance(layer, keras.layers.Rescaling)
        ]
        assert rescale and np.isclose(rescale[0].scale, 1 / 127.5) and rescale[0].offset == -1.0
    # A .keras file rebuilds the named backbone from its config, with no download, frozen
    # flags and weights kept.
    resnet.save(tmp_path / "resnet.keras")
    loaded = keras.saving.load_model(tmp_path / "resnet.keras")
    assert len(loaded.trainable_weights) == len(resnet.trainable_weights)
    for a, b in zip(loaded.weights, resnet.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    # Bad arguments are named.
    with pytest.raises(ValueError, match=r"one of \['small', 'resnet50'.*got 'resnet18'"):
        build_mask_rcnn(2, shape, backbone="resnet18")
    with pytest.raises(ValueError, match="'small' backbone has no pretrained weights"):
        build_mask_rcnn(2, shape, backbone_weights="imagenet")
    with pytest.raises(ValueError, match=r"frozen_stages must be in \[0, 5\].*got 6"):
        build_mask_rcnn(2, shape, frozen_stages=6)
    with pytest.raises(ValueError, match=r"ResNet50 backbone takes 3-channel.*\(64, 64, 1\)"):
        build_mask_rcnn(2, (64, 64, 1), backbone="resnet50")
    with pytest.raises(ValueError, match="backbone_layers is for a Keras model of your own"):
        build_mask_rcnn(2, shape, backbone="resnet50", backbone_layers=["conv2_block3_out"])


def _two_class_shapes():
    """make_shapes images with the triangles (class 3) turned into padding rows."""
    data = make_shapes(8, image_size=32, max_instances=3, seed=0)
    drop = data["classes"] == 3
    targets = {
        "boxes": np.where(drop[..., None], -1.0, data["boxes"]).astype("float32"),
        "classes": np.where(drop, -1, data["classes"]).astype("int32"),
        "masks": np.where(drop[..., None, None], 0, data["masks"]).astype("uint8"),
    }
    assert drop.any() and (targets["classes"] >= 1).any()
    return data["images"], targets


@pytest.mark.compile_heavy
def test_transfer_to_two_classes_keeps_all_but_the_class_heads_and_trains(tiny, tmp_path):
    # The source's weights moved off their initial values, as training moves them (the
    # benchmark script transfers a model trained for real); moving variances stay positive.
    rng = np.random.default_rng(0)
    for w in tiny.weights:
        if "float" in str(w.dtype):
            value = to_numpy(w)
            w.assign(
                (
                    np.abs(value) + 0.1
                    if "variance" in w.path
                    else value + 0.05 * rng.standard_normal(value.shape)
                ).astype(value.dtype)
            )
    tiny.save(tmp_path / "three.keras")
    model, report = transfer_mask_rcnn(tmp_path / "three.keras", 2, ["square", "circle"])
    assert isinstance(model, MaskRCNN) and model.num_classes == 2
    assert model.class_names == ("background", "square", "circle")
    assert isinstance(report, TransferReport) and not report.mismatched
    heads = {n for n, _, _ in report.initialised}
    assert heads == {
        f"{head}/{layer}/{kind}"
        for head, layer in (
            ("box_head", "class_logits"),
            ("box_head", "box_deltas"),
            ("mask_head", "mask_logits"),
        )
        for kind in ("kernel", "bias")
    }
    text = str(report)
    assert "3 -> 2 classes" in text and "initialised afresh (class-specific): 6" in text
    assert "box_head/class_logits/kernel: (32, 4) -> (32, 3)" in text
    assert "backbone: 45 of 45 copied" in text and "fpn: 16 of 16 copied" in text
    assert "rpn_head: 6 of 6 copied" in text
    assert len(report.copied) + len(report.initialised) == len(model.weights)
    # Backbone, FPN and RPN (and the box head's hidden layers, the mask convolutions)
    # equal the source's; the class-specific layers are new, not slices of the old ones.
    for old, new in zip(tiny.weights, model.weights):
        if tuple(old.shape) == tuple(new.shape) and "logits" not in new.path:
            np.testing.assert_array_equal(to_numpy(old), to_numpy(new), err_msg=new.path)
    old_logits = to_numpy(tiny.box_head.classifier.kernel)[:, :3]
    assert not np.allclose(to_numpy(model.box_head.classifier.kernel), old_logits)
    # The frozen flags came along: stem, C2 and the batch norms do not train.
    assert len(model.trainable_weights) == len(tiny.trainable_weights)
    conv = ("c3a_conv", "c3b_conv", "c4a_conv", "c4b_conv", "c5a_conv", "c5b_conv")
    backbone_trainable = {id(w) for w in model.trainable_weights} & _backbone_part(model)
    layers = model.feature_extractor
    assert backbone_trainable == {id(layers.get_layer(n).kernel) for n in conv}

    images, targets = _two_class_shapes()
    model.compile(keras.optimizers.Adam(3e-3), jit_compile=JIT)
    frozen = [
        w
        for layer in model.feature_extractor.layers
        if layer.name.startswith(("stem_", "c2a_", "c2b_")) or layer.name.endswith("_bn")
        for w in layer.weights
    ]
    before = [to_numpy(w) for w in frozen]
    trained_before = [to_numpy(w) for w in model.trainable_weights]
    history = model.fit(images, targets, batch_size=4, epochs=5, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    for w, value in zip(frozen, before):
        np.testing.assert_array_equal(to_numpy(w), value, err_msg=w.path)
    changed = [
        not np.array_equal(to_numpy(w), v) for w, v in zip(model.trainable_weights, trained_before)
    ]
    assert all(changed[: len(conv)]) or sum(changed) > 0.9 * len(changed)
