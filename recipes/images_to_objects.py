"""Images -> objects: the seed's small CNN on digits.

Offline by default (scikit-learn's 8x8 digits); ``--data-dir`` reads MNIST IDX
files (e.g. ``../shared/data/mnist``: 10,000 images split 8,000 / 2,000),
and ``--mnist-online`` downloads the full MNIST through Keras.

    python recipes/images_to_objects.py
    python recipes/images_to_objects.py --data-dir ../shared/data/mnist --epochs 15
"""

from __future__ import annotations

import sys
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

# --smoke: enough epochs that the model beats its baseline (tests/test_recipes.py).
SMOKE_EPOCHS = 10


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=30, report=True)
    p.add_argument("--data-dir", default=None, help="folder with MNIST IDX files")
    p.add_argument("--mnist-online", action="store_true", help="download MNIST (Keras)")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)
    plt = use_agg_backend()
    from sklearn.metrics import ConfusionMatrixDisplay
    from sklearn.model_selection import train_test_split

    import tfzoo

    out = output_dir(args, "images_to_objects")
    if args.data_dir or args.mnist_online:
        (x_tr, y_tr), (x_te, y_te) = tfzoo.datasets.load_mnist(args.data_dir, seed=args.seed)
        x_tr, x_te = x_tr.astype("float32") / 255.0, x_te.astype("float32") / 255.0
        source = f"MNIST ({args.data_dir or 'keras.datasets'})"
    else:
        images, labels = tfzoo.datasets.load_digits_images()
        x_tr, x_te, y_tr, y_te = train_test_split(
            images, labels, test_size=0.25, random_state=args.seed, stratify=labels
        )
        source = "scikit-learn digits (8x8, bundled)"
    if args.smoke:
        x_tr, y_tr, x_te, y_te = x_tr[:300], y_tr[:300], x_te[:100], y_te[:100]
    clf = tfzoo.CNNClassifier(
        epochs=SMOKE_EPOCHS if args.smoke else args.epochs,
        batch_size=args.batch_size,
        random_state=args.seed,
        strategy=args.strategy,
        tensorboard_dir=args.logdir,
    )
    with Timer() as t:
        clf.fit(x_tr, y_tr)
    accuracy = clf.score(x_te, y_te)
    rows = [
        ("data", source),
        ("train / test images", f"{len(x_tr)} / {len(x_te)}"),
        ("image shape", str(clf.image_shape_)),
        ("parameters", clf.model_.count_params()),
        ("test accuracy", accuracy),
        ("training time", f"{t.seconds:.1f} s"),
    ]
    print_table("images -> objects (small CNN)", rows)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    axes[0].plot(clf.history_["loss"], label="training loss")
    axes[0].set(title="Training curve", xlabel="epoch", ylabel="cross-entropy")
    ConfusionMatrixDisplay.from_predictions(y_te, clf.predict(x_te), ax=axes[1], colorbar=False)
    axes[1].set_title(f"Confusion matrix (accuracy {accuracy:.3f})")
    proba = clf.predict_proba(x_te[:16])
    h, w, _ = clf.image_shape_
    tiles = np.asarray(x_te[:16]).reshape(16, h, w, -1)[..., 0]
    grid = np.concatenate(
        [np.concatenate(list(tiles[r * 4 : r * 4 + 4]), axis=1) for r in range(4)]
    )
    axes[2].imshow(grid, cmap="gray")
    axes[2].set_title("predicted: " + " ".join(str(c) for c in clf.classes_[proba.argmax(1)]))
    axes[2].axis("off")
    fig.tight_layout()
    fig.savefig(out / "images_to_objects.png", dpi=100)
    print(f"\nplots: {out / 'images_to_objects.png'}")
    result = dict(rows)
    if args.report:
        proba = clf.predict_proba(x_te)
        index = tfzoo.reports.classification_report(
            report_dir(out),
            y_te,
            clf.classes_[proba.argmax(1)],
            proba=proba,
            images=np.asarray(x_te).reshape(len(x_te), h, w, -1),
            model=clf,
            summary=rows,
            title="Images -> objects: the small CNN on held-out images",
        )
        result["report"] = announce_report(index)
    return result


if __name__ == "__main__":
    main()
