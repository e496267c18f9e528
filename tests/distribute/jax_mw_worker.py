"""A process of ``tests/distribute/test_jax_multiworker.py``: ``strategy="multiworker"`` on JAX.

    python -m tests.distribute.jax_mw_worker train OUT_DIR BACKUP_DIR
    python -m tests.distribute.jax_mw_worker resume OUT_DIR BACKUP_DIR
    python -m tests.distribute.jax_mw_worker reference OUT_DIR

With ``KERAS_BACKEND=jax`` and ``JAX_PLATFORMS=cpu``. ``train`` and ``resume``
run as one of the processes of a cluster that ``KERAS_DISTRIBUTION_*``
describes: ``train`` fits an estimator and ``tfzoo.distribute.fit`` with
``strategy="multiworker"``, then starts the fault-tolerance run
(:func:`ft_fit`, with tfzoo's ``BackupAndRestore`` in ``BACKUP_DIR``); with
``JAX_MW_DIE_AT=N`` the process SIGKILLs itself at the end of epoch ``N``,
after that epoch's backup. ``resume`` runs the fault-tolerance run again.
``reference`` runs all of it in one process on one device. Each writes
``OUT_DIR/<role>.json`` and ``.npz`` (``role``: ``process-<id>`` or
``reference``) and appends the epochs it trained to ``OUT_DIR/<role>.epochs``
as it goes. It asserts nothing: every check is the parent's.
"""

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

GLOBAL_BATCH = 16
EPOCHS = 3
FT_EPOCHS = 4


def data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] + 0.3 * x[:, 2] > 0).astype(np.int64)
    return x, y


def initial_weights():
    rng = np.random.default_rng(7)
    return [
        rng.normal(0, 0.5, (4, 3)).astype(np.float32),
        np.zeros(3, np.float32),
        rng.normal(0, 0.5, (3, 1)).astype(np.float32),
        np.zeros(1, np.float32),
    ]


def build():
    from tfzoo.models import build_perceptron

    model = build_perceptron(4, hidden_units=3)
    model.set_weights(initial_weights())
    return model


