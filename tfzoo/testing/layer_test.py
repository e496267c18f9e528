"""One helper that every tfzoo layer test goes through (on any Keras backend)."""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np

from tfzoo._backend import require_tensorflow_backend
from tfzoo.distribute.strategy import mirrored_strategy


def configure_logical_cpus(n=2):
    """Split the first CPU into ``n`` logical devices (call before any TF op).

    Returns the logical CPU devices. If TensorFlow is already initialised with
    a different split this raises ``RuntimeError`` with TensorFlow's message.
    TensorFlow's backend only.
    """
    tf = require_tensorflow_backend("tfzoo.testing.configure_logical_cpus")
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is None or len(current) != n:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    return tf.config.list_logical_devices("CPU")


def _random_input(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _as_numpy(outputs):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def _assert_structures_close(a, b, atol, rtol, what, values=True):
    flat_a, flat_b = keras.tree.flatten(a), keras.tree.flatten(b)
    if len(flat_a) != len(flat_b):
        raise AssertionError(f"{what}: {len(flat_a)} outputs vs {len(flat_b)}")
    for x, y in zip(flat_a, flat_b):
        if not values:
            if x.shape != y.shape or x.dtype != y.dtype:
                raise AssertionError(f"{what}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
            continue
        np.testing.assert_allclose(x, y, atol=atol, rtol=rtol, err_msg=what)


def run_layer_test(
    layer_cls,
    init_kwargs=None,
    input_shape=None,
    expected_output_shape=None,
    input_data=None,
    input_dtype="float32",
    expected_num_trainable_weights=None,
    run_training_step=True,
    deterministic=True,
    run_mirrored=None,
    atol=1e-6,
    rtol=1e-6,
    seed=0,
):
    """Check a layer the way every tfzoo layer must behave.

    1. Called on data, its output has ``expected_output_shape``
       (``None`` entries are not checked) and ``compute_output_shape`` agrees.
    2. ``get_config``/``from_config`` round trip: same config, and with the same
       weights the same outputs.
    3. ``.keras`` save and load of a functional model around it: same outputs.
    4. One training step (SGD on mean squared error) changes every trainable
       weight and gives a finite loss.
    5. On the TensorFlow backend: built under ``tf.distribute.MirroredStrategy``
       on 2 logical CPUs its variables are ``MirroredVariable``\\ s and it runs
       a replicated step.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_shape: input shape with batch dimension (or a list for several inputs).
        expected_output_shape: expected output shape (or nested structure).
        input_data: explicit inputs instead of random ones; a tuple is passed
            as several positional call arguments (``layer(features, boxes)``),
            a list (possibly nested) as one argument.
        input_dtype: dtype of the random inputs.
        expected_num_trainable_weights: checked when given.
        run_training_step: whether to run check 4.
        deterministic: False for layers that sample at random on every call
            (anchor and RoI samplers): the round trips then compare output
            shapes and dtypes instead of values.
        run_mirrored: whether to run check 5 (default: on the TensorFlow
            backend; ``True`` elsewhere raises ``TensorFlowBackendRequired``).

    Returns:
        The layer built in step 1.
    """
    init_kwargs = dict(init_kwargs or {})
    if input_data is None:
        if input_shape is None:
            raise ValueError("pass input_shape or input_data")
        if isinstance(input_shape, list):
            input_data = [
                _random_input(s, input_dtype, seed + i) for i, s in enumerate(input_shape)
            ]
        else:
            input_data = _random_input(input_shape, input_dtype, seed)
    shapes = keras.tree.map_structure(lambda x: tuple(x.shape), input_data)
    # A tuple of inputs means several positional call arguments
    # (``layer(features, boxes)``); a list is one list argument.
    positional = isinstance(input_data, tuple)
    if positional:
        input_data = list(input_data)
        shapes = list(shapes)

    def apply(target, data):
        return target(*data) if positional else target(data)

    # 1. shapes
    layer = layer_cls(**init_kwargs)
    outputs = _as_numpy(apply(layer, input_data))
    if expected_output_shape is not None:
        out_shapes = keras.tree.map_structure(lambda x: tuple(x.shape), outputs)
        _assert_shape_matches(out_shapes, expected_output_shape)
        try:
            computed = apply(layer.compute_output_shape, shapes)
        except NotImplementedError:
            computed = None
        if computed is not None:
            _assert_shape_matches(_normalise_shapes(computed), expected_output_shape)
    if expected_num_trainable_weights is not None:
        got = len(layer.trainable_weights)
        if got != expected_num_trainable_weights:
            raise AssertionError(
                f"expected {expected_num_trainable_weights} trainable weights, got {got}"
            )

    # 2. config round trip
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    if clone.get_config() != config:
        raise AssertionError(f"config changed in a round trip:\n{config}\n!=\n{clone.get_config()}")
    apply(clone, input_data)
    clone.set_weights(layer.get_weights())
    _assert_structures_close(
        outputs,
        _as_numpy(apply(clone, input_data)),
        atol,
        rtol,
        "from_config outputs",
        deterministic,
    )
    serialized = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(serialized)
    if type(revived) is not layer_cls:
        raise AssertionError(f"deserialized {type(revived)} instead of {layer_cls}")

    # 3. .keras save/load
    model = _wrap(layer_cls, init_kwargs, input_data, positional)
    before = _as_numpy(model(input_data))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layer.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    _assert_structures_close(
        before, _as_numpy(loaded(input_data)), 0, 0, ".keras reload", deterministic
    )

    # 4. one training step
    if run_training_step and model.trainable_weights:
        targets = keras.tree.map_structure(
            lambda o: _random_input(o.shape, "float32", seed + 7), before
        )
        old = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        loss = model.train_on_batch(input_data, targets)
        loss = np.asarray(loss, dtype=np.float64)
        if not np.all(np.isfinite(loss)):
            raise AssertionError(f"training step gave a non-finite loss {loss}")
        unchanged = [
            w.path
            for w, o in zip(model.trainable_weights, old)
            if np.array_equal(keras.ops.convert_to_numpy(w), o)
        ]
        if unchanged:
            raise AssertionError(f"a training step left weights unchanged: {unchanged}")

    # 5. MirroredStrategy on 2 logical CPUs
    if run_mirrored is None:
        run_mirrored = keras.backend.backend() == "tensorflow"
    if run_mirrored:
        check_mirrored(layer_cls, init_kwargs, input_data, positional)
    return layer


def _wrap(layer_cls, init_kwargs, input_data, positional=False):
    inputs = keras.tree.map_structure(
        lambda x: keras.Input(shape=x.shape[1:], dtype=str(x.dtype)), input_data
    )
    layer = layer_cls(**init_kwargs)
    outputs = layer(*inputs) if positional else layer(inputs)
    return keras.Model(inputs, outputs)


def check_mirrored(layer_cls, init_kwargs, input_data, positional=False):
    """Build the layer under MirroredStrategy on 2 logical CPUs and run a step (TensorFlow)."""
    tf = require_tensorflow_backend("tfzoo.testing.check_mirrored (tf.distribute)")
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        raise RuntimeError(
            "check_mirrored needs 2 logical CPUs: call "
            "tfzoo.testing.configure_logical_cpus(2) before TensorFlow starts "
            "(tests/conftest.py does)"
        )
    # The same cached strategy tfzoo.distribute.get_strategy hands out: two
    # MirroredStrategy objects over the same devices collide in TF's collectives.
    strategy = mirrored_strategy(tuple(d.name for d in cpus[:2]))
    with strategy.scope():
        model = _wrap(layer_cls, init_kwargs, input_data, positional)
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    not_mirrored = [
        w.path
        for w in model.weights
        if type(getattr(w, "value", w)).__name__ not in ("MirroredVariable", "SyncOnReadVariable")
    ]
    if not_mirrored:
        raise AssertionError(f"variables not mirrored under the strategy: {not_mirrored}")
    outputs = model.predict(input_data, verbose=0, batch_size=8)
    targets = keras.tree.map_structure(np.zeros_like, outputs)
    history = model.fit(input_data, targets, epochs=1, batch_size=8, verbose=0)
    loss = history.history["loss"][-1]
    if not np.isfinite(loss):
        raise AssertionError(f"replicated training step gave loss {loss}")
    return model


def _normalise_shapes(shape):
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _normalise_shapes(v) for k, v in shape.items()}
    return tuple(shape)


def _assert_shape_matches(got, expected):
    if isinstance(expected, dict):
        for key in expected:
            _assert_shape_matches(got[key], expected[key])
        return
    if isinstance(expected, list) or (
        isinstance(expected, tuple) and expected and isinstance(expected[0], tuple)
    ):
        for g, e in zip(got, expected):
            _assert_shape_matches(g, e)
        return
    got = tuple(got)
    if len(got) != len(expected) or any(
        e is not None and g is not None and g != e for g, e in zip(got, expected)
    ):
        raise AssertionError(f"expected output shape {expected}, got {got}")
