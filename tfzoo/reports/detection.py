"""The detection / instance-segmentation report: an image grid with boxes and masks."""

from __future__ import annotations

import math

import numpy as np

from tfzoo.reports import _common as c

_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")
# The order of pycocotools' COCOeval.stats.
_STATS = _METRICS + ("ARs", "ARm", "ARl")


def _rle(mask):
    """``[row0, col0, height, width, run, run, ...]`` of a boolean mask's bounding crop.

    Runs alternate background / foreground over the crop in row-major order, starting with
    background (so the first run may be 0). ``None`` for an empty mask.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    flat = mask[r0:r1, c0:c1].ravel()
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat[0]:
        runs = [0] + runs
    return [int(r0), int(c0), int(r1 - r0), int(c1 - c0)] + [int(r) for r in runs]


def _binary(masks):
    masks = np.asarray(masks)
    if masks.dtype == bool:
        return masks
    if np.issubdtype(masks.dtype, np.floating):
        return masks >= 0.5
    return masks != 0


def _get(data, key, what, ndim, n):
    if key not in data:
        raise ValueError(f"{what} needs {key!r}; it has {sorted(data)}")
    arr = np.asarray(data[key])
    if arr.ndim != ndim or arr.shape[0] != n:
        raise ValueError(
            f"{what}[{key!r}] must have {ndim} dimensions and {n} rows (one per image), "
            f"got shape {arr.shape}"
        )
    return arr


def _instances(data, what, count_key, n, with_scores):
    """Per image, the rows ``[class, (score,) y1, x1, y2, x2, mask-rle]``."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a dict of arrays, got {type(data).__name__}")
    counts = _get(data, count_key, what, 1, n).astype(int)
    classes = _get(data, "classes", what, 2, n)
    masks = data.get("masks")
    if masks is not None:
        masks = _binary(_get(data, "masks", what, 4, n))
    if "boxes" in data:
        boxes = _get(data, "boxes", what, 3, n).astype(float)
    elif masks is not None:
        boxes = None
    else:
        raise ValueError(f"{what} needs 'boxes' or 'masks'; it has {sorted(data)}")
    scores = _get(data, "scores", what, 2, n).astype(float) if with_scores else None
    if np.any(counts < 0) or np.any(counts > classes.shape[1]):
        raise ValueError(
            f"{what}[{count_key!r}] must be in [0, {classes.shape[1]}], got {counts.tolist()}"
        )
    out = []
    for i in range(n):
        rows = []
        for k in range(int(counts[i])):
            rle = _rle(masks[i, k]) if masks is not None else None
            if boxes is not None:
                box = [round(float(v), 2) for v in boxes[i, k]]
            elif rle is not None:
                box = [rle[0], rle[1], rle[0] + rle[2], rle[1] + rle[3]]
            else:
                continue
            if not all(math.isfinite(v) for v in box):
                raise ValueError(f"{what} boxes must be finite, got {box} in image {i}")
            row = [int(classes[i, k])]
            if with_scores:
                score = float(scores[i, k])
                if not math.isfinite(score):
                    raise ValueError(f"{what} scores must be finite, got {score} in image {i}")
                row.append(round(score, 4))
            rows.append(row + box + [rle])
        out.append(rows)
    return out


