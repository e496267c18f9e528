"""Fit and predict times: tfzoo estimators vs plain Keras, keras.wrappers, scikeras.

Everything is measured in one run of this script, on the same data and the
same network (the seed's perceptron, 32 hidden tanh units), so the ratios
hold even on a shared, noisy machine:

* fit: 20 epochs on 2,000 x 20 rows, batch 32 (median of ``--repeats`` fits, after one
  untimed fit of each contender; the contenders' timed fits interleaved);
* predict, 1 row: median of 200 calls back to back, and median of 50 calls each after a
  2 ms pause (a lone call: cold caches and, on a VM, halted vCPUs; on this project's VMs
  tfzoo's took about 0.05 ms on JAX with either JAX CPU dispatch mode, against 0.01
  back to back);
* predict, 10,000 rows: median of 5 calls;
* partial_fit: the mean time of a 50-row ``partial_fit`` call in a stream
  (20 passes over 500 rows, the first two calls, which build and trace, left
  out) against the time of one 50-row batch inside ``fit`` on the same data
  (the same estimator, its epochs after the first), and their ratio.

    python benchmarks/estimators.py            # about 3 minutes on 2 CPU cores
    python benchmarks/estimators.py --quick    # a few seconds, for a smoke test
    python benchmarks/estimators.py --partial-fit-only   # the partial_fit row alone
    python benchmarks/estimators.py --backend jax        # on one Keras backend
    python benchmarks/estimators.py --backend all        # each backend in turn, one table

With ``--backend all`` the script runs itself once per backend (a child
process each: Keras's backend is fixed when it is imported) and ends with
one table of the three: tfzoo's fit, its 1-row predict against
``keras.wrappers``' on the same backend, and the 10,000-row predict.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _backends import add_backend_arguments, run_each_backend, select_backend  # noqa: E402

select_backend()  # before keras is imported

#: ``--jax-sync-dispatch``: JAX runs each small CPU computation on the calling thread
#: (``jax_cpu_enable_async_dispatch=False``, set before JAX starts its CPU client; its
#: environment variable is not read) instead of handing it to a worker thread and waiting.
#: It applies to every contender alike. tfzoo's own prediction polls a small result
#: instead of sleeping on it (``tfzoo.estimators._runtime.SPIN_MAX_VALUES``), which
#: saves one of the two thread wake-ups; this flag removes both.
SYNC_DISPATCH = "--jax-sync-dispatch" in sys.argv[1:]
if SYNC_DISPATCH and os.environ.get("KERAS_BACKEND") == "jax":
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", False)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402

import tfzoo  # noqa: E402
from tfzoo.models import build_perceptron  # noqa: E402

HIDDEN = 32
_DEVNULL = open(os.devnull, "w")  # noqa: SIM115 (for the whole run)


#: The pause before each timed call of the "after a pause" 1-row column, in seconds.
PAUSE_S = 0.002


def _median_time(fn, repeats, pause=0.0):
    """The median time of ``repeats`` calls of ``fn``, each after ``pause`` seconds' sleep."""
    times = []
    for _ in range(repeats):
        if pause:
            time.sleep(pause)
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _plain_keras(task, n_features, epochs, batch_size):
    """The same model trained the plain Keras way (model.fit / model.predict)."""

    class Plain:
        def fit(self, X, y):
            out = "sigmoid" if task == "classification" else "linear"
            self.model = build_perceptron(n_features, HIDDEN, output_activation=out)
            loss = "binary_crossentropy" if task == "classification" else "mse"
            self.model.compile(keras.optimizers.Adam(0.01), loss)
            self.model.fit(X, y, epochs=epochs, batch_size=batch_size, verbose=0)
            return self

        def predict(self, X):
            return self.model.predict(X, verbose=0)

    return Plain()


def _keras_wrapper(task, epochs, batch_size):
    from keras.wrappers import SKLearnClassifier, SKLearnRegressor

    def build(X, y):
        # keras.wrappers one-hot encodes classes: two softmax units for two classes.
        n_out = y.shape[1] if y.ndim > 1 else 1
        out = "softmax" if task == "classification" else "linear"
        model = build_perceptron(X.shape[1], HIDDEN, output_activation=out, n_outputs=n_out)
        loss = "categorical_crossentropy" if task == "classification" else "mse"
        model.compile(keras.optimizers.Adam(0.01), loss)
        return model

    base = SKLearnClassifier if task == "classification" else SKLearnRegressor

    class Quiet(base):
        # Its predict calls model.predict with Keras's default progress bar, which
        # keras.config.disable_interactive_logging() does not stop on Keras 3.15:
        # written to os.devnull here, so that the table stays readable (a few
        # microseconds of a call that takes about a millisecond).
        def predict(self, X):
            with contextlib.redirect_stdout(_DEVNULL):
                return super().predict(X)

    return Quiet(model=build, fit_kwargs={"epochs": epochs, "batch_size": batch_size, "verbose": 0})


