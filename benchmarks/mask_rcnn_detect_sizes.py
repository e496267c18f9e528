"""Mask R-CNN ``detect`` on images of other sizes: is the IoU the same as at the model's size?

    python benchmarks/mask_rcnn_detect_sizes.py              # ~3 CPU-minutes of training
    python benchmarks/mask_rcnn_detect_sizes.py --epochs 8   # a better model, longer

Trains the quick 64 px model briefly on generated shapes, then for each size (97x143, 300x200,
640x480, and 64x64 itself) draws held-out scenes at that size (``make_shapes`` at the longer
side, cropped to the size, so shapes keep their proportions) and measures, for every
ground-truth object, the best mask IoU and box IoU of a detection of its class:

- "original": ``model.detect(image)`` against the ground truth at the image's own resolution;
- "model size": the same scene letterboxed to 64 px by hand (``Letterbox.image_to_model``, the
  ground-truth masks with ``masks_to_model``), through ``detect`` at the model's size.

The two see the same pixels (detect letterboxes the original the same way), so any gap comes
from the way back: boxes divided by the scale and masks pasted at the original resolution,
against ground truth that has detail the 64 px version lost. Prints one table.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from tfzoo.datasets import make_shapes
from tfzoo.datasets.letterbox import Letterbox
from tfzoo.models import build_mask_rcnn

SIZES = [(64, 64), (97, 143), (300, 200), (640, 480)]


def scenes(n, size, seed):
    """``n`` shapes scenes of ``size`` (height, width): images uint8, per image (masks, classes)."""
    height, width = size
    data = make_shapes(n, image_size=max(size), max_instances=3, seed=seed)
    images = np.round(data["images"][:, :height, :width] * 255).astype(np.uint8)
    truth = []
    for i in range(n):
        k = int(data["num_instances"][i])
        masks = data["masks"][i, :k, :height, :width]
        keep = masks.reshape(k, -1).sum(axis=1) >= 0.002 * height * width
        truth.append((masks[keep], data["classes"][i, :k][keep]))
    return images, truth


def _box(mask):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1], np.float64)


def _box_iou(a, b):
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(
        0.0, min(a[3], b[3]) - max(a[1], b[1])
    )
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def best_ious(found, masks, classes, any_class=False):
    """Best mask and box IoU of a same-class detection (of any detection with ``any_class``),
    per ground-truth object (0 if none)."""
    mask_ious, box_ious = [], []
    for mask, c in zip(masks, classes):
        mi, bi = 0.0, 0.0
        for dmask, dbox, dc in zip(found["masks"], found["boxes"], found["classes"]):
            if dc != c and not any_class:
                continue
            union = np.logical_or(mask, dmask).sum()
            mi = max(mi, np.logical_and(mask, dmask).sum() / union if union else 0.0)
            bi = max(bi, _box_iou(_box(mask), dbox))
        mask_ious.append(mi)
        box_ious.append(bi)
    return mask_ious, box_ious


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=400, help="training images")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--scenes", type=int, default=16, help="held-out scenes per size")
    parser.add_argument("--score-threshold", type=float, default=0.05)
    parser.add_argument(
        "--any-class",
        action="store_true",
        help="match detections of any class (a briefly trained model's classes are often wrong; "
        "the comparison of the two sizes stays the same)",
    )
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    train = make_shapes(args.train, image_size=64, max_instances=3, seed=0)
    model = build_mask_rcnn(
        3,
        (64, 64, 3),
        fpn_filters=32,
        seed=0,
        class_names=train["class_names"],
        score_threshold=min(0.05, args.score_threshold),  # 0: every image keeps its top 16
    )
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
    start = time.perf_counter()
    targets = {k: train[k] for k in ("boxes", "classes", "masks")}
    history = model.fit(train["images"], targets, batch_size=8, epochs=args.epochs, verbose=0)
    print(
        f"trained {args.epochs} epochs of {args.train} images (64 px) in "
        f"{time.perf_counter() - start:.0f} s; loss {history.history['loss'][0]:.3f} -> "
        f"{history.history['loss'][-1]:.3f}"
    )

    model.detect([train["images"][0]] * 8, score_threshold=args.score_threshold)  # compile
    counts = model.predict(train["images"][:64], verbose=0)["num_detections"]
    print(f"predict at 64 px: {counts.mean():.1f} detections per image")
    print(
        f"\n{'size':>9} {'objects':>7} | {'mask IoU':>8} {'at 64 px':>8} {'diff':>7} | "
        f"{'box IoU':>8} {'at 64 px':>8} {'diff':>7} | {'det/img':>7} {'img/s':>5}"
    )
    for seed, size in enumerate(SIZES, start=1):
        images, truth = scenes(args.scenes, size, seed)
        start = time.perf_counter()
        original = model.detect(list(images), score_threshold=args.score_threshold)
        rate = len(images) / (time.perf_counter() - start)
        boxes = [Letterbox.fit(size, (64, 64)) for _ in images]
        small = model.detect(
            [lb.image_to_model(im) for lb, im in zip(boxes, images)],
            score_threshold=args.score_threshold,
        )
        rows = {"mo": [], "bo": [], "ms": [], "bs": []}
        for found, found_small, lb, (masks, classes) in zip(original, small, boxes, truth):
            if not len(masks):
                continue
            small_masks = lb.masks_to_model(masks)
            seen = small_masks.reshape(len(masks), -1).any(axis=1)  # objects left at 64 px
            masks, classes, small_masks = masks[seen], classes[seen], small_masks[seen]
            m, b = best_ious(found, masks, classes, args.any_class)
            rows["mo"] += m
            rows["bo"] += b
            m, b = best_ious(found_small, small_masks, classes, args.any_class)
            rows["ms"] += m
            rows["bs"] += b
        mo, bo, ms, bs = (float(np.mean(rows[k])) for k in ("mo", "bo", "ms", "bs"))
        print(
            f"{size[0]:>4}x{size[1]:<4} {len(rows['mo']):>7} | "
            f"{mo:8.3f} {ms:8.3f} {mo - ms:+7.3f} | "
            f"{bo:8.3f} {bs:8.3f} {bo - bs:+7.3f} | "
            f"{np.mean([len(f['classes']) for f in original]):7.1f} {rate:5.1f}"
        )


if __name__ == "__main__":
    main()
