import copy
import json
import math
import sys

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from pycocotools import mask as mask_utils  # noqa: E402

from tfzoo.datasets import make_shapes  # noqa: E402
from tfzoo.evaluation import coco_evaluate, to_coco_detections, to_coco_ground_truth  # noqa: E402

NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


@pytest.fixture(scope="module")
def data():
    return make_shapes(16, image_size=128, seed=1)


def _perfect(data):
    return {
        "boxes": data["boxes"].copy(),
        "classes": data["classes"].copy(),
        "scores": np.ones(data["classes"].shape, np.float32),
        "masks": data["masks"].copy(),
        "num_detections": data["num_instances"].copy(),
    }


def test_ground_truth_format(data):
    gt = to_coco_ground_truth(data)
    assert [c["name"] for c in gt["categories"]] == ["square", "circle", "triangle"]
    assert [c["id"] for c in gt["categories"]] == [1, 2, 3]
    assert [img["id"] for img in gt["images"]] == list(range(1, 17))
    assert {(img["height"], img["width"]) for img in gt["images"]} == {(128, 128)}
    anns = gt["annotations"]
    assert len(anns) == data["num_instances"].sum()
    assert [a["id"] for a in anns] == list(range(1, len(anns) + 1))
    first = anns[: data["num_instances"][0]]
    for j, ann in enumerate(first):
        y1, x1, y2, x2 = data["boxes"][0, j]
        assert ann["image_id"] == 1 and ann["iscrowd"] == 0
        assert ann["category_id"] == data["classes"][0, j]
        assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]
        assert ann["area"] == data["masks"][0, j].sum()
        # (pycocotools' decode warns under NumPy 2: compare encodings instead)
        rle = mask_utils.encode(np.asfortranarray(data["masks"][0, j]))
        assert ann["segmentation"] == {"size": [128, 128], "counts": rle["counts"].decode()}
    json.dumps(gt)  # JSON-ready


def test_detections_format(data):
    det = _perfect(data)
    det["num_detections"] = np.minimum(det["num_detections"], 1)
    results = to_coco_detections(det, image_ids=range(101, 117))
    assert len(results) == 16
    assert [r["image_id"] for r in results] == list(range(101, 117))
    assert set(results[0]) == {"image_id", "category_id", "score", "bbox", "segmentation"}
    del det["masks"]
    results = to_coco_detections(det)
    assert results[0]["image_id"] == 1 and "segmentation" not in results[0]
    json.dumps(results)


def test_perfect_detections(data, capsys):
    metrics = coco_evaluate(data, _perfect(data))
    assert sorted(metrics) == sorted(f"{t}/{m}" for t in ("bbox", "segm") for m in NAMES)
    for iou_type in ("bbox", "segm"):
        assert metrics[f"{iou_type}/AP"] == 1.0
        assert metrics[f"{iou_type}/AP50"] == 1.0
        assert metrics[f"{iou_type}/AR100"] == 1.0
        assert math.isnan(metrics[f"{iou_type}/APl"])  # no large shapes: undefined
    assert capsys.readouterr().out == ""
    coco_evaluate(data, _perfect(data), iou_types="bbox", verbose=True)
    assert "Average Precision" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["probabilities", "bool"])
def test_mask_kinds(data, kind):
    det = _perfect(data)
    if kind == "probabilities":
        det["masks"] = np.where(det["masks"] > 0, 0.9, 0.2).astype(np.float32)
    else:
        det["masks"] = det["masks"].astype(bool)
    assert coco_evaluate(data, det, iou_types=("segm",))["segm/AP"] == 1.0


def test_coco_format_inputs_give_the_same_metrics(data):
    det = _perfect(data)
    det["scores"] = np.random.default_rng(0).uniform(size=det["scores"].shape)
    det["classes"][::3, 0] = det["classes"][::3, 0] % 3 + 1  # a few mistakes
    gt = to_coco_ground_truth(data)
    kept = copy.deepcopy(gt)
    expected = coco_evaluate(data, det)
    assert 0.3 < expected["bbox/AP"] < 1.0
    assert coco_evaluate(gt, det) == expected
    assert coco_evaluate(gt, to_coco_detections(det)) == expected
    assert gt == kept  # not modified by pycocotools


def test_shifted_boxes_lose_strict_ap(data):
    det = _perfect(data)
    det["boxes"] += 2.0  # 2 pixels down and right
    det["masks"] = np.roll(det["masks"], (2, 2), axis=(2, 3))
    metrics = coco_evaluate(data, det)
    for iou_type in ("bbox", "segm"):
        assert metrics[f"{iou_type}/AP50"] > 0.9
        assert metrics[f"{iou_type}/AP75"] < metrics[f"{iou_type}/AP50"] - 0.3
        assert metrics[f"{iou_type}/AP"] < 0.7


def test_wrong_classes_score_zero(data):
    det = _perfect(data)
    det["classes"] = np.where(det["classes"] > 0, det["classes"] % 3 + 1, -1)
    metrics = coco_evaluate(data, det)
    # Visible masks never overlap, so no mask matches another instance of the guessed class;
    # boxes of overlapping shapes can (IoU > 0.5), hence the tolerance.
    assert metrics["segm/AP"] == 0.0 and metrics["segm/AR100"] == 0.0
    assert metrics["bbox/AP"] < 0.01 and metrics["bbox/AR100"] < 0.05


