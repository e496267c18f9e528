"""One worker of a 2-worker run that trains every tfzoo estimator (started by the tests).

    python mw_estimators_worker.py PORT0 PORT1 INDEX OUT.npz

Each estimator is built with its own defaults except ``strategy="multiworker"``,
one epoch, a seed and tiny layer sizes, and trained on the same tiny
data in both workers; OUT.npz holds each estimator's predictions (the workers
train replicas of one model, so the two files must be equal). A worker also
writes ``<name>_error`` there instead of failing at the first estimator.
"""

import json
import os
import sys
import time
import traceback


def problems():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 16)).astype("float32")
    y_cls = (X[:, 0] + X[:, 1] > 0).astype(int)
    y_reg = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=64)
    seq = rng.normal(size=(64, 6)).astype("float32")
    y_seq = seq.sum(axis=1)
    text = "the quick brown fox jumps over the lazy dog. " * 6
    return X, y_cls, y_reg, seq, y_seq, text


def estimators():
    """(name, estimator, kind) for every tfzoo estimator."""
    import tfzoo
    from tfzoo.models import build_perceptron

    common = dict(strategy="multiworker", random_state=0)
    return [
        ("linear_normal", tfzoo.LinearRegressor(**common), "reg"),
        ("linear_gd", tfzoo.LinearRegressor(solver="gd", epochs=1, **common), "reg"),
        ("perceptron_clf", tfzoo.PerceptronClassifier(epochs=1, **common), "cls"),
        ("perceptron_reg", tfzoo.PerceptronRegressor(epochs=1, **common), "reg"),
        (
            "keras_clf",
            tfzoo.KerasClassifier(
                build_perceptron, model_kwargs={"hidden_units": 3}, epochs=1, **common
            ),
            "cls",
        ),
        (
            "keras_reg",
            tfzoo.KerasRegressor(
                build_perceptron, model_kwargs={"hidden_units": 3}, epochs=1, **common
            ),
            "reg",
        ),
        (
            "cnn",
            tfzoo.CNNClassifier(filters=(4, 4, 4), dense_units=8, epochs=1, batch_size=8, **common),
            "image",
        ),
        ("lstm_clf", tfzoo.LSTMClassifier(units=4, epochs=1, batch_size=16, **common), "seq_cls"),
        ("lstm_reg", tfzoo.LSTMRegressor(units=4, epochs=1, batch_size=16, **common), "seq_reg"),
        (
            "text",
            tfzoo.TextGenerator(
                sequence_length=8, embedding_dim=4, units=8, epochs=1, batch_size=8, **common
            ),
            "text",
        ),
    ]


def fit_and_predict(estimator, kind, data):
    import numpy as np

    X, y_cls, y_reg, seq, y_seq, text = data
    if kind == "text":
        estimator.fit(text)
        return np.asarray([estimator.score(text[:60])])
    x = {"seq_cls": seq, "seq_reg": seq}.get(kind, X)
    y = {"cls": y_cls, "image": y_cls, "seq_cls": y_cls, "reg": y_reg}.get(kind, y_seq)
    estimator.fit(x, y)
    if kind in ("cls", "image", "seq_cls"):
        return np.asarray(estimator.predict_proba(x))
    return np.asarray(estimator.predict(x))


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

    data = problems()
    results = {}
    for name, estimator, kind in estimators():
        start = time.perf_counter()
        try:
            results[name] = fit_and_predict(estimator, kind, data)
        except Exception:  # report every estimator, not only the first failure
            traceback.print_exc()
            results[f"{name}_error"] = np.asarray(traceback.format_exc()[-2000:])
            np.savez(out, **results)
            raise  # a collective left half-done cannot be trusted: stop here
        print(f"worker {index}: {name} {time.perf_counter() - start:.1f} s", flush=True)
    np.savez(out, **results)


if __name__ == "__main__":
    main()
