"""Every builder trains and predicts where TensorFlow is not installed (issue #13).

Run by ``scripts/fresh-env-check.sh jax|torch`` inside a fresh virtual environment that
has tfzoo with only that backend's extra; also runs on its own::

    KERAS_BACKEND=jax python scripts/fresh_env_check.py

It prints one line per builder (first and last loss of a short fit, the prediction's
shape) and exits non-zero when TensorFlow is importable, a loss does not fall, or a
prediction is not finite.
"""

import importlib.util
import sys

import numpy as np


def main():
    if importlib.util.find_spec("tensorflow") is not None:
        sys.exit("TensorFlow is installed here: this check is for an environment without it")
    import keras

    import tfzoo
    from tfzoo import models
    from tfzoo.datasets import make_shapes

    rng = np.random.default_rng(0)
    x3 = rng.standard_normal((64, 3)).astype("float32")
    series = np.sin(0.4 * (np.arange(32)[:, None] + np.arange(8)[None, :])).astype("float32")
    text = np.tile(np.array([0, 1, 2, 3, 4, 3, 2, 1]), 20)
    windows = np.stack([text[s : s + 9] for s in rng.integers(0, text.size - 9, 16)])
    pairs = np.stack([rng.integers(0, 6, 64), rng.integers(0, 5, 64)], axis=1)
    seq = rng.standard_normal((32, 6, 2)).astype("float32")
    # brightness classes: learnable from the pixels (random labels on 32 images are not)
    images = (rng.random((32, 8, 8, 1)) * rng.random((32, 1, 1, 1))).astype("float32")
    logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    cases = {
        "linear_regression": (
            models.build_linear_regression(3),
            x3,
            x3 @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3,
            "mse",
            0.1,
        ),
        "perceptron": (
            models.build_perceptron(3, hidden_units=4),
            x3,
            (x3[:, :1] + x3[:, 1:2] > 0).astype("float32"),
            "binary_crossentropy",
            0.1,
        ),
        "small_cnn": (
            models.build_small_cnn(
                (8, 8, 1), 3, filters=(4, 4, 4), kernel_sizes=(3, 3, 3), dense_units=8
            ),
            images,
            np.digitize(
                images.mean(axis=(1, 2, 3)),
                np.quantile(images.mean(axis=(1, 2, 3)), [1 / 3, 2 / 3]),
            ),
            "sparse_categorical_crossentropy",
            0.01,
        ),
        "lstm_forecaster": (
            models.build_lstm_forecaster(window=6, n_features=1, horizon=2, units=8),
            series[:, :6, None],
            series[:, 6:],
            "mse",
            0.05,
        ),
        "lstm_classifier": (
            models.build_lstm_classifier(sequence_length=6, n_features=2, num_classes=2, units=8),
            seq,
            (seq[:, :, 0].sum(axis=1) > 0).astype("int32"),
            "sparse_categorical_crossentropy",
            0.05,
        ),
        "char_rnn": (
            models.build_char_rnn(5, embedding_dim=4, units=8),
            windows[:, :-1].astype("int32"),
            windows[:, 1:].astype("int32"),
            logits,
            0.1,
        ),
        "recommender": (
            models.build_embedding_recommender(6, 5, embedding_dim=3),
            pairs.astype("int32"),
            (0.5 * pairs[:, :1] - 0.3 * pairs[:, 1:] + 1.0).astype("float32"),
            "mse",
            0.1,
        ),
    }
    failed = []
    print(f"tfzoo {tfzoo.__file__} on Keras {keras.__version__} ({keras.backend.backend()})")
    for name, (model, x, y, loss, lr) in cases.items():
        model.compile(keras.optimizers.Adam(lr), loss)
        losses = model.fit(x, y, epochs=6, batch_size=len(x), verbose=0).history["loss"]
        out = model.predict(x, verbose=0)
        ok = losses[-1] < 0.95 * losses[0] and np.isfinite(out).all()
        failed += [] if ok else [name]
        print(
            f"{name:<18} loss {losses[0]:.4f} -> {losses[-1]:.4f}  predict {out.shape}"
            f"{'' if ok else '  FAILED'}"
        )
    shapes = make_shapes(4, image_size=32, max_instances=3, seed=0)
    mask_rcnn = models.build_mask_rcnn(
        3,
        (32, 32, 3),
        fpn_filters=8,
        seed=0,
        pre_nms_top_k=200,
        post_nms_top_k=32,
        inference_post_nms_top_k=20,
        rpn_samples=64,
        num_rois=16,
        num_mask_rois=4,
        fc_units=32,
        mask_filters=16,
        mask_convs=1,
        max_detections=5,
    )
    mask_rcnn.compile(keras.optimizers.Adam(3e-3))
    targets = {k: shapes[k] for k in ("boxes", "classes", "masks")}
    losses = mask_rcnn.fit(shapes["images"], targets, batch_size=4, epochs=5, verbose=0)
    losses = losses.history["loss"]
    out = mask_rcnn.predict(shapes["images"], verbose=0)
    ok = losses[-1] < 0.95 * losses[0] and all(np.isfinite(v).all() for v in out.values())
    failed += [] if ok else ["mask_rcnn"]
    print(
        f"{'mask_rcnn':<18} loss {losses[0]:.4f} -> {losses[-1]:.4f}  masks "
        f"{out['masks'].shape}{'' if ok else '  FAILED'}"
    )
    rows = rng.standard_normal((300, 3))
    clf = tfzoo.PerceptronClassifier(random_state=0).fit(rows[:200], rows[:200, 0] > 0)
    accuracy = clf.score(rows[200:], rows[200:, 0] > 0)
    failed += [] if accuracy > 0.9 else ["PerceptronClassifier"]
    print(f"{'PerceptronClassifier':<18} held-out accuracy {accuracy:.3f}")
    if "tensorflow" in sys.modules:
        failed.append("tensorflow was imported")
    if failed:
        sys.exit(f"FAILED: {failed}")
    print("OK: every builder trained (loss fell) and predicted; TensorFlow is not installed")


if __name__ == "__main__":
    main()
