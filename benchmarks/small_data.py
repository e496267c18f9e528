"""Estimator defaults on small data: accuracy and fit time, old defaults vs new.

Issue #14 item 6. ``CNNClassifier()`` used to train 10 epochs at batch 128
without dropout (chosen for MNIST's 60,000 images); on small data sets that is
too few steps, and more epochs alone overfit. The defaults are now
``epochs="auto"`` (about 2,000 steps, at least 10 epochs) and ``dropout=0.4``.
``TextGenerator()`` picks its LSTM width from the text's length
(``units="auto"``) and trains about 1,000 steps (``epochs="auto"``). This
script fits both settings on the same data in one run and prints one table:

* scikit-learn's digits (1,797 8x8 images; 75/25 stratified splits, ``--splits`` seeds);
* MNIST 8,000 / 2,000 from ``--mnist-dir`` (the 10,000 t10k images split with
  seed 0, as ``tfzoo.datasets.load_mnist`` does), skipped when absent;
* a 40,000-character text from ``--text`` (tiny Shakespeare's first 40,000
  characters; held-out bits per character of the last 10 %), skipped when absent.

    python benchmarks/small_data.py --mnist-dir ../shared/data/mnist \\
        --text ../shared/data/tinyshakespeare/input.txt        # ~15 min on 2 cores
    python benchmarks/small_data.py --quick                     # seconds (smoke)
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import tfzoo  # noqa: E402

OLD_CNN = dict(epochs=10, dropout=0.0, learning_rate=0.002, lr_schedule="constant")
OLD_TEXT = dict(units=384, epochs=10)


def _fit_score(est, X_tr, y_tr, X_te, y_te):
    start = time.perf_counter()
    est.fit(X_tr, y_tr)
    return est.score(X_te, y_te), time.perf_counter() - start, est


def cnn_rows(name, splits, quick):
    rows = []
    for label, params in (("old defaults (10 ep., no dropout, 2e-3)", OLD_CNN), ("defaults", {})):
        if quick:
            params = {**params, "epochs": 1, "filters": (2, 2, 2), "dense_units": 4}
        accs, times, epochs = [], [], []
        for X_tr, X_te, y_tr, y_te, seed in splits:
            acc, secs, est = _fit_score(
                tfzoo.CNNClassifier(random_state=seed, **params), X_tr, y_tr, X_te, y_te
            )
            accs.append(acc)
            times.append(secs)
            epochs.append(est.n_iter_)
        rows.append(
            (
                name,
                label,
                f"{np.mean(accs):.4f} (min {np.min(accs):.4f}, n={len(accs)})",
                f"{np.mean(times):.1f} s",
                f"{int(np.mean(epochs))} epochs",
            )
        )
    return rows


def digits_splits(n, quick):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8)
    if quick:
        X, y = X[:200], y[:200]
    return [
        (*train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y), seed)
        for seed in range(n)
    ]


def mnist_splits(directory, n):
    (x_tr, y_tr), (x_te, y_te) = tfzoo.datasets.load_mnist(directory)
    return [(x_tr, x_te, y_tr, y_te, seed) for seed in range(n)]


def text_rows(path, length, quick):
    text = open(path, encoding="utf-8").read()[:length]
    rows = []
    for label, params in (("old defaults (LSTM 384, 10 epochs)", OLD_TEXT), ("defaults", {})):
        if quick:
            params = {**params, "epochs": 1}
        start = time.perf_counter()
        gen = tfzoo.TextGenerator(random_state=0, **params).fit(text)
        secs = time.perf_counter() - start
        bpc = gen.bits_per_character(gen.held_out_text(text))
        rows.append(
            (
                f"text, {len(text):,} chars",
                label,
                f"{bpc:.3f} bits/char held out",
                f"{secs:.1f} s",
                f"LSTM {gen.units_}, {gen.n_iter_} epochs",
            )
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=3, help="digits splits (seeds)")
    parser.add_argument("--mnist-seeds", type=int, default=2)
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--text", default=None)
    parser.add_argument("--text-chars", type=int, default=40_000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--parts", default="cnn,text", help="comma list of: cnn, text")
    args = parser.parse_args(argv)

    parts = set(args.parts.split(","))
    rows = []
    if "cnn" in parts:
        rows += cnn_rows(
            "digits 8x8 (1,347 / 450)", digits_splits(args.splits, args.quick), args.quick
        )
    if "cnn" in parts and args.mnist_dir and os.path.isdir(args.mnist_dir):
        rows += cnn_rows(
            "MNIST 8,000 / 2,000", mnist_splits(args.mnist_dir, args.mnist_seeds), args.quick
        )
    if "text" in parts and args.text and os.path.exists(args.text):
        rows += text_rows(args.text, args.text_chars, args.quick)

    header = ("data", "settings", "accuracy / loss", "fit time", "trained")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return rows


if __name__ == "__main__":
    main()
