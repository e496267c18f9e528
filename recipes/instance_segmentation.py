"""Your images -> segmented instances: Mask R-CNN trained on a COCO or VIA folder on disk.

Data: any instance-segmentation folder with a training and a validation annotation file
(nothing is downloaded). Three layouts:

    --coco-dir DIR     DIR/train/annotations.json + DIR/train/images/
                       DIR/val/annotations.json   + DIR/val/images/
                       (what tfzoo.datasets.export_coco writes into DIR/train and DIR/val)
    --train-annotations FILE --train-images DIR --val-annotations FILE --val-images DIR
                       COCO's own layout, e.g. annotations/instances_train2017.json + train2017/,
                       annotations/instances_val2017.json + val2017/
    --via DIR          DIR/train/via_region_data.json with the images beside it, DIR/val/ the
                       same (the layout of Matterport's balloon sample); the class of a region is
                       its region attribute --via-class-attribute (default "class"; pass
                       --via-class-attribute none --via-default-class balloon for one class)

Training reads batches from disk (tfzoo.datasets.load_coco / load_via: images letterboxed to
--image-size, aspect ratio kept), optionally augmented (--augment: flip, scale jitter, colour
jitter). The validation images are detected at their ORIGINAL size (MaskRCNN.detect) and scored
with COCO's evaluator (pycocotools) against the validation annotation file itself, with the
file's own category ids (for VIA, against its polygons rasterised at the original size).

    python recipes/instance_segmentation.py --coco-dir DIR
    python recipes/instance_segmentation.py --via balloon --via-class-attribute none \\
        --via-default-class balloon --backbone resnet50 --backbone-weights imagenet \\
        --image-size 512 --batch-size 2
    python recipes/instance_segmentation.py --coco-dir NEW --transfer-from shapes.keras
    python recipes/street_objects.py     # this recipe on a generated COCO folder
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import default_onednn  # noqa: E402

default_onednn()  # oneDNN convolutions, before TensorFlow is imported

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    Timer,
    announce_report,
    output_dir,
    parser,
    print_table,
    report_dir,
    use_agg_backend,
)

VIA_FILE = "via_region_data.json"


def image_size(text):
    """``"128"`` -> (128, 128); ``"128x192"`` -> (128, 192) (height x width)."""
    parts = str(text).lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"--image-size must be N or HxW (pixels), got {text!r}")
    return size


def build_parser():
    p = parser(__doc__.splitlines()[0], epochs=10, report=False)
    data = p.add_argument_group("data (one of --coco-dir, --via, or the four explicit paths)")
    data.add_argument("--coco-dir", default=None, help="DIR/{train,val}/annotations.json + images/")
    data.add_argument("--via", default=None, help=f"DIR/{{train,val}}/{VIA_FILE} + images")
    data.add_argument("--train-annotations", default=None, help="COCO JSON of the training set")
    data.add_argument("--train-images", default=None, help="folder of the training images")
    data.add_argument("--val-annotations", default=None, help="COCO JSON of the validation set")
    data.add_argument("--val-images", default=None, help="folder of the validation images")
    data.add_argument("--via-class-attribute", default="class", help="'none': one class")
    data.add_argument("--via-default-class", default="object")
    p.add_argument("--image-size", default="128", help="model input, N or HxW (pixels)")
    p.add_argument("--backbone", default="small", help="small, or a keras.applications name")
    p.add_argument("--backbone-weights", default=None, help="None, imagenet, or a weights file")
    p.add_argument("--frozen-stages", type=int, default=0, help="backbone stages not trained")
    p.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="default: one pass over the training set; fewer steps go on through the same pass "
        "in the next epoch (with --shuffle the order is drawn anew each epoch, so such a pass "
        "can repeat and miss images: --no-shuffle reads each image once per pass)",
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--augment", action="store_true", help="flip, scale and colour jitter")
    p.add_argument(
        "--shuffle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a new order of the training images every epoch (default: on)",
    )
    p.add_argument("--max-instances", type=int, default=32, help="objects kept per image")
    p.add_argument("--max-detections", type=int, default=100, help="detections per image")
    p.add_argument("--score-threshold", type=float, default=0.05, help="detect's threshold")
    p.add_argument(
        "--transfer-from", default=None, help="a trained .keras Mask R-CNN to start from"
    )
    p.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    p.add_argument("--no-jit", action="store_true", help="do not compile with XLA")
    p.add_argument("--save", default=None, help="save the trained model (.keras) here")
    p.add_argument("--load", default=None, help="evaluate a saved model instead of training")
    p.add_argument("--report-images", type=int, default=500, help="validation images shown")
    p.add_argument("--name", default="instance_segmentation", help="output subfolder of --out")
    p.add_argument("--title", default=None, help="title of the table and the report")
    return p


def data_paths(args):
    """``(kind, train (json, image dir), val (json, image dir))`` from the flags, checked."""
    explicit = [
        args.train_annotations,
        args.train_images,
        args.val_annotations,
        args.val_images,
    ]
    given = [bool(args.coco_dir), bool(args.via), any(explicit)]
    if sum(given) != 1:
        raise SystemExit(
            "give exactly one of --coco-dir DIR, --via DIR, or --train-annotations/"
            "--train-images/--val-annotations/--val-images"
        )
    if args.coco_dir:
        root = Path(args.coco_dir)
        return "coco", *(
            (root / s / "annotations.json", root / s / "images") for s in ("train", "val")
        )
    if args.via:
        root = Path(args.via)
        return "via", *((root / s / VIA_FILE, root / s) for s in ("train", "val"))
    if not all(explicit):
        raise SystemExit(
            "the explicit layout needs all four of --train-annotations, --train-images, "
            f"--val-annotations, --val-images; got {explicit}"
        )
    return "coco", (Path(explicit[0]), Path(explicit[1])), (Path(explicit[2]), Path(explicit[3]))


def loaders(args, kind, train, val, size):
    from tfzoo.datasets import DetectionAugmentation, load_coco, load_via

    common = {"image_size": size, "max_instances": args.max_instances}
    if kind == "via":
        attribute = None if args.via_class_attribute.lower() == "none" else args.via_class_attribute
        load = load_via
        common.update(class_attribute=attribute, default_class=args.via_default_class)
    else:
        load = load_coco
    train_data = load(
        *train,
        **common,
        batch_size=args.batch_size,
        shuffle=args.shuffle,
        seed=args.seed,
        augment=DetectionAugmentation(seed=args.seed) if args.augment else None,
        drop_remainder=True,  # one batch shape: one compiled step
    )
    # the validation set in the training set's classes (and order)
    categories = list(train_data.class_names[1:])
    val_data = load(*val, **common, categories=categories, batch_size=args.batch_size)
    return train_data, val_data


def loader_rate(data, batches=20):
    """Images/s of the loader alone (reading, decoding, letterboxing; one thread)."""
    batches = min(batches, len(data))
    data[0]  # warm (imports, file cache)
    with Timer() as t:
        for b in range(batches):
            data[b]
    return batches * data.batch_size / t.seconds


class StepTimer:
    """Keras callback factory: wall time after the first (compiling) step, and a time budget."""

    @staticmethod
    def make(minutes):
        import keras

        class _Timer(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.start = time.perf_counter()
                self.first = None
                self.calls = 0

            def on_train_batch_end(self, batch, logs=None):
                now = time.perf_counter()
                self.calls += 1
                if self.first is None:
                    self.first = now
                self.last = now
                if now - self.start > 60.0 * minutes:
                    self.model.stop_training = True

        return _Timer()


def build(args, train_data, size, steps):
    """The model (new, or transferred from --transfer-from), compiled in the current scope."""
    import keras

    from tfzoo.models import build_mask_rcnn, transfer_mask_rcnn

    if args.transfer_from:
        model, transfer = transfer_mask_rcnn(
            args.transfer_from,
            train_data.num_classes,
            list(train_data.class_names),
            max_detections=args.max_detections,
            score_threshold=args.score_threshold,
        )
        print(transfer)
        if tuple(model.image_shape[:2]) != tuple(size):
            raise SystemExit(
                f"--transfer-from {args.transfer_from} takes {model.image_shape[:2]} images; "
                f"pass --image-size {model.image_shape[0]}x{model.image_shape[1]} (got {size})"
            )
    else:
        model = build_mask_rcnn(
            train_data.num_classes,
            (*size, 3),
            backbone=args.backbone,
            backbone_weights=args.backbone_weights,
            frozen_stages=args.frozen_stages,
            class_names=list(train_data.class_names),
            max_detections=args.max_detections,
            score_threshold=args.score_threshold,
            seed=args.seed,
        )
    warmup = steps // 20
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(steps - warmup, 1),
        warmup_target=args.learning_rate,
        warmup_steps=warmup,
        alpha=0.02,
    )
    model.compile(
        keras.optimizers.Adam(schedule, clipnorm=10.0),
        # A smoke run skips XLA's compile on TensorFlow (its traced graph starts sooner);
        # on JAX XLA is the compiled path (the smoke run: 114 s without, 38 s with, here)
        jit_compile=not args.no_jit and (not args.smoke or keras.backend.backend() == "jax"),
        # (Keras's torch trainer runs one step per call)
        steps_per_execution=1 if args.smoke or keras.backend.backend() == "torch" else 4,
    )
    return model


def train(args, strategy, train_data, size, tensorboard, train_arrays=None):
    """Fit on the loader (or on ``train_arrays`` = (images, targets), for comparisons)."""
    steps_per_epoch = args.steps_per_epoch or len(train_data)
    if args.steps_per_epoch and args.steps_per_epoch > len(train_data) and train_arrays is None:
        raise SystemExit(
            f"--steps-per-epoch {args.steps_per_epoch} is more than the {len(train_data)} "
            f"batches of {args.batch_size} in the training set"
        )
    steps = args.epochs * steps_per_epoch
    with strategy.scope():
        model = build(args, train_data, size, steps)
    timer = StepTimer.make(args.minutes)
    callbacks = [timer]
    if args.logdir:
        callbacks.append(tensorboard(args.logdir, write_graph=True))
    if train_arrays is None:
        x, y, kwargs = train_data, None, {}
    else:
        (x, y), kwargs = train_arrays, {"batch_size": args.batch_size, "shuffle": args.shuffle}
    with Timer() as fit_time:
        history = model.fit(
            x,
            y,
            epochs=args.epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=0 if args.smoke else 2,
            **kwargs,
        )
    history = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    done = len(history["loss"]) * steps_per_epoch
    per_call = done / max(timer.calls, 1)
    after_first = (timer.calls - 1) * per_call * args.batch_size
    rate = after_first / (timer.last - timer.first) if timer.calls > 1 else float("nan")
    trained = f"{done} steps x {args.batch_size} images, {fit_time.seconds / 60:.1f} min"
    return model, history, trained, rate


def ground_truth(kind, val_file, val_data):
    """The COCO ground truth to score against: the validation file itself (COCO), or the VIA
    polygons rasterised at each image's original size."""
    if kind == "coco":
        return json.loads(Path(val_file).read_text())
    from tfzoo.evaluation import to_coco_ground_truth

    doc = {"images": [], "annotations": [], "categories": None}
    for i in range(val_data.num_images):
        ex = val_data.example(i, original=True)
        k, (h, w) = len(ex["classes"]), ex["image"].shape[:2]
        one = to_coco_ground_truth(
            {
                "masks": ex["masks"][None],
                "classes": ex["classes"][None],
                "num_instances": np.array([k]),
                "class_names": list(val_data.class_names),
            }
        )
        image_id = ex["info"]["id"]
        doc["images"].append({"id": image_id, "height": h, "width": w})
        doc["categories"] = one["categories"]
        for a in one["annotations"]:
            doc["annotations"].append(
                {**a, "image_id": image_id, "id": len(doc["annotations"]) + 1}
            )
    return doc


