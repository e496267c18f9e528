"""One worker of a 2-worker MultiWorkerMirroredStrategy run (started by the tests).

    python mw_worker.py PORT0 PORT1 INDEX OUT.npz

Also imported by the tests for the shared problem and the single-process reference.
"""

import json
import os
import sys

GLOBAL_BATCH = 16
EPOCHS = 3


def make_problem():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 4)).astype("float32")
    y = (X[:, 0] * X[:, 1] > 0).astype("float32")[:, None]
    init = [
        rng.normal(0, 0.5, (4, 3)).astype("float32"),
        np.zeros(3, "float32"),
        rng.normal(0, 0.5, (3, 1)).astype("float32"),
        np.zeros(1, "float32"),
    ]
    return X, y, init


def train(strategy):
    import keras
    import tensorflow as tf

    from tfzoo.models import build_perceptron

    X, y, init = make_problem()
    with strategy.scope():
        model = build_perceptron(4, hidden_units=3)
        model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy")
    model.set_weights(init)
    ds = tf.data.Dataset.from_tensor_slices((X, y)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    history = model.fit(ds.with_options(options), epochs=EPOCHS, verbose=0, shuffle=False)
    return model.get_weights(), history.history["loss"]


def main():
    port0, port1, index, out = sys.argv[1:5]
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port0}", f"127.0.0.1:{port1}"]},
            "task": {"type": "worker", "index": int(index)},
        }
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    import tfzoo

    strategy = tfzoo.distribute.get_strategy("auto")  # TF_CONFIG names 2 workers
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    weights, losses = train(strategy)
    np.savez(out, *weights, losses=np.asarray(losses))


if __name__ == "__main__":
    main()
