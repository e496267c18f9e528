"""Mask R-CNN ``detect`` on images of other sizes: is the IoU the same as at the model's size?

    python benchmarks/mask_rcnn_detect_sizes.py              # ~3 CPU-minutes of training
    python benchmarks/mask_rcnn_detect_sizes.py --epochs 8   # a better model, longer
    python benchmarks/mask_rcnn_detect_sizes.py --load model.keras   # a model trained elsewhere

Trains the quick 64 px model briefly on generated shapes (or loads a saved model of any square
size S, e.g. the 128 px one ``benchmarks/coco_folder_vs_arrays.py --save`` keeps), then for
each size (97x143, 300x200, 640x480, and SxS itself) draws held-out scenes at that size
(``make_shapes`` at the longer side, cropped to the size, so shapes keep their proportions) and
measures, for every ground-truth object, the best mask IoU and box IoU of a detection of its
class:

- "original": ``model.detect(image)`` against the ground truth at the image's own resolution;
- "model size": the same scene letterboxed to S px by hand (``Letterbox.image_to_model``, the
  ground-truth masks with ``masks_to_model``), through ``detect`` at the model's size.

The two see the same pixels (detect letterboxes the original the same way), so any gap comes
from the way back: boxes divided by the scale and masks pasted at the original resolution,
against ground truth that has detail the S px version lost. How much detail that is, is the
tolerance: "loss" is 1 minus the mean IoU of each ground-truth mask (and its box) with the same
mask taken to S px and back (``masks_to_model`` then ``masks_to_original``), what a perfect
detector at the model's size would still miss at the original resolution. The benchmark checks
that each size's difference is within it and exits non-zero otherwise. Prints one table
(``--write`` also writes it to a file).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import keras
import numpy as np

from tfzoo.datasets import make_shapes
from tfzoo.datasets.letterbox import Letterbox
from tfzoo.models import build_mask_rcnn

OTHER_SIZES = [(97, 143), (300, 200), (640, 480)]


def scenes(n, size, seed, max_instances=3):
    """``n`` shapes scenes of ``size`` (height, width): images uint8, per image (masks, classes)."""
    height, width = size
    data = make_shapes(n, image_size=max(size), max_instances=max_instances, seed=seed)
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
    parser.add_argument(
        "--load", default=None, help="a saved Mask R-CNN .keras file instead of training one"
    )
    parser.add_argument(
        "--max-instances", type=int, default=3, help="objects per scene at most (street_objects: 4)"
    )
    parser.add_argument("--write", default=None, help="also write the output to this file")
    args = parser.parse_args(argv)
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    keras.utils.set_random_seed(0)
    if args.load:
        model = keras.models.load_model(args.load)
        height, width = (int(n) for n in model.image_shape[:2])
        if height != width:
            parser.error(f"--load: the model's images are {height}x{width}, not square")
        side = height
        say(f"loaded {args.load} ({side} px, {model.count_params():,} parameters)")
        probe = make_shapes(64, image_size=side, max_instances=3, seed=0)["images"]
    else:
        side = 64
        train = make_shapes(args.train, image_size=side, max_instances=3, seed=0)
        model = build_mask_rcnn(
            3,
            (side, side, 3),
            fpn_filters=32,
            seed=0,
            class_names=train["class_names"],
            score_threshold=min(0.05, args.score_threshold),  # 0: every image keeps its top 16
        )
        model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
        start = time.perf_counter()
        targets = {k: train[k] for k in ("boxes", "classes", "masks")}
        history = model.fit(train["images"], targets, batch_size=8, epochs=args.epochs, verbose=0)
        say(
            f"trained {args.epochs} epochs of {args.train} images ({side} px) in "
            f"{time.perf_counter() - start:.0f} s; loss {history.history['loss'][0]:.3f} -> "
            f"{history.history['loss'][-1]:.3f}"
        )
        probe = train["images"][:64]

    model.detect([probe[0]] * 8, score_threshold=args.score_threshold)  # compile
    counts = model.predict(probe, verbose=0)["num_detections"]
    say(f"predict at {side} px: {counts.mean():.1f} detections per image")
    at = f"at {side} px"
    say(
        f"\n{'size':>9} {'objects':>7} | {'mask IoU':>8} {at:>9} {'diff':>7} {'loss':>6} | "
        f"{'box IoU':>8} {at:>9} {'diff':>7} {'loss':>6} | {'det/img':>7} {'img/s':>5} "
        f"{'within':>6}"
    )
    failures = 0
    for seed, size in enumerate([(side, side), *OTHER_SIZES], start=1):
        images, truth = scenes(args.scenes, size, seed, args.max_instances)
        start = time.perf_counter()
        original = model.detect(list(images), score_threshold=args.score_threshold)
        rate = len(images) / (time.perf_counter() - start)
        for found in original:  # at the original resolution, boxes inside the image
            masks_shape = tuple(np.shape(found["masks"])[1:])
            if len(found["masks"]) and masks_shape != size:
                sys.exit(f"detect returned {masks_shape} masks for {size} images")
            boxes_ok = np.all((found["boxes"] >= 0) & (found["boxes"] <= [*size, *size]))
            if len(found["boxes"]) and not boxes_ok:
                sys.exit(f"detect returned boxes outside the {size} image")
        boxes = [Letterbox.fit(size, (side, side)) for _ in images]
        small = model.detect(
            [lb.image_to_model(im) for lb, im in zip(boxes, images)],
            score_threshold=args.score_threshold,
        )
        rows = {"mo": [], "bo": [], "ms": [], "bs": [], "rm": [], "rb": []}
        for found, found_small, lb, (masks, classes) in zip(original, small, boxes, truth):
            if not len(masks):
                continue
            small_masks = lb.masks_to_model(masks)
            seen = small_masks.reshape(len(masks), -1).any(axis=1)  # objects left at S px
            masks, classes, small_masks = masks[seen], classes[seen], small_masks[seen]
            back = lb.masks_to_original(small_masks)
            for mask, twin in zip(masks, back):
                union = np.logical_or(mask, twin).sum()
                rows["rm"].append(np.logical_and(mask, twin).sum() / union)
                rows["rb"].append(_box_iou(_box(mask), _box(twin)) if twin.any() else 0.0)
            m, b = best_ious(found, masks, classes, args.any_class)
            rows["mo"] += m
            rows["bo"] += b
            m, b = best_ious(found_small, small_masks, classes, args.any_class)
            rows["ms"] += m
            rows["bs"] += b
        mo, bo, ms, bs, rm, rb = (
            float(np.mean(rows[k])) for k in ("mo", "bo", "ms", "bs", "rm", "rb")
        )
        ok = abs(mo - ms) <= 1 - rm and abs(bo - bs) <= 1 - rb
        failures += not ok
        say(
            f"{size[0]:>4}x{size[1]:<4} {len(rows['mo']):>7} | "
            f"{mo:8.3f} {ms:9.3f} {mo - ms:+7.3f} {1 - rm:6.3f} | "
            f"{bo:8.3f} {bs:9.3f} {bo - bs:+7.3f} {1 - rb:6.3f} | "
            f"{np.mean([len(f['classes']) for f in original]):7.1f} {rate:5.1f} "
            f"{'yes' if ok else 'NO':>6}"
        )
    say(
        "within: |diff| <= loss for masks and for boxes (loss: 1 - IoU of the ground truth "
        f"with itself taken to {side} px and back)"
    )
    if args.write:
        command = "python benchmarks/mask_rcnn_detect_sizes.py " + " ".join(argv or sys.argv[1:])
        Path(args.write).write_text("\n".join([f"# {command}", *lines]) + "\n")
    if failures:
        sys.exit(f"{failures} size(s) outside the tolerance")


if __name__ == "__main__":
    main()