def report_frame(val_data):
    """``"original"`` when the validation images share one size not much larger than the
    model's (the report takes arrays of one size), else ``"model"`` (letterboxed)."""
    sizes = {
        (val_data.info(i)["height"], val_data.info(i)["width"]) for i in range(val_data.num_images)
    }
    (h, w), (mh, mw) = next(iter(sizes)), val_data.image_size
    return "original" if len(sizes) == 1 and h * w <= 4 * mh * mw else "model"


def evaluate(model, val_data, truth, batch_size, keep, frame):
    """Detect every validation image at its original size; COCO metrics, images/s, and for
    the first ``keep`` images (image, detections) in ``frame`` (see :func:`report_frame`)."""
    from tfzoo.evaluation import coco_evaluate, to_coco_results

    n = val_data.num_images
    results, kept, seconds = [], [], 0.0
    warm = [val_data.example(i, original=True)["image"] for i in range(min(batch_size, n))]
    model.detect(warm, score_threshold=0.0, batch_size=batch_size)  # compile outside the timing
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        images = [val_data.example(i, original=True)["image"] for i in idx]
        t0 = time.perf_counter()
        found = model.detect(images, score_threshold=0.0, batch_size=batch_size)
        seconds += time.perf_counter() - t0
        results += to_coco_results(
            found, [val_data.image_ids[i] for i in idx], category_ids=val_data.category_ids
        )
        for i, image, f in zip(idx, images, found):
            if i >= keep:
                break
            if frame == "model":
                lb = val_data.info(i)["letterbox"]
                image = lb.image_to_model(image)
                f = {
                    **f,
                    "boxes": lb.boxes_to_model(f["boxes"]),
                    "masks": lb.masks_to_model(f["masks"]),
                }
            kept.append((i, image, f))
    metrics = coco_evaluate(truth, results)
    return metrics, n / seconds, kept, results


