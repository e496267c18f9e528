"""The child process of ``tests/distribute/test_jax_model_parallel.py``: ``ModelParallel`` on JAX.

Run as ``python -m tests.distribute.jax_model_parallel_worker OUT_DIR`` with
``KERAS_BACKEND=jax``, ``JAX_PLATFORMS=cpu`` and
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (4 host devices, a
2x2 ``("batch", "model")`` mesh). Each builder's model is built twice from
the same weights, unsharded (one device) and under
``tfzoo.distribute.get_model_parallel``; both predict the same batch and
take one training step on it. It writes what it saw to
``OUT_DIR/results.json`` and ``OUT_DIR/arrays.npz`` and asserts nothing
itself: every check is the parent's.
"""

import time

import numpy as np

from tests.backends_worker import _error  # (imports nothing heavy: no TensorFlow, no JAX)
from tests.distribute import jax_child

DEVICES = 4
MESH = (2, 2)


def data(name):
    """The small data sets of the cases (the same in the child and the parent)."""
    rng = np.random.default_rng({"small_cnn": 1, "lstm_classifier": 2, "estimator": 3}[name])
    if name == "small_cnn":  # the seed's 28x28 digits, so that fc is the seed's 588x200
        return rng.normal(size=(8, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, 8)
    if name == "lstm_classifier":
        return rng.normal(size=(8, 5, 3)).astype(np.float32), rng.integers(0, 2, 8)
    x = rng.normal(size=(48, 5)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] - 0.5 * x[:, 2] > 0).astype(np.int64)


def shardings(variables):
    """``path -> {spec, shape, shard_shapes, devices}`` of each variable's value."""
    out = {}
    for v in variables:
        sharding = v.value.sharding
        spec = getattr(sharding, "spec", None)
        out[v.path] = {
            "spec": None if spec is None else [None if a is None else str(a) for a in spec],
            "shape": list(v.shape),
            "shard_shapes": sorted({tuple(s.data.shape) for s in v.value.addressable_shards}),
            "devices": len(sharding.device_set),
        }
    return out