def _scikeras(task, n_features, epochs, batch_size):
    try:
        from scikeras.wrappers import KerasClassifier, KerasRegressor
    except ImportError:
        return None

    def build():
        out = "sigmoid" if task == "classification" else "linear"
        return build_perceptron(n_features, HIDDEN, output_activation=out)

    cls = KerasClassifier if task == "classification" else KerasRegressor
    loss = "binary_crossentropy" if task == "classification" else "mse"
    return cls(
        model=build,
        loss=loss,
        optimizer=keras.optimizers.Adam,
        optimizer__learning_rate=0.01,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
    )


def _tfzoo(task, epochs, batch_size):
    cls = tfzoo.PerceptronClassifier if task == "classification" else tfzoo.PerceptronRegressor
    return cls(hidden_units=HIDDEN, epochs=epochs, batch_size=batch_size, learning_rate=0.01)


def run(
    task, n_rows, n_features, epochs, batch_size, repeats, one_row_calls, big_rows, paused_calls
):
    if task == "classification":
        X, y = make_classification(n_rows, n_features, random_state=0)
    else:
        X, y = make_regression(n_rows, n_features, noise=1.0, random_state=0)
        y = (y - y.mean()) / y.std()
    X = X.astype(np.float32)
    X_big = np.random.default_rng(0).standard_normal((big_rows, n_features)).astype(np.float32)
    x_one = X[:1]
    contenders = {
        "tfzoo": lambda: _tfzoo(task, epochs, batch_size),
        "plain Keras": lambda: _plain_keras(task, n_features, epochs, batch_size),
        "keras.wrappers": lambda: _keras_wrapper(task, epochs, batch_size),
        "scikeras": lambda: _scikeras(task, n_features, epochs, batch_size),
    }
    contenders = {name: make for name, make in contenders.items() if make() is not None}
    # One untimed fit each first: the process's first fit pays one-time costs (the
    # backend's first compilations), which the contender timed first would carry.
    fitted = {name: make().fit(X, y) for name, make in contenders.items()}
    # Then the timed fits, interleaved (one of each contender per round), so that a
    # drift of the machine's speed during the run falls on every contender alike.
    fit_times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, make in contenders.items():
            start = time.perf_counter()
            fitted[name] = make().fit(X, y)
            fit_times[name].append(time.perf_counter() - start)
    results = {}
    for name in contenders:
        fit_s = statistics.median(fit_times[name])
        est = fitted[name]
        est.predict(x_one)  # warm-up (traces compiled functions)
        one_s = _median_time(lambda est=est: est.predict(x_one), one_row_calls)
        paused_s = _median_time(lambda est=est: est.predict(x_one), paused_calls, PAUSE_S)
        big_s = _median_time(lambda est=est: est.predict(X_big), 5)
        results[name] = (fit_s, one_s, big_s, paused_s)
    return results


