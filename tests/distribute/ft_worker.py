"""A worker of a 2-worker run with tfzoo's BackupAndRestore (started by the tests).

    python ft_worker.py PORT0 PORT1 INDEX BACKUP_DIR OUT_PREFIX

Writes OUT_PREFIX.epochN after each epoch, OUT_PREFIX.start with the epoch it
resumed from, and OUT_PREFIX.npz with the final weights. With FT_DIE_AT=N in
the environment the process SIGKILLs itself at the end of epoch N, before
that epoch's backup.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

EPOCHS = 6


def make_problem():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype("float32")
    y = (X[:, 0] * X[:, 1] > 0).astype("float32")[:, None]
    init = [
        rng.normal(0, 0.5, (4, 3)).astype("float32"),
        np.zeros(3, "float32"),
        rng.normal(0, 0.5, (3, 1)).astype("float32"),
        np.zeros(1, "float32"),
    ]
    return X, y, init


def train(strategy, callbacks=(), epochs=EPOCHS):
    import keras
    import tensorflow as tf

    from tfzoo.models import build_perceptron

    X, y, init = make_problem()
    with strategy.scope():
        model = build_perceptron(4, hidden_units=3)
        model.compile(keras.optimizers.SGD(0.3, momentum=0.9), "binary_crossentropy")
    model.set_weights(init)
    ds = tf.data.Dataset.from_tensor_slices((X, y)).batch(16)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    model.fit(
        ds.with_options(options), epochs=epochs, verbose=0, shuffle=False, callbacks=list(callbacks)
    )
    return model.get_weights()


def main():
    port0, port1, index, backup, prefix = sys.argv[1:6]
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port0}", f"127.0.0.1:{port1}"]},
            "task": {"type": "worker", "index": int(index)},
        }
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    import tfzoo

    class Marker(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            Path(prefix + ".start").write_text(str(self.model._initial_epoch or 0))

        def on_epoch_end(self, epoch, logs=None):
            Path(f"{prefix}.epoch{epoch + 1}").write_text("done")
            time.sleep(1.0)  # leave the test time to kill a worker between epochs

    class Die(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == int(os.environ.get("FT_DIE_AT", "0")):
                os.kill(os.getpid(), signal.SIGKILL)

    strategy = tfzoo.distribute.get_strategy("multiworker")
    backup = tfzoo.distribute.BackupAndRestore(backup)
    weights = train(strategy, [Die(), backup, Marker()])
    np.savez(prefix + ".npz", *weights)


if __name__ == "__main__":
    main()