def test_missing_detections_lower_recall(data):
    det = _perfect(data)
    det["num_detections"] = (det["num_detections"] + 1) // 2
    metrics = coco_evaluate(data, det)
    found = det["num_detections"].sum() / data["num_instances"].sum()
    assert 0.3 < found < 0.8
    # per-category recall, averaged: close to the share found but not equal to it
    assert metrics["bbox/AR100"] == pytest.approx(found, abs=0.15)
    assert metrics["bbox/AR100"] < 0.8 and metrics["segm/AR100"] < 0.8


def test_no_detections(data):
    det = _perfect(data)
    det["num_detections"] = np.zeros(16, np.int32)
    metrics = coco_evaluate(data, det)
    assert all(v == 0.0 or math.isnan(v) for v in metrics.values())
    assert metrics["bbox/AP"] == 0.0 and metrics["segm/AR100"] == 0.0
    assert coco_evaluate(data, [], iou_types="bbox")["bbox/AP"] == 0.0
    empty = {
        "boxes": np.zeros((16, 0, 4)),
        "classes": np.zeros((16, 0), int),
        "scores": np.zeros((16, 0)),
        "masks": np.zeros((16, 0, 128, 128), bool),
        "num_detections": np.zeros(16, int),
    }
    assert coco_evaluate(data, empty)["segm/AP"] == 0.0


def _one_square(shift):
    """A 20x20 square at rows/cols 10..29 of a 64x64 image and a detection moved right."""
    masks = np.zeros((1, 1, 64, 64), np.uint8)
    masks[0, 0, 10:30, 10:30] = 1
    gt = {
        "masks": masks,
        "boxes": np.array([[[10, 10, 30, 30]]], np.float32),
        "classes": np.array([[1]]),
        "num_instances": np.array([1]),
        "class_names": ("background", "square"),
    }
    det = {
        "boxes": np.array([[[10, 10 + shift, 30, 30 + shift]]], np.float32),
        "classes": np.array([[1]]),
        "scores": np.array([[0.9]]),
        "masks": np.roll(masks, shift, axis=3),
        "num_detections": np.array([1]),
    }
    return gt, det


@pytest.mark.parametrize(
    "shift, ap, ap50, ap75",
    [
        # IoU = (20 - s) / (20 + s); AP = share of the thresholds 0.50, 0.55, ..., 0.95 met.
        (1, 0.9, 1.0, 1.0),  # IoU 19/21 = 0.905: all but 0.95
        (4, 0.4, 1.0, 0.0),  # IoU 16/24 = 0.667: 0.50 to 0.65
        (6, 0.1, 1.0, 0.0),  # IoU 14/26 = 0.538: only 0.50
        (7, 0.0, 0.0, 0.0),  # IoU 13/27 = 0.481: none
    ],
)
def test_single_box_with_known_iou(shift, ap, ap50, ap75):
    gt, det = _one_square(shift)
    metrics = coco_evaluate(gt, det)
    for iou_type in ("bbox", "segm"):
        assert metrics[f"{iou_type}/AP"] == pytest.approx(ap)
        assert metrics[f"{iou_type}/AP50"] == pytest.approx(ap50)
        assert metrics[f"{iou_type}/AP75"] == pytest.approx(ap75)
        assert metrics[f"{iou_type}/APs"] == pytest.approx(ap)  # 400 px: small
        assert math.isnan(metrics[f"{iou_type}/APm"])


def test_bad_inputs(data):
    det = _perfect(data)
    short = {k: v[:15] for k, v in det.items()}
    with pytest.raises(ValueError, match="ground truth has 16 images but detections have 15"):
        coco_evaluate(data, short)
    with pytest.raises(ValueError, match=r"must be \(n, K, 4\)"):
        coco_evaluate(data, {**det, "boxes": det["boxes"][..., :3]})
    with pytest.raises(ValueError, match=r"'scores'\] has 3 rows per image"):
        coco_evaluate(data, {**det, "scores": det["scores"][:, :3]})
    with pytest.raises(ValueError, match="masks are 64x64 but ground-truth images are 128x128"):
        coco_evaluate(data, {**det, "masks": det["masks"][:, :, :64, :64]})
    with pytest.raises(ValueError, match=r"num_detections'\] must lie in \[0, 4\]"):
        coco_evaluate(data, {**det, "num_detections": det["num_detections"] + 4})
    with pytest.raises(ValueError, match="no 'scores' entry"):
        coco_evaluate(data, {k: v for k, v in det.items() if k != "scores"})
    with pytest.raises(ValueError, match="has 'segm' but detections have no 'masks'"):
        coco_evaluate(data, {k: v for k, v in det.items() if k != "masks"})
    with pytest.raises(ValueError, match="iou_types must be"):
        coco_evaluate(data, det, iou_types=("keypoints",))
    with pytest.raises(ValueError, match="classes must be >= 1"):
        coco_evaluate(data, {**det, "classes": np.zeros_like(det["classes"])})
    with pytest.raises(ValueError, match="image ids not in the ground truth"):
        coco_evaluate(data, to_coco_detections(det, image_ids=range(50, 66)))
    with pytest.raises(ValueError, match="must have 4 dimensions"):
        to_coco_ground_truth({**data, "masks": data["masks"][0]})


def test_missing_pycocotools_says_which_extra(data, monkeypatch):
    for name in ("pycocotools", "pycocotools.mask", "pycocotools.coco", "pycocotools.cocoeval"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "tfzoo\[coco\]"'):
        coco_evaluate(data, _perfect(data))
    with pytest.raises(ImportError, match=r'pip install "tfzoo\[coco\]"'):
        to_coco_ground_truth(data)
