"""Street objects -> segmented instances: Mask R-CNN trained on generated shapes.

Data: tfzoo.datasets.make_shapes, GENERATED images of squares, circles and
triangles on random backgrounds (later shapes occlude earlier ones); see
datasets/shapes.md. Training reads fresh images every epoch; the evaluation
uses a fixed held-out set (seed --eval-seed, 500 images by default) scored
with COCO's evaluator (pycocotools: bbox and segm AP, AP50, AP75).

    python recipes/street_objects.py       # quick: 64 px, 400 steps, under 5 min on 2 CPU cores
    python recipes/street_objects.py --image-size 128 --epochs 26 --steps-per-epoch 100
                                           # the 30-minute run at 128 px (2,600 steps)
    python recipes/street_objects.py --smoke   # seconds
"""

from __future__ import annotations

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


def shapes_dataset(batch_size, image_size, max_instances, seed, chunk=256):
    """An endless stream of freshly generated shapes batches: a ``tf.data`` pipeline
    on TensorFlow, a ``keras.utils.PyDataset`` on the other backends."""
    import keras

    from tfzoo.datasets import make_shapes

    chunk = max(chunk, batch_size)
    s = image_size

    def batches():
        i = 0
        while True:
            data = make_shapes(chunk, s, max_instances, seed=1_000_003 * (seed + 1) + i)
            i += 1
            for start in range(0, chunk - batch_size + 1, batch_size):
                part = slice(start, start + batch_size)
                yield (
                    data["images"][part],
                    {
                        "boxes": data["boxes"][part],
                        "classes": data["classes"][part],
                        "masks": data["masks"][part],
                    },
                )

    if keras.backend.backend() != "tensorflow":

        class Stream(keras.utils.PyDataset):
            def __init__(self):
                super().__init__()
                self.source = batches()

            @property
            def num_batches(self):
                return None  # endless: fit's steps_per_epoch cuts the epochs

            def __getitem__(self, index):
                return next(self.source)

        return Stream()
    import tensorflow as tf

    spec = (
        tf.TensorSpec((batch_size, s, s, 3), tf.float32),
        {
            "boxes": tf.TensorSpec((batch_size, max_instances, 4), tf.float32),
            "classes": tf.TensorSpec((batch_size, max_instances), tf.int32),
            "masks": tf.TensorSpec((batch_size, max_instances, s, s), tf.uint8),
        },
    )
    return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)


class TimeBudget:
    """Keras callback factory: stop training after ``minutes`` of wall time."""

    @staticmethod
    def make(minutes):
        import keras

        class _Budget(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.start = time.perf_counter()
                self.stopped_at = None

            def on_train_batch_end(self, batch, logs=None):
                if time.perf_counter() - self.start > 60.0 * minutes:
                    self.model.stop_training = True
                    self.stopped_at = batch

        return _Budget()


def predict_all(model, images, batch_size):
    outputs = model.predict(images, batch_size=batch_size, verbose=0)
    return {k: np.asarray(v) for k, v in outputs.items()}


def draw(ax, image, detections, i, class_names, threshold=0.5):
    from matplotlib.patches import Rectangle

    colours = np.array([[1, 0.2, 0.2], [0.2, 1, 0.2], [0.3, 0.5, 1], [1, 1, 0.2], [1, 0.3, 1]])
    shown = image.copy()
    n = int(detections["num_detections"][i])
    kept = 0
    for k in range(n):
        if detections["scores"][i, k] < threshold:
            continue
        colour = colours[kept % len(colours)]
        mask = detections["masks"][i, k] >= 0.5
        shown[mask] = 0.5 * shown[mask] + 0.5 * colour
        y1, x1, y2, x2 = detections["boxes"][i, k]
        ax.add_patch(
            Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1)
        )
        name = class_names[int(detections["classes"][i, k])]
        ax.text(x1, y1, f"{name} {detections['scores'][i, k]:.2f}", color="white", fontsize=6)
        kept += 1
    ax.imshow(np.clip(shown, 0, 1))
    ax.set_axis_off()