def draw(ax, image, found, class_names, threshold=0.5):
    from matplotlib.patches import Rectangle

    colours = np.array([[1, 0.2, 0.2], [0.2, 1, 0.2], [0.3, 0.5, 1], [1, 1, 0.2], [1, 0.3, 1]])
    shown = np.array(image, np.float32)
    for k in np.flatnonzero(found["scores"] >= threshold):
        colour = colours[k % len(colours)]
        mask = found["masks"][k] != 0
        shown[mask] = 0.5 * shown[mask] + 0.5 * colour
        y1, x1, y2, x2 = found["boxes"][k]
        ax.add_patch(
            Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1)
        )
        name = class_names[int(found["classes"][k])]
        ax.text(x1, y1, f"{name} {found['scores'][k]:.2f}", color="white", fontsize=6)
    ax.imshow(np.clip(shown, 0, 1))
    ax.set_axis_off()


def plot(plt, path, history, metrics, kept, class_names):
    fig = plt.figure(figsize=(14, 8))
    grid = fig.add_gridspec(2, 6)
    ax = fig.add_subplot(grid[0, :3])
    if history:
        for key in (
            "loss",
            "rpn_class_loss",
            "rpn_box_loss",
            "class_loss",
            "box_loss",
            "mask_loss",
        ):
            if key in history:
                ax.plot(np.arange(1, len(history[key]) + 1), history[key], label=key)
        ax.legend(fontsize=7)
    ax.set(title="Training curve", xlabel="epoch", ylabel="loss", yscale="log")
    ax = fig.add_subplot(grid[0, 3:])
    names = ["AP", "AP50", "AP75"]
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, [metrics[f"bbox/{n}"] for n in names], 0.4, label="bbox")
    ax.bar(xs + 0.2, [metrics[f"segm/{n}"] for n in names], 0.4, label="segm")
    ax.set(xticks=xs, xticklabels=names, ylim=(0, 1), title="COCO metrics (validation)")
    ax.legend()
    for j, (_, image, found) in enumerate(kept[:6]):
        draw(fig.add_subplot(grid[1, j]), image, found, class_names)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report_arrays(val_data, kept, frame):
    """Batched images, detections and ground truth for ``tfzoo.reports.detection_report``
    (arrays of one image size), in ``frame``."""
    images, dets, truth = [], [], []
    for i, image, found in kept:
        ex = val_data.example(i, original=frame == "original")
        images.append(image)
        dets.append((found["boxes"], found["classes"], found["scores"], found["masks"]))
        truth.append((ex["boxes"], ex["classes"], ex["masks"]))
    k = max(1, max(len(d[1]) for d in dets))
    m = max(1, max(len(t[1]) for t in truth))
    h, w = images[0].shape[:2]
    n = len(images)
    out = {
        "boxes": np.zeros((n, k, 4), np.float32),
        "classes": np.ones((n, k), np.int32),
        "scores": np.zeros((n, k), np.float32),
        "masks": np.zeros((n, k, h, w), np.uint8),
        "num_detections": np.array([len(d[1]) for d in dets], np.int32),
    }
    gt = {
        "boxes": np.full((n, m, 4), -1, np.float32),
        "classes": np.full((n, m), -1, np.int32),
        "masks": np.zeros((n, m, h, w), np.uint8),
        "num_instances": np.array([len(t[1]) for t in truth], np.int32),
    }
    for r, ((boxes, classes, scores, masks), (tb, tc, tm)) in enumerate(zip(dets, truth)):
        j = len(classes)
        out["boxes"][r, :j], out["classes"][r, :j] = boxes, classes
        out["scores"][r, :j], out["masks"][r, :j] = scores, masks
        j = len(tc)
        gt["boxes"][r, :j], gt["classes"][r, :j], gt["masks"][r, :j] = tb, tc, tm
    where = (
        "original size"
        if frame == "original"
        else f"model size {val_data.image_size} (letterboxed)"
    )
    return np.stack(images), out, gt, where


