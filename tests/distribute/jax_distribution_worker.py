"""The child process of ``tests/distribute/test_jax_distribution.py``: ``strategy=`` on JAX.

Run as ``python -m tests.distribute.jax_distribution_worker OUT_DIR`` with
``KERAS_BACKEND=jax``, ``JAX_PLATFORMS=cpu`` and
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (4 host devices). It
trains every case twice, with ``strategy="auto"`` (``DataParallel`` over the
4 devices) and ``strategy="default"`` (one device), and writes what it saw to
``OUT_DIR/results.json`` and ``OUT_DIR/arrays.npz``. It asserts nothing
itself: every check is the parent's. The data come from :func:`data`, which
the parent calls too (on TensorFlow) for its scikit-learn reference.
"""

import numpy as np

from tests.backends_worker import _error  # (imports nothing heavy: no TensorFlow, no JAX)
from tests.distribute import jax_child

DEVICES = 4


def data(name):
    """The small data sets of the cases (the same in the child and the parent)."""
    rng = np.random.default_rng({"perceptron": 1, "cnn": 2, "uneven": 3, "normal": 4}[name])
    if name in ("perceptron", "uneven"):
        x = rng.normal(size=(96, 5)).astype(np.float32)
        y = (x[:, 0] + x[:, 1] - 0.5 * x[:, 2] > 0).astype(np.int64)
        return x, y, rng.uniform(0.5, 2.0, size=96)
    if name == "cnn":
        x = rng.normal(size=(64, 8, 8)).astype(np.float32)
        y = (x[:, :4].mean(axis=(1, 2)) > x[:, 4:].mean(axis=(1, 2))).astype(np.int64)
        return x, y, None
    # far from the origin and of unequal scales, 1030 rows (not a multiple of 4)
    x = rng.normal(size=(1030, 4)) * [1.0, 10.0, 100.0, 1e3] + [5.0, 0.0, 1e4, 0.0]
    y = x @ [1.0, -2.0, 0.5, 0.03] + 7.0 + rng.normal(size=1030)
    return x, y, None