def _coco(ground_truth, detections, class_names, iou_types):
    """COCO metrics and each class's AP, AP50 from one pycocotools evaluation per IoU type.

    Returns ``(metrics, per_class)``: ``metrics`` keyed as ``coco_evaluate`` keys them,
    ``per_class[class id][iou type] = (AP, AP50)`` (NaN for a class without ground truth).
    """
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from tfzoo.evaluation import coco_evaluate, to_coco_detections, to_coco_ground_truth

    gt = to_coco_ground_truth({**ground_truth, "class_names": list(class_names)})
    results = to_coco_detections(detections)
    cat_ids = [cat["id"] for cat in gt["categories"]]
    if not results:  # pycocotools cannot load an empty result list
        metrics = coco_evaluate(gt, results, iou_types)
        per_class = {}
        for cid in cat_ids:
            has_gt = any(a["category_id"] == cid for a in gt["annotations"])
            value = 0.0 if has_gt else math.nan
            per_class[cid] = {t: (value, value) for t in iou_types}
        return metrics, per_class
    metrics, per_class = {}, {cid: {} for cid in cat_ids}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {**gt, "annotations": [dict(a) for a in gt["annotations"]]}
        coco_gt.createIndex()
        for iou_type in iou_types:
            drop = "segmentation" if iou_type == "bbox" else "bbox"
            coco_dt = coco_gt.loadRes([{k: v for k, v in r.items() if k != drop} for r in results])
            evaluator = COCOeval(coco_gt, coco_dt, iou_type)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            for name, value in zip(_STATS, evaluator.stats):
                metrics[f"{iou_type}/{name}"] = float(value) if value >= 0 else math.nan
            # precision: [IoU threshold, recall, class, area range (0 = all), max dets (-1 = 100)]
            precision = evaluator.eval["precision"]
            for k, cid in enumerate(evaluator.params.catIds):
                every = precision[:, :, k, 0, -1]
                at50 = precision[0, :, k, 0, -1]
                per_class[cid][iou_type] = tuple(
                    float(np.mean(p[p > -1])) if np.any(p > -1) else math.nan for p in (every, at50)
                )
    return metrics, per_class