def ft_fit(strategy, callbacks):
    """The fault-tolerance run: SGD with momentum (its state must be restored too)."""
    import keras

    import tfzoo

    x, y = data(64, 2)
    model, _ = tfzoo.distribute.fit(
        build,
        x,
        y.astype(np.float32)[:, None],
        strategy=strategy,
        compile_kwargs=dict(
            optimizer=keras.optimizers.SGD(0.3, momentum=0.9), loss="binary_crossentropy"
        ),
        batch_size=GLOBAL_BATCH,
        epochs=FT_EPOCHS,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    return model.get_weights()


def main(mode, out_dir, backup_dir=None):
    import keras

    import tfzoo
    from tfzoo import PerceptronClassifier
    from tfzoo.distribute import BackupAndRestore, resolve_strategy_spec, task_name
    from tfzoo.estimators import _runtime

    out = Path(out_dir)
    spec = "default" if mode == "reference" else "multiworker"
    role = "reference" if mode == "reference" else task_name()
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    log = logging.getLogger("tfzoo.distribute")
    log.addHandler(Collect())
    log.setLevel(logging.INFO)
    t0 = time.monotonic()
    results = {"role": role, "resolve_auto": list(resolve_strategy_spec("auto")), "seconds": {}}

    def lap(name):
        results["seconds"][name] = [round(time.monotonic() - t0, 2), round(time.process_time(), 2)]

    arrays = {}

    class Epochs(keras.callbacks.Callback):
        """Appends ``mode epoch`` to ``<role>.epochs`` after each epoch it trains."""

        def on_train_begin(self, logs=None):
            results["ft_start"] = int(self.model._initial_epoch or 0)

        def on_epoch_end(self, epoch, logs=None):
            with open(out / f"{role}.epochs", "a") as f:
                f.write(f"{mode} {epoch + 1}\n")
            if epoch + 1 == int(os.environ.get("JAX_MW_DIE_AT", "0")):
                os.kill(os.getpid(), signal.SIGKILL)

    def save():
        (out / f"{role}.json").write_text(json.dumps(results))
        np.savez(out / f"{role}.npz", **arrays)

    if mode == "reference":  # no cluster described here
        try:
            tfzoo.distribute.get_strategy("multiworker")
        except RuntimeError as exc:
            results["no_cluster"] = str(exc)
    if mode != "resume":
        strategy = tfzoo.distribute.get_strategy(spec)
        results["strategy"] = repr(strategy)
        results["replicas"] = strategy.num_replicas_in_sync
        results["auto_same"] = tfzoo.distribute.get_strategy("auto") is strategy
        lap("strategy")
        # an estimator: shuffled batches, a last batch of 90 % 16 = 10 rows (padded to 12)
        x, y = data(90, 1)
        clf = PerceptronClassifier(
            hidden_units=3,
            batch_size=GLOBAL_BATCH,
            epochs=EPOCHS,
            learning_rate=0.05,
            random_state=0,
            strategy=spec,
        ).fit(x, y)
        for i, w in enumerate(clf.model_.get_weights()):
            arrays[f"est_w{i}"] = w
        arrays["est_proba"] = clf.predict_proba(x)
        results["est_loss"] = clf.loss_curve_
        lap("estimator")
        # random_state=None: every process still draws the same weights and order;
        # the rows each process fed, with their weights (0: padding), are recorded
        fed = {}  # the last read of each batch (Keras reads the first one before the epoch too)
        feed = _runtime.ArrayBatches.__getitem__
        _runtime.ArrayBatches.__getitem__ = lambda self, i: fed.update({i: feed(self, i)}) or fed[i]
        try:
            unseeded = PerceptronClassifier(
                hidden_units=3, batch_size=GLOBAL_BATCH, epochs=1, strategy=spec
            ).fit(x, y)
        finally:
            _runtime.ArrayBatches.__getitem__ = feed
        for i, w in enumerate(unseeded.model_.get_weights()):
            arrays[f"unseeded_w{i}"] = w
        fed = [fed[i] for i in sorted(fed)]
        arrays["fed_x"] = np.concatenate([batch[0] for batch in fed])
        arrays["fed_w"] = np.concatenate(
            [batch[2] if len(batch) > 2 else np.ones(len(batch[0])) for batch in fed]
        )
        results["fed_batches"] = [len(batch[0]) for batch in fed]
        lap("unseeded")
        # tfzoo.distribute.fit on NumPy arrays, 96 rows in batches of 16
        x, y = data(96, 3)
        model, history = tfzoo.distribute.fit(
            build,
            x,
            y.astype(np.float32)[:, None],
            strategy=spec,
            compile_kwargs=dict(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy"),
            batch_size=GLOBAL_BATCH,
            epochs=EPOCHS,
            shuffle=False,
            verbose=0,
        )
        for i, w in enumerate(model.get_weights()):
            arrays[f"fit_w{i}"] = w
        results["fit_loss"] = history.history["loss"]
        lap("fit")
        try:  # a last batch of 90 % 16 = 10 rows does not split over 4 devices
            tfzoo.distribute.fit(
                build, x[:90], y[:90], strategy=spec, compile_kwargs=dict(loss="mse"), verbose=0
            )
            results["uneven_fit"] = None
        except ValueError as exc:
            results["uneven_fit"] = str(exc)
        results["log"] = messages
        save()
    strategy = tfzoo.distribute.get_strategy(spec)
    callbacks = [Epochs()] if mode == "reference" else [BackupAndRestore(backup_dir), Epochs()]
    for i, w in enumerate(ft_fit(strategy, callbacks)):
        arrays[f"ft_w{i}"] = w
    lap("ft")
    save()


if __name__ == "__main__":
    # As on a JAX-only machine: Keras would import TensorFlow (5 s) only to
    # check whether objects it serializes are TensorFlow's
    sys.modules["tensorflow"] = None
    main(*sys.argv[1:])
