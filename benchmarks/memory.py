"""Resident memory growth per fit: a tfzoo estimator vs a plain Keras fit loop.

A grid search or a cross-validation fits the same small model many times in
one process. This measures, in one run, how much the process's resident set
(RSS, ``/proc/self/statm``) grows per fit after a warm-up, for:

* ``keras``: a plain Keras loop: build the same perceptron with
  ``keras.Sequential``, compile, ``fit``, ``predict``, drop it;
* ``tfzoo clone``: what a grid search does: ``clone`` a
  :class:`tfzoo.PerceptronClassifier`, ``fit``, ``predict``, drop it;
* ``tfzoo refit``: one estimator fitted again and again (``fit`` replaces
  its model).

Each loop runs ``--warmup`` fits first (tracing, allocator pools), then
``--fits`` measured ones; the figure is the least-squares slope of RSS over
the measured fits, in MB per fit, and the projection to 1,000 fits.

    python benchmarks/memory.py                # 30 fits per loop, a few minutes on 2 cores
    python benchmarks/memory.py --fits 5 --warmup 2 --epochs 1   # seconds, smoke test

Memory is what is measured, not time: other processes on the machine do not
change the figures much, but each loop's figure depends on the loops before
it (allocator pools are shared), so compare loops of one run.
"""

from __future__ import annotations

import argparse
import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

from tfzoo import PerceptronClassifier  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb():
    """This process's resident set size in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def keras_fit(X, y, epochs, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(2, activation="tanh"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    model.fit(X, y, epochs=epochs, batch_size=32, verbose=0)
    model.predict(X, verbose=0)


def measure(step, fits, warmup):
    """RSS after each of ``warmup + fits`` calls of ``step(i)``; slope over the last ``fits``."""
    for i in range(warmup):
        step(i)
    gc.collect()
    start = rss_mb()
    rss = [start]
    for i in range(warmup, warmup + fits):
        step(i)
        gc.collect()
        rss.append(rss_mb())
    slope = float(np.polyfit(np.arange(len(rss)), rss, 1)[0])
    return {"start": start, "end": rss[-1], "per_fit": slope}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", type=int, default=30, help="measured fits per loop")
    parser.add_argument("--warmup", type=int, default=5, help="fits before measuring")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fit")
    parser.add_argument("--rows", type=int, default=300, help="training rows")
    args = parser.parse_args(argv)

    X, y = make_classification(n_samples=args.rows, n_features=10, random_state=0)
    X = X.astype(np.float32)
    base = PerceptronClassifier(epochs=args.epochs, random_state=0)
    refit = clone(base)

    def tfzoo_clone(i):
        clone(base).set_params(random_state=i).fit(X, y).predict(X)

    def tfzoo_refit(i):
        refit.set_params(random_state=i).fit(X, y).predict(X)

    loops = {
        "keras": lambda i: keras_fit(X, y, args.epochs, i),
        "tfzoo clone": tfzoo_clone,
        "tfzoo refit": tfzoo_refit,
    }
    print(
        f"RSS per fit over {args.fits} fits after {args.warmup} warm-up fits "
        f"({args.rows} rows, {args.epochs} epochs; RSS at start {rss_mb():.0f} MB)"
    )
    print(f"{'loop':<12} {'RSS before':>11} {'RSS after':>10} {'MB/fit':>7} {'1,000 fits':>11}")
    for name, step in loops.items():
        r = measure(step, args.fits, args.warmup)
        print(
            f"{name:<12} {r['start']:>8.0f} MB {r['end']:>7.0f} MB {r['per_fit']:>7.2f} "
            f"{r['per_fit'] * 1000 / 1024:>8.2f} GB"
        )


if __name__ == "__main__":
    main()