def main(out_dir):
    import jax
    import keras

    import tfzoo.distribute as td
    from tfzoo import LinearRegressor, PerceptronClassifier
    from tfzoo.distribute import normal_equations
    from tfzoo.estimators import CNNClassifier
    from tfzoo.models import build_linear_regression, build_perceptron, fit_normal_equations

    messages = jax_child.collect_log("tfzoo.distribute")

    class SeenDistribution(keras.callbacks.Callback):
        """What ``keras.distribution.distribution()`` is while ``fit`` runs."""

        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_begin(self, batch, logs=None):
            if not self.seen:
                dist = keras.distribution.distribution()
                self.seen.append(
                    None
                    if dist is None
                    else [type(dist).__name__, int(dist.device_mesh.devices.size)]
                )

    results = {
        "backend": keras.backend.backend(),
        "devices": [str(d) for d in jax.devices()],
    }
    arrays = {}

    # ------------------------------------------------------------ resolution
    auto = td.get_distribution("auto")
    strategy = td.get_strategy("auto")
    results["resolution"] = {
        "auto": type(auto).__name__,
        "auto_devices": [str(d) for d in auto.device_mesh.devices.flatten()],
        "auto_again_same": td.get_distribution("auto") is auto,
        "mirrored_same": td.get_distribution("mirrored") is auto,
        "default": repr(td.get_distribution("default")),
        "strategy": type(strategy).__name__,
        "strategy_distribution_same": strategy.distribution is auto,
        "strategy_again_same": td.get_strategy("auto") is strategy,
        "passed_through": td.get_strategy(strategy) is strategy,
        "distribution_wrapped": td.get_strategy(auto) is strategy,
        "replicas": strategy.num_replicas_in_sync,
        "default_strategy": repr(td.get_strategy("default")),
        "resolve_auto": list(td.resolve_strategy_spec("auto")),
    }
    with strategy.scope():
        inside = keras.distribution.distribution()
    results["resolution"]["scope_sets"] = inside is auto
    results["resolution"]["scope_restores"] = keras.distribution.distribution() is None
    results["errors"] = {
        "get_strategy('ps')": _error(lambda: td.get_strategy("ps")),
        "get_distribution('ps')": _error(lambda: td.get_distribution("ps")),
        "get_strategy('multiworker')": _error(lambda: td.get_strategy("multiworker")),
        "get_distribution('tpu')": _error(lambda: td.get_distribution("tpu")),
        "get_distribution('gpus')": _error(lambda: td.get_distribution("gpus")),
    }

    # ----------------------------------------------------------- estimators
    def fit(cls, name, strategy, batch_size, weighted=False, **params):
        x, y, w = data(name)
        seen = SeenDistribution()
        est = cls(
            strategy=strategy,
            batch_size=batch_size,
            random_state=0,
            validation_fraction=0.0,
            callbacks=[seen],
            **params,
        )
        est.fit(x, y, sample_weight=w if weighted else None)
        key = f"{name}_{strategy}"
        results[key] = {
            "seen_in_fit": seen.seen,
            "shardings": sorted(
                {
                    str(getattr(v.value.sharding, "spec", "single device"))
                    + f" over {len(v.value.sharding.device_set)} devices"
                    for v in est.model_.weights
                }
            ),
            "loss_curve": est.loss_curve_,
            "n_weights": len(est.model_.weights),
        }
        for i, weight in enumerate(est.model_.get_weights()):
            arrays[f"{key}_w{i}"] = weight
        arrays[f"{key}_proba"] = est.predict_proba(x)
        arrays[f"{key}_predict"] = est.predict(x)

    cases = {
        # 96 rows in batches of 32 (8 a device)
        "perceptron": (PerceptronClassifier, 32, False, {"epochs": 6, "hidden_units": 4}),
        # the small CNN (dropout 0.4 included), 64 images in batches of 16
        "cnn": (
            CNNClassifier,
            16,
            False,
            {
                "epochs": 2,
                "filters": (4, 4),
                "kernel_sizes": (3, 3),
                "strides": (1, 2),
                "dense_units": 8,
            },
        ),
        # batches of 30 rows and a last one of 6: neither splits over 4 devices
        "uneven": (PerceptronClassifier, 30, True, {"epochs": 6, "hidden_units": 4}),
    }
    for name, (cls, batch_size, weighted, params) in cases.items():
        for strategy_name in ("auto", "default"):
            fit(cls, name, strategy_name, batch_size, weighted, **params)

    # tfzoo.distribute.fit: a builder's model under "auto", batches that split evenly
    seen = SeenDistribution()
    x, y, _ = data("perceptron")
    model, _ = td.fit(
        lambda: build_perceptron(5, hidden_units=4),
        x,
        y.astype(np.float32),
        strategy="auto",
        compile_kwargs={"optimizer": "adam", "loss": "binary_crossentropy"},
        epochs=1,
        batch_size=32,
        callbacks=[seen],
        verbose=0,
    )
    results["distribute_fit"] = {
        "seen_in_fit": seen.seen,
        "kernel_devices": len(model.weights[0].value.sharding.device_set),
    }

    # ---------------------------------------------------- normal equations
    used = []
    sharded = normal_equations.sharded_normal_equation_stats

    def recording(batches, distribution, *args, **kwargs):
        used.append(int(distribution.device_mesh.devices.size))
        return sharded(batches, distribution, *args, **kwargs)

    normal_equations.sharded_normal_equation_stats = recording
    try:
        x, y, _ = data("normal")
        with jax.enable_x64(True):
            model = build_linear_regression(4, dtype="float64")
            solution = fit_normal_equations(model, x, y, strategy="auto")
            batches = [(x[i : i + 101], y[i : i + 101]) for i in range(0, len(x), 101)]
            from_batches = fit_normal_equations(model, batches, strategy="auto")
            model_predict = np.asarray(model.predict(x, verbose=0))
        results["normal_equations"] = {
            "devices_used": used,
            "n_samples": [solution.n_samples, from_batches.n_samples],
            "one_shot_iterator": _error(
                lambda: fit_normal_equations(model, iter(batches), strategy="auto")
            ),
        }
        arrays["normal_coef"] = solution.coef
        arrays["normal_intercept"] = solution.intercept
        arrays["normal_batches_coef"] = from_batches.coef
        arrays["normal_batches_intercept"] = from_batches.intercept
        arrays["normal_model_predict"] = model_predict
        # the closed-form estimator, its float64 model built in the distribution's scope
        regressor = LinearRegressor(strategy="auto").fit(x, y)
        arrays["normal_estimator_predict"] = regressor.predict(x)
        results["normal_equations"]["estimator_kernel_devices"] = len(
            regressor.model_.weights[0].value.sharding.device_set
        )
    finally:
        normal_equations.sharded_normal_equation_stats = sharded

    results["log"] = messages
    jax_child.write(out_dir, results, arrays)


if __name__ == "__main__":
    jax_child.main(main)
