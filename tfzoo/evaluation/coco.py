"""COCO-style box and mask metrics (AP, AR) through pycocotools.

pycocotools is the optional extra ``coco`` (``pip install "tfzoo[coco]"``); it is imported only
when a function here needs it. Image ``i`` of the arrays has COCO image id ``i + 1`` unless ids are
given.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np

IOU_TYPES = ("bbox", "segm")
# Order of COCOeval.stats after summarize().
METRIC_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)


def _pycocotools():
    try:
        from pycocotools import mask as mask_utils
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        raise ImportError('COCO evaluation needs pycocotools: pip install "tfzoo[coco]"') from exc
    return mask_utils, COCO, COCOeval


def _encode(mask_utils, masks):
    """Run-length encode binary masks ``(k, H, W)`` as JSON-ready COCO RLE dicts."""
    if len(masks) == 0:
        return []
    fortran = np.asfortranarray(np.moveaxis(masks, 0, -1).astype(np.uint8))
    rles = mask_utils.encode(fortran)
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def _xywh(box):
    y1, x1, y2, x2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _array(data, key, what, ndim, dtype=None):
    if key not in data:
        raise ValueError(f"{what} has no {key!r} entry; it has {sorted(data)}")
    arr = np.asarray(data[key], dtype=dtype)
    if arr.ndim != ndim:
        raise ValueError(f"{what}[{key!r}] must have {ndim} dimensions, got shape {arr.shape}")
    return arr


def _check_leading(arrays, what):
    """All arrays share the image axis (and the instance axis where they have one)."""
    (first_key, first), *rest = arrays.items()
    for key, arr in rest:
        if arr.shape[0] != first.shape[0]:
            raise ValueError(
                f"{what}[{key!r}] has {arr.shape[0]} images but {what}[{first_key!r}] has "
                f"{first.shape[0]}"
            )
        if arr.ndim > 1 and first.ndim > 1 and arr.shape[1] != first.shape[1]:
            raise ValueError(
                f"{what}[{key!r}] has {arr.shape[1]} rows per image but {what}[{first_key!r}] "
                f"has {first.shape[1]}"
            )


def _check_counts(counts, rows, what, key):
    if counts.ndim != 1:
        raise ValueError(f"{what}[{key!r}] must have shape (n,), got {counts.shape}")
    if np.any(counts < 0) or np.any(counts > rows):
        raise ValueError(f"{what}[{key!r}] must lie in [0, {rows}], got {counts.tolist()}")


def to_coco_ground_truth(data):
    """A COCO-format ground-truth dict from arrays in the ``make_shapes`` format.

    Args:
        data: a dict with ``"masks"`` ``(n, M, H, W)`` (0/1 or bool), ``"classes"`` ``(n, M)``
            (ids >= 1), ``"num_instances"`` ``(n,)`` and optionally ``"boxes"`` ``(n, M, 4)``
            ``[y1, x1, y2, x2]`` in pixels (exclusive ``y2``/``x2``; default: the tight box of each
            mask) and ``"class_names"`` (index = class id, 0 = background; default ``"class_<id>"``
            for the ids present). Only the first ``num_instances[i]`` rows of image ``i`` count.

    Returns:
        ``{"info", "images", "annotations", "categories"}``: images ``{"id": i + 1, "height": H,
        "width": W}``; one annotation per instance with ``"id"`` (from 1), ``"image_id"``,
        ``"category_id"``, ``"segmentation"`` (RLE, ``counts`` a string), ``"area"`` (mask pixels),
        ``"bbox"`` ``[x, y, w, h]`` and ``"iscrowd": 0``; categories ``{"id", "name"}``.
    """
    mask_utils, _, _ = _pycocotools()
    what = "ground truth"
    masks = _array(data, "masks", what, 4)
    classes = _array(data, "classes", what, 2)
    counts = _array(data, "num_instances", what, 1)
    arrays = {"masks": masks, "classes": classes, "num_instances": counts}
    if "boxes" in data:
        boxes = _array(data, "boxes", what, 3, np.float64)
        if boxes.shape[2] != 4:
            raise ValueError(f"{what}['boxes'] must be (n, M, 4), got shape {boxes.shape}")
        arrays["boxes"] = boxes
    _check_leading(arrays, what)
    _check_counts(counts, masks.shape[1], what, "num_instances")
    valid = np.arange(masks.shape[1])[None, :] < counts[:, None]
    if np.any(classes[valid] < 1):
        raise ValueError(f"{what} classes of valid instances must be >= 1 (0 is background)")
    n, _, height, width = masks.shape

    if "class_names" in data:
        names = list(data["class_names"])
        if classes[valid].size and classes[valid].max() >= len(names):
            raise ValueError(
                f"{what} has class id {int(classes[valid].max())} but only {len(names)} class_names"
            )
        categories = [{"id": c, "name": str(names[c])} for c in range(1, len(names))]
    else:
        categories = [{"id": int(c), "name": f"class_{c}"} for c in np.unique(classes[valid])]

    images, annotations = [], []
    for i in range(n):
        images.append({"id": i + 1, "height": height, "width": width})
        k = int(counts[i])
        binary = masks[i, :k] != 0
        rles = _encode(mask_utils, binary)
        areas = binary.sum(axis=(1, 2))
        for j, rle in enumerate(rles):
            if "boxes" in arrays:
                bbox = _xywh(arrays["boxes"][i, j])
            else:
                bbox = [float(v) for v in mask_utils.toBbox(rle)]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": int(classes[i, j]),
                    "segmentation": rle,
                    "area": float(areas[j]),
                    "bbox": bbox,
                    "iscrowd": 0,
                }
            )
    return {
        "info": {"description": "tfzoo.evaluation.to_coco_ground_truth"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def _binary(masks):
    if masks.dtype == bool:
        return masks
    if np.issubdtype(masks.dtype, np.floating):
        return masks >= 0.5
    return masks != 0


def to_coco_detections(detections, image_ids=None):
    """COCO result dicts from batched detections.

    Args:
        detections: a dict with ``"boxes"`` ``(n, K, 4)`` ``[y1, x1, y2, x2]`` in pixels,
            ``"classes"`` ``(n, K)`` ints (>= 1), ``"scores"`` ``(n, K)``, ``"num_detections"``
            ``(n,)`` and optionally ``"masks"`` ``(n, K, H, W)`` (float probabilities, kept where
            ``>= 0.5``, or bool/integer, kept where non-zero). Only the first
            ``num_detections[i]`` rows of image ``i`` count.
        image_ids: COCO image id of each of the ``n`` images; default ``i + 1`` (as
            ``to_coco_ground_truth`` numbers them).

    Returns:
        A list with one dict per detection: ``"image_id"``, ``"category_id"``, ``"score"``,
        ``"bbox"`` ``[x, y, w, h]`` and, with masks, ``"segmentation"`` (RLE, ``counts`` a string).
    """
    what = "detections"
    boxes = _array(detections, "boxes", what, 3, np.float64)
    classes = _array(detections, "classes", what, 2)
    scores = _array(detections, "scores", what, 2, np.float64)
    counts = _array(detections, "num_detections", what, 1)
    if boxes.shape[2] != 4:
        raise ValueError(f"{what}['boxes'] must be (n, K, 4), got shape {boxes.shape}")
    arrays = {"boxes": boxes, "classes": classes, "scores": scores, "num_detections": counts}
    masks = None
    if detections.get("masks") is not None:
        masks = _array(detections, "masks", what, 4)
        arrays["masks"] = masks
    _check_leading(arrays, what)
    _check_counts(counts, boxes.shape[1], what, "num_detections")
    n = boxes.shape[0]
    ids = list(range(1, n + 1)) if image_ids is None else [int(i) for i in image_ids]
    if len(ids) != n:
        raise ValueError(f"image_ids has {len(ids)} entries but detections have {n} images")
    valid = np.arange(boxes.shape[1])[None, :] < counts[:, None]
    if np.any(classes[valid] < 1):
        bad = np.unique(classes[valid][classes[valid] < 1]).tolist()
        raise ValueError(f"{what} classes must be >= 1 (0 is background), got {bad}")
    if not (np.all(np.isfinite(boxes[valid])) and np.all(np.isfinite(scores[valid]))):
        raise ValueError(f"{what} boxes and scores must be finite")
    mask_utils = _pycocotools()[0] if masks is not None else None

    results = []
    for i in range(n):
        k = int(counts[i])
        rles = _encode(mask_utils, _binary(masks[i, :k])) if masks is not None else [None] * k
        for j in range(k):
            result = {
                "image_id": ids[i],
                "category_id": int(classes[i, j]),
                "score": float(scores[i, j]),
                "bbox": _xywh(boxes[i, j]),
            }
            if rles[j] is not None:
                result["segmentation"] = rles[j]
            results.append(result)
    return results


def to_coco_results(detections, image_ids, category_ids=None, path=None):
    """COCO results (a list, and optionally a JSON file) from per-image detections.

    Args:
        detections: a list with one dict per image, as ``MaskRCNN.detect`` returns them:
            ``"boxes"`` ``(N, 4)`` ``[y1, x1, y2, x2]`` in the image's pixels (exclusive
            ``y2``/``x2``), ``"classes"`` ``(N,)`` (contiguous ids ``1..num_classes``),
            ``"scores"`` ``(N,)`` and optionally ``"masks"`` ``(N, H, W)`` (0/1, bool, or
            probabilities kept where ``>= 0.5``) at the image's own resolution.
        image_ids: the COCO image id of each image, in the order of ``detections``.
        category_ids: ``None`` (a class id is its category id, as ``to_coco_ground_truth``
            numbers them), or a mapping ``{class id: COCO category id}`` such as the COCO
            loader's ``category_ids``, to give COCO's own (often non-contiguous) ids back.
        path: where to write the results as JSON (COCO's results-file format, what
            ``COCO.loadRes`` reads); ``None`` writes nothing.

    Returns:
        The list of COCO result dicts: ``"image_id"``, ``"category_id"``, ``"score"``,
        ``"bbox"`` ``[x, y, width, height]`` and, with masks, ``"segmentation"`` (COCO RLE with
        ``"size"`` ``[H, W]`` and ``"counts"`` a string, encoded by pycocotools).
    """
    if isinstance(detections, dict) or not isinstance(detections, (list, tuple)):
        raise ValueError(
            "detections must be a list with one dict per image (as MaskRCNN.detect returns); "
            f"got {type(detections).__name__}. For batched arrays use to_coco_detections"
        )
    image_ids = list(image_ids)
    if len(image_ids) != len(detections):
        raise ValueError(
            f"image_ids has {len(image_ids)} entries but detections have {len(detections)} images"
        )
    if category_ids is not None and not hasattr(category_ids, "keys"):
        raise ValueError(
            f"category_ids must be None or a mapping {{class id: category id}}, got "
            f"{type(category_ids).__name__}"
        )
    mapping = None if category_ids is None else {int(k): int(v) for k, v in category_ids.items()}
    results = []
    for i, (image_id, found) in enumerate(zip(image_ids, detections)):
        what = f"detections[{i}]"
        if not isinstance(found, dict):
            raise ValueError(f"{what} must be a dict, got {type(found).__name__}")
        boxes = _array(found, "boxes", what, 2, np.float64)
        classes = _array(found, "classes", what, 1)
        scores = _array(found, "scores", what, 1, np.float64)
        arrays = {"boxes": boxes, "classes": classes, "scores": scores}
        masks = None
        if found.get("masks") is not None:
            masks = _array(found, "masks", what, 3)
            arrays["masks"] = masks
        if boxes.shape[1:] != (4,):
            raise ValueError(f"{what}['boxes'] must be (N, 4), got shape {boxes.shape}")
        for key, arr in arrays.items():
            if len(arr) != len(boxes):
                raise ValueError(
                    f"{what}[{key!r}] has {len(arr)} rows but {what}['boxes'] has {len(boxes)}"
                )
        if not (np.all(np.isfinite(boxes)) and np.all(np.isfinite(scores))):
            raise ValueError(f"{what} boxes and scores must be finite")
        if mapping is not None:
            unknown = sorted({int(c) for c in classes} - set(mapping))
            if unknown:
                raise ValueError(
                    f"{what} has class ids {unknown} that category_ids does not map; it maps "
                    f"{sorted(mapping)}"
                )
        elif np.any(classes < 1):
            raise ValueError(
                f"{what} classes must be >= 1 (0 is background), got "
                f"{np.unique(classes[classes < 1]).tolist()}"
            )
        rles = [None] * len(boxes)
        if masks is not None and len(masks):
            rles = _encode(_pycocotools()[0], _binary(masks))
        for j in range(len(boxes)):
            c = int(classes[j])
            result = {
                "image_id": int(image_id) if isinstance(image_id, (int, np.integer)) else image_id,
                "category_id": c if mapping is None else mapping[c],
                "score": float(scores[j]),
                "bbox": _xywh(boxes[j]),
            }
            if rles[j] is not None:
                result["segmentation"] = rles[j]
            results.append(result)
    if path is not None:
        with open(path, "w") as f:
            json.dump(results, f)
    return results


def _results_for(results, iou_type):
    """Copies of the results that carry only what ``iou_type`` reads.

    Without a box, pycocotools takes a detection's area from its mask, so mask AP uses mask areas
    for the small/medium/large ranges (as detectron2 does).
    """
    drop = "segmentation" if iou_type == "bbox" else "bbox"
    return [{k: v for k, v in r.items() if k != drop} for r in results]


def coco_evaluate(ground_truth, detections, iou_types=IOU_TYPES, verbose=False):
    """COCO AP and AR of detections against a ground truth, with pycocotools.

    Args:
        ground_truth: a dict in the ``make_shapes`` format (see ``to_coco_ground_truth``) or a
            COCO-format dict (with ``"images"``, ``"annotations"``, ``"categories"``).
        detections: a dict as ``to_coco_detections`` takes (its ``n`` images in the order of the
            ground truth's images) or a list of COCO result dicts.
        iou_types: any of ``"bbox"`` (box IoU) and ``"segm"`` (mask IoU; needs masks).
        verbose: print pycocotools' progress and summary table.

    Returns:
        A dict of floats in [0, 1] keyed ``"<iou_type>/<metric>"``, metric one of ``AP`` (mean over
        IoU 0.50:0.95), ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl`` (small < 32², medium, large >
        96² pixels), ``AR1``, ``AR10``, ``AR100`` (at most that many detections per image),
        ``ARs``, ``ARm``, ``ARl``. A metric is ``nan`` when it is undefined (no ground truth in its
        area range). With no detections every defined metric is 0.
    """
    _, COCO, COCOeval = _pycocotools()
    if isinstance(iou_types, str):
        iou_types = (iou_types,)
    iou_types = tuple(iou_types)
    unknown = [t for t in iou_types if t not in IOU_TYPES]
    if unknown or not iou_types:
        raise ValueError(f"iou_types must be a non-empty subset of {IOU_TYPES}, got {iou_types}")
    if not isinstance(ground_truth, dict):
        raise ValueError(f"ground_truth must be a dict, got {type(ground_truth).__name__}")
    if "annotations" not in ground_truth:
        ground_truth = to_coco_ground_truth(ground_truth)
    for key in ("images", "annotations", "categories"):
        if key not in ground_truth:
            raise ValueError(
                f"a COCO-format ground truth needs {key!r}; it has {sorted(ground_truth)}"
            )
    images = ground_truth["images"]
    image_ids = [img["id"] for img in images]

    if isinstance(detections, dict):
        n = len(_array(detections, "num_detections", "detections", 1))
        if n != len(images):
            raise ValueError(
                f"ground truth has {len(images)} images but detections have {n} "
                "(num_detections entries)"
            )
        masks = detections.get("masks")
        if masks is not None:
            shape = np.shape(masks)
            sizes = {(img["height"], img["width"]) for img in images}
            if len(shape) == 4 and sizes != {tuple(shape[2:])}:
                raise ValueError(
                    f"detection masks are {shape[2]}x{shape[3]} but ground-truth images are "
                    f"{' and '.join(f'{h}x{w}' for h, w in sorted(sizes))}"
                )
        elif "segm" in iou_types:
            raise ValueError("iou_types has 'segm' but detections have no 'masks'")
        results = to_coco_detections(detections, image_ids)
    elif isinstance(detections, (list, tuple)):
        results = list(detections)
        missing = {r.get("image_id") for r in results} - set(image_ids)
        if missing:
            raise ValueError(f"detections refer to image ids not in the ground truth: {missing}")
        if "segm" in iou_types and any("segmentation" not in r for r in results):
            raise ValueError("iou_types has 'segm' but some detections have no 'segmentation'")
    else:
        raise ValueError(f"detections must be a dict or a list, got {type(detections).__name__}")

    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    metrics = {}
    with quiet:
        coco_gt = COCO()
        # pycocotools writes into annotations (ignore flags, RLE): give it copies.
        coco_gt.dataset = {
            **ground_truth,
            "annotations": [dict(a) for a in ground_truth["annotations"]],
        }
        coco_gt.createIndex()
        for iou_type in iou_types:
            if results:
                coco_dt = coco_gt.loadRes(_results_for(results, iou_type))
            else:  # loadRes cannot take an empty list
                coco_dt = COCO()
                coco_dt.dataset = {
                    "images": list(images),
                    "annotations": [],
                    "categories": list(ground_truth["categories"]),
                }
                coco_dt.createIndex()
            evaluator = COCOeval(coco_gt, coco_dt, iou_type)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            for name, value in zip(METRIC_NAMES, evaluator.stats):
                metrics[f"{iou_type}/{name}"] = float(value) if value >= 0 else math.nan
    return metrics