def train(args, strategy, batch, tensorboard):
    """Build, compile and train; returns (model, history dict, description)."""
    import keras

    import tfzoo

    total_steps = args.epochs * args.steps_per_epoch
    with strategy.scope():
        model = tfzoo.models.build_mask_rcnn(
            3,
            (args.image_size, args.image_size, 3),
            max_detections=16,
            seed=args.seed,
        )
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0,
            decay_steps=max(total_steps - total_steps // 20, 1),
            warmup_target=args.learning_rate,
            warmup_steps=total_steps // 20,
            alpha=0.02,
        )
        model.compile(
            keras.optimizers.Adam(schedule, clipnorm=10.0),
            jit_compile=not (args.no_jit or args.smoke),
            # (Keras's torch trainer runs one step per call)
            steps_per_execution=1 if args.smoke or keras.backend.backend() == "torch" else 4,
        )
    callbacks = [TimeBudget.make(args.minutes)]
    if args.logdir:
        callbacks.append(tensorboard(args.logdir, write_graph=True))
    stream = shapes_dataset(batch, args.image_size, 4, args.seed)
    with Timer() as fit_time:
        history = model.fit(
            stream,
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            shuffle=False,  # the stream is freshly generated, already random
            callbacks=callbacks,
            verbose=0 if args.smoke else 2,
        )
    history = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    steps = len(history["loss"]) * args.steps_per_epoch
    trained = f"{steps} steps x {batch} images, {fit_time.seconds / 60:.1f} min"
    return model, history, trained


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=5, report=True)
    p.add_argument("--steps-per-epoch", type=int, default=80)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    p.add_argument("--eval-images", type=int, default=500)
    p.add_argument("--eval-seed", type=int, default=2026)
    p.add_argument("--image-size", type=int, default=64, help="image side (pixels)")
    p.add_argument("--no-jit", action="store_true", help="do not compile with XLA")
    p.add_argument("--save", default=None, help="save the trained model (.keras) here")
    p.add_argument(
        "--load", default=None, help="evaluate a saved model (.keras) instead of training"
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs, args.steps_per_epoch, args.batch_size = 2, 2, 2
        args.eval_images, args.image_size = 8, 64
    plt = use_agg_backend()
    import keras

    import tfzoo
    from tfzoo.datasets import make_shapes
    from tfzoo.estimators._tensorboard import TensorBoard
    from tfzoo.evaluation import coco_evaluate

    out = output_dir(args, "street_objects")
    keras.utils.set_random_seed(args.seed)
    strategy = tfzoo.distribute.get_strategy(args.strategy)
    replicas = strategy.num_replicas_in_sync
    batch = -(-args.batch_size // replicas) * replicas
    history_file = out / "history.json"
    if args.load:
        model = keras.saving.load_model(args.load)
        trained = f"loaded from {args.load}"
        history = json.loads(history_file.read_text()) if history_file.exists() else None
    else:
        model, history, trained = train(args, strategy, batch, TensorBoard)
        history_file.write_text(json.dumps(history))
    if args.save:
        model.save(args.save)

    held_out = make_shapes(args.eval_images, args.image_size, 4, seed=args.eval_seed)
    with Timer() as eval_time:
        detections = predict_all(model, held_out["images"], batch)
    metrics = coco_evaluate(held_out, detections)
    rows = [
        ("data", "generated shapes (make_shapes), 3 classes"),
        ("parameters", f"{model.count_params():,}"),
        ("training", trained),
    ]
    if history:
        rows.append(("first-epoch training loss", float(history["loss"][0])))
        rows.append(("final training loss", float(history["loss"][-1])))
    rows += [
        ("held-out images", f"{args.eval_images} (seed {args.eval_seed})"),
    ]
    for kind in ("bbox", "segm"):
        for name in ("AP", "AP50", "AP75"):
            rows.append((f"{kind} {name}", float(metrics[f"{kind}/{name}"])))
    rows.append(("inference", f"{args.eval_images / eval_time.seconds:.1f} images/s"))
    print_table("street objects -> segmented instances (Mask R-CNN on shapes)", rows)

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
            ax.plot(np.arange(1, len(history[key]) + 1), history[key], label=key)
        ax.legend(fontsize=7)
    ax.set(title="Training curve", xlabel="epoch", ylabel="loss", yscale="log")
    ax = fig.add_subplot(grid[0, 3:])
    names = ["AP", "AP50", "AP75"]
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, [metrics[f"bbox/{n}"] for n in names], 0.4, label="bbox")
    ax.bar(xs + 0.2, [metrics[f"segm/{n}"] for n in names], 0.4, label="segm")
    ax.set(xticks=xs, xticklabels=names, ylim=(0, 1), title="COCO metrics (held out)")
    ax.legend()
    for i in range(min(6, args.eval_images)):
        draw(
            fig.add_subplot(grid[1, i]),
            held_out["images"][i],
            detections,
            i,
            held_out["class_names"],
        )
    fig.tight_layout()
    fig.savefig(out / "street_objects.png", dpi=100)
    print(f"\nplots: {out / 'street_objects.png'}")
    result = dict(rows)
    if args.report:
        index = tfzoo.reports.detection_report(
            report_dir(out),
            held_out["images"],
            detections,
            class_names=held_out["class_names"],
            ground_truth=held_out,
            metrics=metrics,
            model=model,
            history=history,
            summary=rows,
            title="Street objects -> segmented instances: Mask R-CNN on held-out shapes",
        )
        result["report"] = announce_report(index)
    return result


if __name__ == "__main__":
    main()
