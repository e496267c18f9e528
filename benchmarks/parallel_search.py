"""Parallel search: ``GridSearchCV`` with ``n_jobs=1`` vs ``n_jobs=2``, and tuner strategies.

Measured in one run of this script, on the same data:

* grid: ``GridSearchCV`` over ``--candidates`` perceptron widths x ``--folds``
  folds of a ``KerasClassifier`` (the seed's perceptron) on 2,000 x 20 rows,
  ``--epochs`` epochs at batch 32, with ``n_jobs=1`` and then ``n_jobs=2``
  (joblib's loky processes). ``n_jobs=2`` is timed twice: the first search
  starts the worker processes (each imports TensorFlow), the second reuses
  them;
* readme: the README's search as written (a scaled ``PerceptronClassifier``
  pipeline over 3 widths, 5 folds of the pathology data, 200 epochs), with
  ``n_jobs=1`` and ``n_jobs=2`` (workers started by that search);
* tuner: ``make_tuner(..., strategy=s)`` random search, 3 trials of the
  perceptron hypermodel, for ``s`` in ``None``, ``"auto"`` and ``"mirrored"``.

    python benchmarks/parallel_search.py            # about 2 minutes on 2 CPU cores
    python benchmarks/parallel_search.py --quick    # a few seconds, for a smoke test
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import tfzoo  # noqa: E402
from tfzoo.models import build_perceptron  # noqa: E402


def _data(n_rows, n_features):
    X, y = make_classification(n_rows, n_features, n_informative=8, random_state=0)
    return X.astype(np.float32), y


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def grid(n_rows, n_features, candidates, folds, epochs):
    X, y = _data(n_rows, n_features)
    clf = tfzoo.KerasClassifier(
        model=build_perceptron, model_kwargs={"hidden_units": 8}, epochs=epochs, random_state=0
    )
    params = {"model__hidden_units": [4 * (i + 1) for i in range(candidates)]}

    def search(n_jobs):
        return lambda: GridSearchCV(clf, params, cv=folds, n_jobs=n_jobs).fit(X, y)

    rows = [("n_jobs=1", _timed(search(1)))]
    rows.append(("n_jobs=2 (starts workers)", _timed(search(2))))
    rows.append(("n_jobs=2 (workers reused)", _timed(search(2))))
    return rows


def readme():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = tfzoo.datasets.load_pathology()
    pipe = make_pipeline(StandardScaler(), tfzoo.PerceptronClassifier(random_state=0))
    params = {"perceptronclassifier__hidden_units": [2, 4, 8]}
    # Only the first n_jobs=2 search starts its workers: time it first, as a
    # user running the README does.
    rows = [
        (
            "n_jobs=2 (starts workers)",
            _timed(lambda: GridSearchCV(pipe, params, n_jobs=2).fit(X, y)),
        )
    ]
    rows.insert(0, ("n_jobs=1", _timed(lambda: GridSearchCV(pipe, params, n_jobs=1).fit(X, y))))
    return rows


def tuner(n_rows, n_features, epochs):
    from tfzoo.tuning import PerceptronHyperModel, make_tuner

    X, y = _data(n_rows, n_features)
    rows = []
    for strategy in (None, "auto", "mirrored"):
        with tempfile.TemporaryDirectory() as directory:
            t = make_tuner(
                PerceptronHyperModel(n_features),
                "random",
                max_trials=3,
                strategy=strategy,
                directory=directory,
                seed=0,
            )
            name = type(t.distribution_strategy).__name__ if t.distribution_strategy else "none"
            seconds = _timed(
                lambda t=t: t.search(X, y, epochs=epochs, validation_split=0.2, verbose=0)
            )
            rows.append((f"strategy={strategy!r} ({name})", seconds))
    return rows


def print_table(title, rows):
    base = rows[0][1]
    print(f"\n{title}")
    print(f"{'':40s} {'seconds':>8s} {'ratio':>6s}")
    for name, seconds in rows:
        print(f"{name:40s} {seconds:8.2f} {seconds / base:6.2f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument(
        "--sections", default="grid,readme,tuner", help="comma-separated: grid, readme, tuner"
    )
    args = p.parse_args(argv)
    n_rows, epochs = (300, 2) if args.quick else (2000, args.epochs)
    print(f"{os.cpu_count()} CPUs; {n_rows} x 20 rows, {epochs} epochs, batch 32")
    sections = args.sections.split(",")
    if "grid" in sections:
        print_table(
            f"GridSearchCV, {args.candidates} candidates x {args.folds} folds",
            grid(n_rows, 20, args.candidates, args.folds, epochs),
        )
    if "readme" in sections and not args.quick:
        print_table("README: GridSearchCV(pipe, 3 widths, cv=5), 200 epochs", readme())
    if "tuner" in sections:
        print_table("make_tuner random search, 3 trials", tuner(n_rows, 20, epochs))


if __name__ == "__main__":
    main()