class _EpochClock(keras.callbacks.Callback):
    """Wall time from the start of the second epoch to the end of training."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.elapsed = time.perf_counter() - self.start


def run_partial_fit(n_rows, n_features, passes, batch_size=50):
    """Seconds per ``partial_fit`` call of ``batch_size`` rows, and per batch inside ``fit``."""
    X, y = make_classification(n_rows, n_features, random_state=0)
    X = X.astype(np.float32)

    def make(**kwargs):
        return tfzoo.PerceptronClassifier(
            hidden_units=HIDDEN, batch_size=batch_size, learning_rate=0.01, random_state=0, **kwargs
        )

    clock = _EpochClock()
    make(epochs=passes, callbacks=[clock]).fit(X, y)
    batches = -(-n_rows // batch_size)
    fit_batch_s = clock.elapsed / ((passes - 1) * batches)

    est = make()
    chunks = [slice(i, i + batch_size) for i in range(0, n_rows, batch_size)]
    est.partial_fit(X[chunks[0]], y[chunks[0]], classes=[0, 1])  # builds the model
    est.partial_fit(X[chunks[1]], y[chunks[1]])
    stream = (chunks * passes)[2:]
    start = time.perf_counter()
    for rows in stream:
        est.partial_fit(X[rows], y[rows])
    call_s = (time.perf_counter() - start) / len(stream)
    return call_s, fit_batch_s, len(stream)


def print_partial_fit(call_s, fit_batch_s, calls, batch_size=50):
    print(
        f"\npartial_fit: {calls} calls of {batch_size} rows (tfzoo PerceptronClassifier, "
        f"{HIDDEN} hidden units)"
    )
    print(f"{'per partial_fit call ms':<34}{call_s * 1e3:>9.2f}")
    print(f"{'per batch inside fit ms':<34}{fit_batch_s * 1e3:>9.2f}")
    print(f"target: partial_fit call / fit batch {call_s / fit_batch_s:.1f}x (<= 10x)")


def print_table(task, results, n_rows, n_features, epochs, batch_size, big_rows):
    base = results["tfzoo"]
    print(
        f"\n{task}: fit {epochs} epochs on {n_rows}x{n_features} (batch {batch_size}); "
        f"predict 1 row and {big_rows:,} rows"
    )
    header = (
        f"{'estimator':<16}{'fit s':>9}{'vs tfzoo':>10}{'1-row ms':>11}"
        f"{'tfzoo faster':>14}{f'{big_rows} rows ms':>16}{'vs tfzoo':>10}"
        f"{'1-row ms, paused':>18}{'tfzoo faster':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, (fit_s, one_s, big_s, paused_s) in results.items():
        print(
            f"{name:<16}{fit_s:>9.2f}{fit_s / base[0]:>9.2f}x{one_s * 1e3:>11.2f}"
            f"{one_s / base[1]:>13.1f}x{big_s * 1e3:>16.1f}{big_s / base[2]:>9.2f}x"
            f"{paused_s * 1e3:>18.2f}{paused_s / base[3]:>13.1f}x"
        )
    plain = results["plain Keras"]
    wrappers = results["keras.wrappers"]
    print(
        f"targets: 1-row predict vs keras.wrappers {wrappers[1] / base[1]:.1f}x faster "
        f"(>= 30x); {big_rows}-row predict tfzoo/model.predict {base[2] / plain[2]:.2f} "
        f"(<= 1); fit tfzoo/plain Keras {base[0] / plain[0]:.3f} (<= 1.05); "
        f"1-row predict after a {PAUSE_S * 1e3:g} ms pause vs keras.wrappers "
        f"{wrappers[3] / base[3]:.1f}x faster"
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--repeats", type=int, default=3, help="fits per contender")
    p.add_argument("--partial-fit-only", action="store_true", help="only the partial_fit row")
    p.add_argument(
        "--jax-sync-dispatch",
        action="store_true",
        help="on JAX, run small CPU computations on the calling thread (every contender)",
    )
    add_backend_arguments(p)
    args = p.parse_args(argv)
    if args.backend == "all":
        seen = run_each_backend(__file__, sys.argv[1:] if argv is None else argv, args.json)
        print_backends_table(seen)
        return seen
    warnings.filterwarnings("ignore")
    # keras.wrappers' predict prints a progress bar per call; silence it so
    # that the comparison measures prediction, not terminal output.
    keras.config.disable_interactive_logging()
    if args.quick:
        sizes = dict(
            n_rows=200,
            n_features=20,
            epochs=2,
            batch_size=32,
            repeats=1,
            one_row_calls=5,
            big_rows=1000,
            paused_calls=3,
        )
        stream = dict(n_rows=200, n_features=20, passes=2)
    else:
        sizes = dict(
            n_rows=2000,
            n_features=20,
            epochs=20,
            batch_size=32,
            repeats=args.repeats,
            one_row_calls=200,
            big_rows=10000,
            paused_calls=50,
        )
        stream = dict(n_rows=500, n_features=20, passes=20)
    dispatch = ""
    if keras.backend.backend() == "jax":
        import jax

        sync = not jax.config.values["jax_cpu_enable_async_dispatch"]
        dispatch = f", JAX CPU dispatch {'synchronous' if sync else 'asynchronous (default)'}"
    print(f"keras {keras.__version__}, tfzoo {tfzoo.__version__}{dispatch}")
    all_results = {}
    for task in () if args.partial_fit_only else ("regression", "classification"):
        results = run(task, **sizes)
        print_table(
            task,
            results,
            sizes["n_rows"],
            sizes["n_features"],
            sizes["epochs"],
            sizes["batch_size"],
            sizes["big_rows"],
        )
        all_results[task] = results
    all_results["partial_fit"] = run_partial_fit(**stream)
    print_partial_fit(*all_results["partial_fit"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": keras.backend.backend(), **all_results}, f)
    return all_results


def print_backends_table(seen):
    print("\nthree backends, one run (tfzoo PerceptronRegressor/Classifier; ratios in-run)")
    header = (
        f"{'backend':<12}{'task':<16}{'fit s':>8}{'plain fit s':>13}{'1-row ms':>10}"
        f"{'wrappers ms':>13}{'faster':>9}{'10k rows ms':>13}{'partial_fit ms':>16}"
    )
    print(header)
    print("-" * len(header))
    for backend, results in seen.items():
        pf = results.get("partial_fit")
        for task in ("regression", "classification"):
            if task not in results:
                continue
            r = results[task]
            fit_s, one_s, big_s = r["tfzoo"][:3]
            wrap_one = r["keras.wrappers"][1]
            print(
                f"{backend:<12}{task:<16}{fit_s:>8.2f}{r['plain Keras'][0]:>13.2f}"
                f"{one_s * 1e3:>10.2f}{wrap_one * 1e3:>13.2f}{wrap_one / one_s:>8.1f}x"
                f"{big_s * 1e3:>13.1f}{pf[0] * 1e3 if pf else float('nan'):>16.2f}"
            )


if __name__ == "__main__":
    main()
