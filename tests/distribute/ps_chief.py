"""The chief of a 1 ps + 2 workers run (started by the tests inside a namespace).

python ps_chief.py PS_PORT W0_PORT W1_PORT CHIEF_PORT OUT.json CKPT_DIR

In one cluster, one after another: 2 epochs with checkpoints, a second call
that resumes to 4 epochs, one epoch of a model with a large weight penalty and
a learning rate of 0 (its loss has a plain Keras reference), 3 epochs during
which it asks the test to kill worker 1 (OUT.json.kill1), then it writes
OUT.json.ready, waits for the test to kill the workers (OUT.json.killed) and
calls fit_ps with epoch_timeout=5.
"""

import json
import os
import sys
import threading
import time
from pathlib import Path


def main():
    ps, w0, w1, chief, out, ckpt = sys.argv[1:7]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from tfzoo.distribute.parameter_server import fit_ps, ps_strategy
    from tfzoo.models import build_perceptron

    cluster = {
        "chief": [f"127.0.0.1:{chief}"],
        "worker": [f"127.0.0.1:{w0}", f"127.0.0.1:{w1}"],
        "ps": [f"127.0.0.1:{ps}"],
    }
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": cluster, "task": {"type": "chief", "index": 0}}
    )
    strategy = ps_strategy()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(512, 4)).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype("float32")[:, None]

    def dataset_fn():
        return tf.data.Dataset.from_tensor_slices((X, y)).shuffle(512, seed=0).repeat().batch(32)

    def train(epochs, steps_per_epoch=20, **kwargs):
        return fit_ps(
            lambda: build_perceptron(4, hidden_units=4),
            dataset_fn,
            strategy,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            optimizer="sgd",
            loss="binary_crossentropy",
            **kwargs,
        )

    result = {}
    _, first = train(2, checkpoint_dir=ckpt)
    model, resumed = train(4, checkpoint_dir=ckpt)
    result["first"], result["resumed"] = first, resumed
    result["devices"] = sorted({w.value.device for w in model.weights})

    # Regularisation: every batch is the whole of X[:32] and nothing moves (lr 0),
    # so each step's loss is the loss Keras's evaluate reports for those weights.
    Xs, ys = X[:32], y[:32]

    def build_penalised():
        return keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(1, "sigmoid", kernel_regularizer=keras.regularizers.L2(3.0)),
            ]
        )

    model, penalised = fit_ps(
        build_penalised,
        lambda: tf.data.Dataset.from_tensor_slices((Xs, ys)).repeat().batch(32),
        strategy,
        epochs=1,
        steps_per_epoch=4,
        optimizer=keras.optimizers.SGD(0.0),
        loss="binary_crossentropy",
    )
    reference = build_penalised()
    reference.set_weights(model.get_weights())
    reference.compile(loss="binary_crossentropy")
    result["penalised"] = penalised["loss"][0]
    result["keras_loss"] = float(reference.evaluate(Xs, ys, batch_size=32, verbose=0))
    result["unpenalised"] = float(
        keras.losses.binary_crossentropy(ys[:, 0], reference.predict(Xs, verbose=0)[:, 0])
        .numpy()
        .mean()
    )

    # Worker 1 is killed while a training runs: its steps are re-run on worker 0
    # and counted once each.
    def ask_to_kill_worker_1():
        time.sleep(0.5)
        Path(out + ".kill1").write_text("kill")

    threading.Thread(target=ask_to_kill_worker_1, daemon=True).start()
    _, survived = train(3, steps_per_epoch=100, epoch_timeout=120)
    result["survived"] = survived
    result["killed_during"] = Path(out + ".killed1").exists()

    # The workers are killed: fit_ps must give up after epoch_timeout.
    Path(out + ".ready").write_text("ready")
    for _ in range(600):
        if Path(out + ".killed").exists():
            break
        time.sleep(0.1)
    begin = time.monotonic()
    try:
        train(1, epoch_timeout=5)
        result["timeout_error"] = None
    except TimeoutError as exc:
        result["timeout_error"] = str(exc)
    result["timeout_seconds"] = time.monotonic() - begin
    json.dump(result, open(out, "w"))
    sys.stdout.flush()
    os._exit(0)  # the coordinator's threads still wait for the dead workers


if __name__ == "__main__":
    main()