def detection_report(
    path,
    images,
    detections,
    *,
    class_names,
    ground_truth=None,
    metrics=None,
    model=None,
    history=None,
    summary=None,
    title="Detections",
    threshold=0.5,
):
    """Write a browsable report of detections (boxes and instance masks) on images.

    The page shows every image as a lazily loaded thumbnail with its detections drawn on it
    (boxes and masks can be toggled; a class filter and a score-threshold slider choose what is
    shown); a click opens the full-size image with every detection's class and score, and the
    ground truth beside it when known. With a ground truth it has COCO's metrics table and the
    AP of each class (pycocotools), and the training curves of ``model`` / ``history``.

    Args:
        path: the report's folder (or its ``index.html``); images go to ``images/`` beside it.
        images: ``(n, H, W, 3)`` (or ``(n, H, W)``) floats in [0, 1] or uint8, ``n >= 1``.
        detections: a dict as ``tfzoo.evaluation.to_coco_detections`` takes: ``"boxes"``
            ``(n, K, 4)`` ``[y1, x1, y2, x2]`` in pixels, ``"classes"``, ``"scores"``,
            ``"num_detections"`` and optionally ``"masks"`` ``(n, K, H, W)``.
        class_names: name of each class id (index 0 is the background).
        ground_truth: optional dict in the ``make_shapes`` format (``"classes"``,
            ``"num_instances"``, ``"boxes"`` and/or ``"masks"``).
        metrics: COCO metrics as ``tfzoo.evaluation.coco_evaluate`` returns them; computed
            from ``ground_truth`` when not given.
        model: the fitted model (a trained ``keras.Model`` or estimator) whose history is shown.
        history: per-epoch training values, instead of the model's own.
        summary: a dict or list of ``(name, value)`` rows for the results table.
        title: the page's title.
        threshold: the score threshold the slider starts at.

    Returns:
        The path of ``index.html``.

    Raises:
        ValueError: no images, shapes that disagree, missing keys or an untrained model.
        sklearn.exceptions.NotFittedError: an unfitted estimator as ``model``.
    """
    curves = c.training_history(model, history)
    images = c.as_images(images)
    n, height, width = images.shape[:3]
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    names = [str(name) for name in class_names]
    if len(names) < 2:
        raise ValueError(
            f"class_names must name the background and at least one class, got {names}"
        )
    dets = _instances(detections, "detections", "num_detections", n, True)
    for i, rows in enumerate(dets):
        for row in rows:
            if not 1 <= row[0] < len(names):
                raise ValueError(
                    f"detection class ids must be in [1, {len(names) - 1}] (class_names has "
                    f"{len(names)} entries), got {row[0]} in image {i}"
                )
    truth = None
    if ground_truth is not None:
        truth = _instances(ground_truth, "ground_truth", "num_instances", n, False)
    has_masks = detections.get("masks") is not None
    iou_types = (
        ("bbox", "segm")
        if has_masks and ground_truth is not None and (ground_truth.get("masks") is not None)
        else ("bbox",)
    )
    per_class = None
    if ground_truth is not None:
        computed, per_class = _coco(ground_truth, detections, names, iou_types)
        metrics = computed if metrics is None else metrics

    folder = c.output_folder(path)
    records = []
    for i in range(n):
        src = c.save_image(images[i], folder, f"image_{i:04d}.png")
        record = {"src": src, "w": int(width), "h": int(height), "d": dets[i]}
        if truth is not None:
            record["g"] = truth[i]
        records.append(record)

    total = sum(len(rows) for rows in dets)
    controls = [
        '<div class="controls" id="controls">',
        '<label class="slider">score threshold <input type="range" id="score-threshold" '
        f'min="0" max="1" step="0.01" value="{float(threshold):.2f}">'
        '<output id="threshold-value"></output></label>',
        '<label><input type="checkbox" id="show-boxes" checked> boxes</label>',
        f'<label><input type="checkbox" id="show-masks"{" checked" if has_masks else " disabled"}>'
        " masks</label>",
        '<fieldset id="class-filter"><legend>classes</legend>',
    ]
    for cid in range(1, len(names)):
        controls.append(
            f'<label><input type="checkbox" data-class="{cid}" checked>'
            f'<span class="swatch" data-class="{cid}"></span>{c.esc(names[cid])}</label>'
        )
    controls.append("</fieldset>")
    controls.append(
        '<p class="count"><span id="shown-count" data-count="0">0</span> of '
        f'{total} detections shown on <span id="image-count">{n}</span> images</p></div>'
    )
    notes = []
    if total == 0:
        notes.append(
            '<p class="empty" id="no-detections">The model made no detections on these '
            f"{n} images.</p>"
        )
    cards = ['<div class="grid" id="grid">']
    for i, record in enumerate(records):
        cards.append(
            f'<div class="card" data-index="{i}" tabindex="0" role="button">'
            f'<div class="frame"><img src="{record["src"]}" loading="lazy" width="{width}" '
            f'height="{height}" alt="image {i}"><canvas></canvas></div>'
            f'<span class="caption">#{i} · {len(dets[i])} detections</span></div>'
        )
    cards.append("</div>")
    sections = [
        c.section("detections", "Detections", "".join(controls) + "".join(notes) + "".join(cards))
    ]

    if metrics:
        rows = []
        for name in _METRICS:
            rows.append(
                [name]
                + [
                    c.format_value(metrics.get(f"{t}/{name}", math.nan))
                    for t in ("bbox", "segm")
                    if any(k.startswith(f"{t}/") for k in metrics)
                ]
            )
        kinds = [t for t in ("bbox", "segm") if any(k.startswith(f"{t}/") for k in metrics)]
        body = c.table(rows, ["metric"] + [f"{t} (COCO)" for t in kinds], "coco-metrics")
    else:
        body = c.empty("No ground truth given: no COCO metrics.")
    sections.append(c.section("metrics", "COCO metrics", body))
    if per_class:
        rows = []
        for cid, values in per_class.items():
            gt_count = sum(1 for rows_ in truth for r in rows_ if r[0] == cid)
            row = [names[cid], str(gt_count)]
            for t in iou_types:
                row += [c.format_value(values[t][0]), c.format_value(values[t][1])]
            rows.append(row)
        header = ["class", "instances"]
        for t in iou_types:
            header += [f"{t} AP", f"{t} AP50"]
        body = c.table(rows, header, "per-class-ap")
    else:
        body = c.empty("No ground truth given: no per-class AP.")
    sections.append(c.section("per-class", "AP per class", body))

    data = {
        "kind": "detection",
        "classNames": names,
        "threshold": float(threshold),
        "hasMasks": bool(has_masks),
        "images": records,
    }
    return c.write_page(
        folder,
        kind="detection",
        title=title,
        sections=sections,
        data=data,
        curves=curves,
        summary=summary,
    )
