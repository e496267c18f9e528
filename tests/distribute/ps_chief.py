"""The chief of a 1 ps + 2 workers run (started by the tests inside a namespace).

python ps_chief.py PS_PORT W0_PORT W1_PORT CHIEF_PORT OUT.json
"""

import json
import os
import sys


def main():
    ps, w0, w1, chief, out = sys.argv[1:6]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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

    model, history = fit_ps(
        lambda: build_perceptron(4, hidden_units=4),
        dataset_fn,
        strategy,
        epochs=4,
        steps_per_epoch=20,
        optimizer="sgd",
        loss="binary_crossentropy",
    )
    devices = sorted({w.value.device for w in model.weights})
    json.dump({**history, "devices": devices}, open(out, "w"))


if __name__ == "__main__":
    main()