def main(out_dir):
    import jax

    # XLA's CPU compiler takes seconds for JAX's partitionable threefry on some
    # shapes (the initializers of a 5x5x16x8 kernel: 3.2 s of CPU vs 0.3 s, measured
    # here): the classic one draws other initial weights, the same for every
    # sharding, and every comparison here is of copies of the same weights.
    jax.config.update("jax_threefry_partitionable", False)
    import keras

    import tfzoo.distribute as td
    from tfzoo.estimators import PerceptronClassifier, TextGenerator
    from tfzoo.models import (
        build_linear_regression,
        build_lstm_classifier,
        build_perceptron,
        build_small_cnn,
    )
    from tfzoo.tuning import PerceptronHyperModel, make_tuner

    messages = jax_child.collect_log("tfzoo.distribute")

    results = {"backend": keras.backend.backend(), "devices": len(jax.devices())}
    arrays = {}
    timings = results["seconds"] = {}
    clock = [time.perf_counter()]

    def lap(name):
        """Each section's wall seconds and the process's CPU seconds so far (not checked)."""
        now = time.perf_counter()
        timings[name] = [round(now - clock[0], 2), round(time.process_time(), 1)]
        clock[0] = now

    # ------------------------------------------- builders: sharded vs unsharded
    builders = {
        "small_cnn": (
            build_small_cnn,
            lambda: keras.optimizers.Adam(1e-2),
            "sparse_categorical_crossentropy",
        ),
        "lstm_classifier": (
            lambda: build_lstm_classifier(5, n_features=3, units=8),
            lambda: keras.optimizers.SGD(0.5),
            "sparse_categorical_crossentropy",
        ),
    }
    for name, (build, optimizer, loss) in builders.items():
        x, y = data(name)
        keras.utils.set_random_seed(0)
        reference = build()
        reference.compile(optimizer=optimizer(), loss=loss)
        for i, weight in enumerate(reference.get_weights()):
            arrays[f"{name}_initial_w{i}"] = weight
        distribution = td.get_model_parallel(name, mesh_shape=MESH)
        with distribution.scope():
            model = build()
            model.set_weights(reference.get_weights())
            model.compile(optimizer=optimizer(), loss=loss)
            arrays[f"{name}_sharded_out"] = model.predict(x, verbose=0)
            sharded_loss = model.train_on_batch(x, y)
        arrays[f"{name}_reference_out"] = reference.predict(x, verbose=0)
        reference_loss = reference.train_on_batch(x, y)
        mesh = distribution.device_mesh
        results[name] = {
            "distribution": [
                type(distribution).__name__,
                isinstance(distribution, keras.distribution.ModelParallel),
            ],
            "mesh": [
                list(distribution.device_mesh.shape),
                list(distribution.device_mesh.axis_names),
            ],
            "weights": shardings(model.weights),
            "optimizer": shardings(model.optimizer.variables),
            "reference_devices": sorted(
                {len(v.value.sharding.device_set) for v in reference.weights}
            ),
            "losses": [float(sharded_loss), float(reference_loss)],
            "n_weights": len(model.weights),
        }
        for i, (got, want) in enumerate(zip(model.get_weights(), reference.get_weights())):
            arrays[f"{name}_sharded_w{i}"] = got
            arrays[f"{name}_reference_w{i}"] = want
        lap(name)

    # ----------------------------------------- an estimator's strategy= (fit in scope)
    class SeenDistribution(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_begin(self, batch, logs=None):
            if not self.seen:
                dist = keras.distribution.distribution()
                self.seen.append(
                    None if dist is None else [type(dist).__name__, list(dist.device_mesh.shape)]
                )

    x, y = data("estimator")
    strategy = td.get_strategy(td.get_model_parallel("perceptron", mesh_shape=MESH))
    for key, spec in (("sharded", strategy), ("reference", "default")):
        seen = SeenDistribution()
        est = PerceptronClassifier(
            hidden_units=4,
            epochs=3,
            batch_size=16,
            random_state=0,
            validation_fraction=0.0,
            strategy=spec,
            callbacks=[seen],
        ).fit(x, y)
        results[f"estimator_{key}"] = {
            "seen_in_fit": seen.seen,
            "weights": shardings(est.model_.weights),
            "loss_curve": est.loss_curve_,
        }
        for i, weight in enumerate(est.model_.get_weights()):
            arrays[f"estimator_{key}_w{i}"] = weight
        arrays[f"estimator_{key}_proba"] = est.predict_proba(x)
    results["estimator_strategy"] = repr(strategy)
    lap("estimator")

    # ------------- TextGenerator: built and fit in the distribution's scope
    # batches of 3 windows over the 2 devices of the batch axis: padded to 4; the
    # last fifth held out (54 characters: 6 windows of 8, two batches of 3)
    text = "the quick brown fox jumps over the lazy dog; " * 6
    strategy = td.get_strategy(td.get_model_parallel("char_rnn", mesh_shape=MESH))
    for key, spec in (("sharded", strategy), ("reference", "default")):
        seen = SeenDistribution()
        gen = TextGenerator(
            sequence_length=8,
            embedding_dim=4,
            units=4,
            dropout=0.0,
            epochs=2,
            batch_size=3,
            lr_schedule="constant",
            validation_fraction=0.2,
            random_state=0,
            strategy=spec,
            callbacks=[seen],
        ).fit(text)
        results[f"text_{key}"] = {
            "seen_in_fit": seen.seen,
            "weights": shardings(gen.model_.weights),
            "loss": gen.history_["loss"],
            "val_loss": gen.history_["val_loss"],
        }
        for i, weight in enumerate(gen.model_.get_weights()):
            arrays[f"text_{key}_w{i}"] = weight
    lap("text_generator")

    # --------------- make_tuner: the trial's fit in the distribution's scope
    class SeenInTrial(keras.callbacks.Callback):
        seen = []  # keras-tuner deep-copies the callbacks: a class attribute survives

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                dist = keras.distribution.distribution()
                SeenInTrial.seen.append(
                    [
                        None if dist is None else type(dist).__name__,
                        len(self.model.weights[0].value.sharding.device_set),
                    ]
                )

    x, y = data("estimator")
    tuner = make_tuner(
        PerceptronHyperModel(5),
        "random",
        objective="loss",
        max_trials=1,
        strategy="auto",
        directory=out_dir,
        project_name="tuner",
        seed=0,
        overwrite=True,
    )
    tuner.search(
        x[:32],
        y[:32].astype(np.float32),
        epochs=2,
        batch_size=16,
        callbacks=[SeenInTrial()],
        verbose=0,
    )
    best = tuner.get_best_models(1)[0]
    results["tuner"] = {
        "strategy": repr(tuner.distribution_strategy),
        "seen_in_fit": SeenInTrial.seen,
        "best_devices": sorted({len(v.value.sharding.device_set) for v in best.weights}),
        "after": keras.distribution.distribution() is None,
    }
    lap("tuner")

    # ------------------------------------------------------------------ errors
    mesh = keras.distribution.DeviceMesh(MESH, ("batch", "model"))

    def build_indivisible():
        with td.get_model_parallel("perceptron", mesh_shape=MESH).scope():
            build_perceptron(5, hidden_units=3)

    results["errors"] = {
        "mesh_shape": _error(lambda: td.get_model_parallel("small_cnn", mesh_shape=(3, 2))),
        "mesh_rank": _error(lambda: td.get_model_parallel("small_cnn", mesh_shape=(4,))),
        "unknown": _error(lambda: td.get_model_parallel("mask_rcnn")),
        "type": _error(lambda: td.layout_map(42, mesh)),
        "no_model_axis": _error(
            lambda: td.layout_map("small_cnn", keras.distribution.DeviceMesh((4,), ("batch",)))
        ),
        "indivisible_at_creation": _error(build_indivisible),
        "indivisible_built": _error(
            lambda: td.layout_map(build_perceptron(5, hidden_units=3), mesh)
        ),
        "nothing_to_split": _error(lambda: td.layout_map(build_linear_regression(3), mesh)),
    }
    # a built model: its own paths, checked (the builder names' patterns otherwise)
    built = td.layout_map(build_small_cnn(), mesh)
    results["layout_map"] = {
        "built": {key: list(built[key].axes) for key in built},
        "by_name": sorted(td.layout_map("build_small_cnn", mesh)),
        "by_builder_fc": list(td.layout_map(build_small_cnn, mesh)["fc/kernel"].axes),
        "default_mesh": list(td.get_model_parallel("perceptron").device_mesh.shape),
    }
    lap("errors")
    results["log"] = messages
    jax_child.write(out_dir, results, arrays)


if __name__ == "__main__":
    jax_child.main(main)
