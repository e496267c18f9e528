"""Street objects -> segmented instances: Mask R-CNN trained on generated shapes.

Data: tfzoo.datasets.make_shapes, GENERATED images of squares, circles and
triangles on random backgrounds (later shapes occlude earlier ones); see
datasets/shapes.md. This recipe writes them as a COCO folder
(tfzoo.datasets.export_coco: DATA_DIR/train, --train-images of them,
epochs x steps x batch by default so that every step sees new images, and
DATA_DIR/val, --eval-images held out with seed --eval-seed) and runs
recipes/instance_segmentation.py on it: training streams from disk, the
held-out set is scored with COCO's evaluator (pycocotools: bbox and segm AP,
AP50, AP75) against its annotation file. The folder is written once per set
of parameters and reused (DATA_DIR/params.json).

    python recipes/street_objects.py       # quick: 64 px, 400 steps, about 5 min on 2 CPU cores
    python recipes/street_objects.py --image-size 128 --epochs 26 --steps-per-epoch 100
                                           # the 30-minute run at 128 px (2,600 steps)
    python recipes/street_objects.py --from-arrays   # the same images, trained from arrays
    python recipes/street_objects.py --smoke   # seconds
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import default_onednn, parser  # noqa: E402

default_onednn()  # oneDNN convolutions, before TensorFlow is imported

import numpy as np  # noqa: E402

MAX_INSTANCES = 4


def generate(n, image_size, seed, chunk=256):
    """``make_shapes`` data of ``n`` images as uint8 pixels (what the PNG files hold), made in
    chunks of 256 with the seeds of the recipe's former training stream."""
    from tfzoo.datasets import make_shapes

    parts = []
    for i in range(-(-n // chunk)):
        data = make_shapes(chunk, image_size, MAX_INSTANCES, seed=1_000_003 * (seed + 1) + i)
        data["images"] = np.round(data["images"] * 255).astype(np.uint8)
        parts.append(data)
    keys = ("images", "boxes", "classes", "masks", "num_instances")
    out = {k: np.concatenate([p[k] for p in parts])[:n] for k in keys}
    out["class_names"] = parts[0]["class_names"]
    return out


def coco_folder(directory, params):
    """Write (or reuse) the generated train/val COCO folder for ``params``."""
    from tfzoo.datasets import export_coco, make_shapes

    directory = Path(directory)
    stamp = directory / "params.json"
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        print(f"data: reusing the COCO folder {directory} ({params})")
        return directory
    for part in ("train", "val"):
        shutil.rmtree(directory / part, ignore_errors=True)
    if stamp.exists():
        stamp.unlink()
    size = params["image_size"]
    train = generate(params["train_images"], size, params["seed"])
    export_coco(train, directory / "train", mask_format=params["mask_format"])
    val = make_shapes(params["eval_images"], size, MAX_INSTANCES, seed=params["eval_seed"])
    export_coco(val, directory / "val", mask_format=params["mask_format"])
    stamp.write_text(json.dumps(params))  # last: a half-written folder is made again
    print(f"data: wrote the COCO folder {directory} ({params})")
    return directory


def arrays(directory, params):
    """The training images and targets as arrays (the same pixels as the folder's PNGs)."""
    data = generate(params["train_images"], params["image_size"], params["seed"])
    targets = {k: data[k] for k in ("boxes", "classes", "masks")}
    return data["images"], targets


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=5, report=True)
    p.add_argument("--steps-per-epoch", type=int, default=80)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    p.add_argument("--train-images", type=int, default=None, help="default: epochs x steps x batch")
    p.add_argument("--eval-images", type=int, default=500)
    p.add_argument("--eval-seed", type=int, default=2026)
    p.add_argument("--image-size", type=int, default=64, help="image side (pixels)")
    p.add_argument("--mask-format", choices=("polygon", "rle"), default="polygon")
    p.add_argument(
        "--data-dir", default=None, help="the COCO folder (default OUT/street_objects/coco)"
    )
    p.add_argument(
        "--from-arrays",
        action="store_true",
        help="train on the same images as in-memory arrays instead of the folder (a comparison)",
    )
    p.add_argument("--no-jit", action="store_true", help="do not compile with XLA")
    p.add_argument("--save", default=None, help="save the trained model (.keras) here")
    p.add_argument(
        "--load", default=None, help="evaluate a saved model (.keras) instead of training"
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs, args.steps_per_epoch, args.batch_size = 2, 4, 2
        args.eval_images, args.image_size = 8, 64
    train_images = args.train_images or args.epochs * args.steps_per_epoch * args.batch_size
    params = {
        "image_size": args.image_size,
        "train_images": train_images,
        "seed": args.seed,
        "eval_images": args.eval_images,
        "eval_seed": args.eval_seed,
        "mask_format": args.mask_format,
    }
    directory = Path(args.data_dir or Path(args.out) / "street_objects" / "coco")
    coco_folder(directory, params)

    import instance_segmentation

    forward = [
        "--coco-dir", str(directory),
        "--name", "street_objects",
        "--title", "street objects -> segmented instances (Mask R-CNN on shapes)",
        "--image-size", str(args.image_size),
        "--epochs", str(args.epochs),
        "--steps-per-epoch", str(args.steps_per_epoch),
        "--batch-size", str(args.batch_size),
        "--learning-rate", str(args.learning_rate),
        "--minutes", str(args.minutes),
        "--max-instances", str(MAX_INSTANCES),
        "--max-detections", "16",
        # the generated images are independent draws already; one pass in file order, as the
        # former stream
        "--no-shuffle",
        "--strategy", args.strategy,
        "--out", args.out,
        "--seed", str(args.seed),
        "--report" if args.report else "--no-report",
    ]  # fmt: skip
    for flag, value in (
        ("--precision", args.precision),
        ("--logdir", args.logdir),
        ("--save", args.save),
        ("--load", args.load),
    ):
        if value is not None:
            forward += [flag, value]
    forward += ["--smoke"] * args.smoke + ["--no-jit"] * args.no_jit
    rows = [("data", "generated shapes (make_shapes), 3 classes")]
    train = arrays(directory, params) if args.from_arrays else None
    return instance_segmentation.main(forward, train_arrays=train, data_rows=rows)


if __name__ == "__main__":
    main()
