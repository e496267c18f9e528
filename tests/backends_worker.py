"""The child process of ``tests/test_backends.py``: tfzoo on Keras's JAX or PyTorch backend.

Run as ``python -m tests.backends_worker WORKDIR`` with ``KERAS_BACKEND`` set.
It first hides TensorFlow from the import system (``find_spec`` finds nothing,
``import tensorflow`` raises ``ModuleNotFoundError``, as when it is not
installed), then imports tfzoo and writes what it saw to
``WORKDIR/<backend>.json`` (and its own ``.keras`` files and outputs), which
the parent test checks. It asserts nothing itself: every check is the parent's.

The model specs (builder arguments, data, loss) are shared with the parent,
which imports this module on TensorFlow.
"""

import importlib.machinery
import json
import os
import sys
import time
import traceback

import numpy as np

#: name -> (builder, builder kwargs, loss, learning rate)
SPECS = {
    "linear_regression": ("build_linear_regression", {"n_features": 3}, "mse", 0.1),
    "perceptron": (
        "build_perceptron",
        {"n_features": 3, "hidden_units": 4},
        "binary_crossentropy",
        0.1,
    ),
    "small_cnn": (
        "build_small_cnn",
        {
            "input_shape": (8, 8, 1),
            "num_classes": 3,
            "filters": (4, 4, 4),
            "kernel_sizes": (3, 3, 3),
            "dense_units": 8,
            "batch_norm": True,
            "dropout": 0.1,
        },
        "sparse_categorical_crossentropy",
        0.01,
    ),
    "lstm_forecaster": (
        "build_lstm_forecaster",
        {"window": 6, "n_features": 1, "horizon": 2, "units": 8},
        "mse",
        0.05,
    ),
    "lstm_classifier": (
        "build_lstm_classifier",
        {"sequence_length": 6, "n_features": 2, "num_classes": 2, "units": 8, "num_layers": 2},
        "sparse_categorical_crossentropy",
        0.05,
    ),
    "char_rnn": (
        "build_char_rnn",
        {"vocab_size": 5, "embedding_dim": 4, "units": 8},
        "char_loss",
        0.1,
    ),
    "recommender": (
        "build_embedding_recommender",
        {"n_users": 6, "n_items": 5, "embedding_dim": 3},
        "mse",
        0.1,
    ),
}

#: Mask R-CNN, apart from SPECS: its data, targets and outputs are dicts. The tiny
#: configuration of tests/models/test_mask_rcnn.py on 32x32 shapes images.
MASK_RCNN_KEYS = ("boxes", "classes", "scores", "masks", "num_detections")


def mask_rcnn_data():
    from tfzoo.datasets import make_shapes

    return make_shapes(4, image_size=32, max_instances=3, seed=0)


def build_mask_rcnn():
    from tests.models.mask_rcnn_small import SMALL
    from tfzoo.models import build_mask_rcnn as build

    return build(3, (32, 32, 3), fpn_filters=8, seed=0, **SMALL)


def mask_rcnn_outputs(model):
    """Detections on two images, as ``{"mask_rcnn_<key>": array}``."""
    out = model.predict(mask_rcnn_data()["images"][:2], batch_size=2, verbose=0)
    return {f"mask_rcnn_{key}": np.asarray(out[key]) for key in MASK_RCNN_KEYS}


def _mask_rcnn(workdir, backend, results):
    """Mask R-CNN trains (loss falls) and predicts; its .keras files load both ways."""
    import keras

    shapes = mask_rcnn_data()
    targets = {key: shapes[key] for key in ("boxes", "classes", "masks")}
    model = build_mask_rcnn()
    model.compile(keras.optimizers.Adam(3e-3))
    history = model.fit(shapes["images"], targets, batch_size=4, epochs=5, verbose=0)
    results["losses"]["mask_rcnn"] = [float(v) for v in history.history["loss"]]
    model.save(os.path.join(workdir, f"{backend}_mask_rcnn.keras"))
    np.savez(os.path.join(workdir, f"{backend}_mask_rcnn_outputs.npz"), **mask_rcnn_outputs(model))
    loaded = keras.saving.load_model(os.path.join(workdir, "tensorflow_mask_rcnn.keras"))
    got = mask_rcnn_outputs(loaded)
    expected = np.load(os.path.join(workdir, "tensorflow_mask_rcnn_outputs.npz"))
    results["mask_rcnn_tf_file_diffs"] = {
        key: float(np.max(np.abs(got[key].astype("float64") - expected[key])))
        if got[key].shape == expected[key].shape
        else "shape"
        for key in expected.files
    }