def main(argv=None, *, train_arrays=None, data_rows=()):
    """Run the recipe; ``train_arrays=(images, targets)`` trains on arrays instead of the
    training folder (the same evaluation), for comparisons (``street_objects.py --from-arrays``);
    ``data_rows`` are extra (name, value) rows for the table."""
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.epochs, args.steps_per_epoch, args.batch_size = 2, 4, 2
        args.image_size, args.report_images = "64", min(args.report_images, 8)
        args.max_instances, args.max_detections = min(args.max_instances, 4), 16
    size = image_size(args.image_size)
    kind, (train_file, train_dir), (val_file, val_dir) = data_paths(args)
    plt = use_agg_backend()
    import keras

    import tfzoo
    from tfzoo.estimators._tensorboard import TensorBoard

    out = output_dir(args, args.name)
    keras.utils.set_random_seed(args.seed)
    strategy = tfzoo.distribute.get_strategy(args.strategy)
    replicas = strategy.num_replicas_in_sync
    args.batch_size = -(-args.batch_size // replicas) * replicas
    train_data, val_data = loaders(args, kind, (train_file, train_dir), (val_file, val_dir), size)
    if args.smoke:
        args.steps_per_epoch = min(args.steps_per_epoch, len(train_data))
    history_file = out / "history.json"
    loader_ips = train_ips = None
    if args.load:
        model = keras.saving.load_model(args.load)
        trained = f"loaded from {args.load}"
        history = json.loads(history_file.read_text()) if history_file.exists() else None
    else:
        if train_arrays is None:
            loader_ips = loader_rate(train_data)
        model, history, trained, train_ips = train(
            args, strategy, train_data, size, TensorBoard, train_arrays
        )
        history_file.write_text(json.dumps(history))
    if args.save:
        model.save(args.save)

    truth = ground_truth(kind, val_file, val_data)
    frame = report_frame(val_data)
    keep = min(val_data.num_images, args.report_images if args.report else 6)
    metrics, infer_ips, kept, results = evaluate(
        model, val_data, truth, args.batch_size, keep, frame
    )
    (out / "val_results.json").write_text(json.dumps(results))
    source = "arrays in memory" if train_arrays is not None else f"{kind.upper()} folder on disk"
    rows = [
        ("training data", f"{train_file} ({train_data.num_images} images)"),
        ("validation data", f"{val_file} ({val_data.num_images} images)"),
        *data_rows,
        ("classes", ", ".join(train_data.class_names[1:])),
        ("model input", f"{size[0]}x{size[1]}, backbone {args.backbone}"),
        ("parameters", f"{model.count_params():,}"),
        ("training", f"{trained}, from {source}"),
    ]
    if history:
        rows.append(("first-epoch training loss", float(history["loss"][0])))
        rows.append(("final training loss", float(history["loss"][-1])))
    for kind_ in ("bbox", "segm"):
        for name in ("AP", "AP50", "AP75"):
            rows.append((f"{kind_} {name}", float(metrics[f"{kind_}/{name}"])))
    if loader_ips is not None:
        rows.append(("loader alone (images/s)", float(loader_ips)))
    if train_ips is not None:
        rows.append(("training (images/s, after the first step)", float(train_ips)))
    rows.append(("inference, detect at original size (images/s)", float(infer_ips)))
    title = args.title or "your images -> segmented instances (Mask R-CNN)"
    print_table(title, rows)

    png = out / f"{args.name}.png"
    plot(plt, png, history, metrics, kept, train_data.class_names)
    print(f"\nplots: {png}")
    result = dict(rows)
    if args.report:
        images, dets, gt, where = report_arrays(val_data, kept, frame)
        index = tfzoo.reports.detection_report(
            report_dir(out),
            images,
            dets,
            class_names=train_data.class_names,
            ground_truth=gt,
            metrics=metrics,
            model=model,
            history=history,
            summary=rows + [("report images", f"the first {len(images)}, at {where}")],
            title=title,
        )
        result["report"] = announce_report(index)
    result["metrics"] = metrics
    return result


if __name__ == "__main__":
    main()