#: The char-RNN text the sampler checks run on (ids < vocab_size).
SAMPLER_IDS = [0, 1, 2, 3, 4, 0, 1, 2, 1, 0, 3, 3, 2]


def data(name, seed=0):
    """``(x, y)`` for one spec: small, learnable, the same in every process."""
    rng = np.random.default_rng(seed)
    if name == "linear_regression":
        x = rng.standard_normal((64, 3)).astype("float32")
        return x, (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")
    if name == "perceptron":
        x = rng.standard_normal((64, 3)).astype("float32")
        return x, (x[:, :1] + x[:, 1:2] > 0).astype("float32")
    if name == "small_cnn":
        return rng.random((32, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 32)
    if name == "lstm_forecaster":
        t = np.arange(32)[:, None] + np.arange(8)[None, :]
        series = np.sin(0.4 * t).astype("float32")
        return series[:, :6, None], series[:, 6:]
    if name == "lstm_classifier":
        x = rng.standard_normal((32, 6, 2)).astype("float32")
        return x, (x[:, :, 0].sum(axis=1) > 0).astype("int32")
    if name == "char_rnn":
        text = np.tile(np.array([0, 1, 2, 3, 4, 3, 2, 1]), 20)
        starts = rng.integers(0, text.size - 9, 16)
        windows = np.stack([text[s : s + 9] for s in starts]).astype("int32")
        return windows[:, :-1], windows[:, 1:]
    if name == "recommender":
        x = np.stack([rng.integers(0, 6, 64), rng.integers(0, 5, 64)], axis=1).astype("int32")
        return x, (0.5 * x[:, :1] - 0.3 * x[:, 1:] + 1.0).astype("float32")
    raise KeyError(name)


def build(name):
    import tfzoo.models

    builder, kwargs, _, _ = SPECS[name]
    return getattr(tfzoo.models, builder)(**kwargs)


def compile_for(model, name):
    import keras

    _, _, loss, lr = SPECS[name]
    if loss == "char_loss":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
    return model


def outputs(model, name):
    """The model's outputs on the spec's inputs (inference mode), as NumPy."""
    import keras

    return keras.ops.convert_to_numpy(model(data(name)[0], training=False))


def sampler_results(model):
    """What :class:`tfzoo.models.CharSampler` gives on a char-RNN: log-likelihoods, greedy ids."""
    from tfzoo.models import CharSampler

    sampler = CharSampler(model)
    return {
        "log_likelihood": sampler.log_likelihood(SAMPLER_IDS, chunk=5).tolist(),
        "stateful": sampler.generate([0, 1], 8, temperature=0),
        "window": sampler.generate([0, 1], 8, temperature=0, method="window", window=4),
        "window_long": sampler.generate([0, 1], 6, temperature=0, method="window", window=100),
        "stateful_long": sampler.generate([0, 1], 6, temperature=0),
        "sampled": len(sampler.generate([2], 5, temperature=1.0, seed=0)),
    }


def _hide_tensorflow():
    """Make TensorFlow look uninstalled: no spec is found for it, importing it fails."""
    path_finder = importlib.machinery.PathFinder

    class HideTensorFlow:
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.partition(".")[0] == "tensorflow":
                return None
            return path_finder.find_spec(name, path, target)

        @classmethod
        def invalidate_caches(cls):
            return path_finder.invalidate_caches()

    sys.meta_path[:] = [HideTensorFlow if f is path_finder else f for f in sys.meta_path]


def _error(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the parent checks type and message
        return [type(exc).__name__, str(exc)]
    return None


def _tf_only_errors(backend):
    import keras

    import tfzoo.distribute as td
    import tfzoo.testing

    def fit_ps():
        td.fit_ps(
            lambda: tfzoo.models.build_perceptron(3),
            lambda: None,
            None,
            epochs=1,
            steps_per_epoch=1,
            optimizer="adam",
            loss="mse",
        )

    x, y = data("linear_regression")
    checks = {
        "get_strategy(<unknown object>)": lambda: td.get_strategy(object()),
        "get_strategy('multiworker')": lambda: td.get_strategy("multiworker"),
        "get_strategy('mirrored')": lambda: td.get_strategy("mirrored"),
        "get_strategy('tpu')": lambda: td.get_strategy("tpu"),
        "get_strategy('ps')": lambda: td.get_strategy("ps"),
        "fit_ps": fit_ps,
        "ps_strategy": td.ps_strategy,
        "serve": td.serve,
        "StagedModel": lambda: td.StagedModel([keras.layers.Dense(1)], ["/CPU:0"]),
        "logical_devices": td.logical_devices,
        "configure_logical_cpus": tfzoo.testing.configure_logical_cpus,
        "run_layer_test(run_mirrored=True)": lambda: tfzoo.testing.run_layer_test(
            tfzoo.layers.Linear, {"units": 1}, input_shape=(4, 3), run_mirrored=True
        ),
        "fit(strategy='mirrored')": lambda: td.fit(
            lambda: tfzoo.models.build_linear_regression(3),
            x,
            y,
            strategy="mirrored",
            compile_kwargs={"optimizer": "sgd", "loss": "mse"},
        ),
    }
    if backend == "jax":
        # keras.distribution names there (see _strategy_names)
        for name in (
            "get_strategy('multiworker')",
            "get_strategy('mirrored')",
            "get_strategy('tpu')",
            "fit(strategy='mirrored')",
        ):
            del checks[name]
    return {name: _error(fn) for name, fn in checks.items()}


def _strategy_names(backend):
    """The strategy names that are not TensorFlow-only on this backend, on one device.

    On JAX they resolve to ``keras.distribution`` (``tests/distribute/test_jax_distribution.py``
    runs them over 4 host devices); on torch ``get_distribution`` says what it needs.
    """
    import tfzoo.distribute as td

    if backend != "jax":
        return {"get_distribution('auto')": _error(lambda: td.get_distribution("auto"))}
    return {
        "get_strategy('mirrored')": repr(td.get_strategy("mirrored")),
        "get_distribution('auto')": repr(td.get_distribution("auto")),
        "get_strategy('tpu')": _error(lambda: td.get_strategy("tpu")),
        "get_strategy('multiworker')": _error(lambda: td.get_strategy("multiworker")),
    }


def _layer_tests():
    from tfzoo import layers
    from tfzoo.testing import run_layer_test

    # Linear, Perceptron and LSTMEncoder are in the builders' files already;
    # each layer test costs JAX a few compilations.
    cases = {
        "ConvBlock": (
            layers.ConvBlock,
            {"filters": 4, "kernel_size": 3, "batch_norm": True, "pool_size": 2, "dropout": 0.2},
            (2, 8, 8, 1),
        ),
        "FusedLSTM": (layers.FusedLSTM, {"units": 5, "return_sequences": True}, (4, 6, 3)),
    }
    found = {}
    for name, (cls, kwargs, shape) in cases.items():
        found[name] = _error(lambda c=cls, k=kwargs, s=shape: run_layer_test(c, k, input_shape=s))
    found["MatrixFactorization"] = _error(
        lambda: run_layer_test(
            layers.MatrixFactorization,
            {"n_users": 6, "n_items": 5, "embedding_dim": 3},
            input_data=data("recommender")[0][:8],
        )
    )
    return found


def main(workdir):
    import importlib.util

    results = {"tensorflow_spec": importlib.util.find_spec("tensorflow") is not None}
    results["import_tensorflow"] = _error(lambda: __import__("tensorflow"))

    import keras

    import tfzoo
    import tfzoo.distribute as td

    backend = keras.backend.backend()
    results["backend"] = backend
    results["tfzoo_file"] = tfzoo.__file__
    results["tensorflow_after_import"] = "tensorflow" in sys.modules

    # (b) every builder trains (loss falls) and predicts; (c) saved files both ways.
    results["losses"], results["predict_shapes"], results["tf_file_diffs"] = {}, {}, {}
    saved = {}
    clock = time.perf_counter()
    results["seconds"] = {}
    for name in SPECS:
        x, y = data(name)
        model = compile_for(build(name), name)
        history = model.fit(x, y, epochs=6, batch_size=len(x), verbose=0)
        results["losses"][name] = [float(v) for v in history.history["loss"]]
        predicted = model.predict(x, verbose=0)
        results["predict_shapes"][name] = [
            list(predicted.shape),
            bool(np.isfinite(predicted).all()),
        ]
        model.save(os.path.join(workdir, f"{backend}_{name}.keras"))
        saved[name] = outputs(model, name)

        loaded = keras.saving.load_model(os.path.join(workdir, f"tensorflow_{name}.keras"))
        expected = np.load(os.path.join(workdir, "tensorflow_outputs.npz"))[name]
        got = outputs(loaded, name)
        results["tf_file_diffs"][name] = (
            float(np.max(np.abs(got - expected))) if got.shape == expected.shape else "shape"
        )
        if name == "char_rnn":
            results["sampler_on_tf_file"] = sampler_results(loaded)
        results["seconds"][name] = time.perf_counter() - clock
        clock = time.perf_counter()
    np.savez(os.path.join(workdir, f"{backend}_outputs.npz"), **saved)
    _mask_rcnn(workdir, backend, results)
    results["seconds"]["mask_rcnn"] = time.perf_counter() - clock
    clock = time.perf_counter()

    # The one-device strategy.
    strategy = td.get_strategy("auto")
    with strategy.scope():
        scoped = td.get_strategy("default")
    results["strategy"] = {
        "auto": repr(strategy),
        "is_default": isinstance(strategy, td.DefaultStrategy) and scoped is strategy,
        "replicas": strategy.num_replicas_in_sync,
        "passed_through": td.get_strategy(strategy) is strategy,
        "none_is_auto": td.get_strategy(None) is strategy,
        "steps_per_execution": td.keras_fixes.steps_per_execution(strategy, 4),
        "fixes_installed": td.install_keras_fixes(),
    }
    x, y = data("perceptron")
    _, history = td.fit(
        lambda: tfzoo.models.build_perceptron(3),
        x,
        y,
        strategy="auto",
        compile_kwargs={"optimizer": "adam", "loss": "binary_crossentropy"},
        epochs=2,
        batch_size=16,
        verbose=0,
    )
    results["distribute_fit_losses"] = history.history["loss"]

    # Closed-form linear regression, with and without a strategy name.
    x, y = data("linear_regression")
    reference = np.linalg.lstsq(np.hstack([np.ones((len(x), 1)), x]), y, rcond=None)[0]
    for spec in (None, "auto"):
        model = tfzoo.models.build_linear_regression(3, dtype="float64")
        solution = tfzoo.models.fit_normal_equations(model, x, y, strategy=spec)
        results[f"normal_equations_{spec}"] = float(np.max(np.abs(solution.theta - reference)))
        predicted = keras.ops.convert_to_numpy(model(x))
        want = np.hstack([np.ones((len(x), 1)), x]) @ reference
        results[f"normal_equations_predict_{spec}"] = float(np.max(np.abs(predicted - want)))

    results["seconds"]["strategy"] = time.perf_counter() - clock
    clock = time.perf_counter()
    results["layer_tests"] = _layer_tests()
    results["seconds"]["layer_tests"] = time.perf_counter() - clock
    clock = time.perf_counter()
    results["tf_only"] = _tf_only_errors(backend)
    results["strategy_names"] = _strategy_names(backend)
    results["seconds"]["tf_only"] = time.perf_counter() - clock
    results["tensorflow_at_end"] = "tensorflow" in sys.modules
    with open(os.path.join(workdir, f"{backend}.json"), "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    _hide_tensorflow()
    try:
        main(sys.argv[1])
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
