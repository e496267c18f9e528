"""The Keras patch stays small, guarded and honest about upstream."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfzoo.distribute import get_strategy, keras_fixes


def test_upstream_still_has_the_code_we_replace():
    # When this fails, Keras changed the patched code: check whether
    # keras-team/keras#20585 is fixed and drop or adapt tfzoo.distribute.keras_fixes.
    if not (
        keras_fixes.KERAS_RANGE[0] <= keras_fixes.keras_version() <= keras_fixes.KERAS_RANGE[1]
    ):
        pytest.fail(
            f"Keras {keras.__version__} is outside the range the fixes were written for "
            f"{keras_fixes.KERAS_RANGE}: re-read keras/src/backend/tensorflow/trainer.py"
        )
    state = keras_fixes.upstream_still_broken()
    assert all(state.values()), f"upstream code changed: {state}"


def _fit(strategy, x, y, batch, init):
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), "mse")
    model.set_weights(init)
    history = model.fit(x, y, batch_size=batch, epochs=2, verbose=0, shuffle=False)
    return model, history.history["loss"]


def test_mirrored_fit_matches_single_device_and_survives_uneven_batches():
    strategy = get_strategy("mirrored")  # 2 replicas (two logical CPUs)
    assert keras_fixes.is_applied()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    init = [rng.normal(size=(3, 1)).astype("float32"), np.zeros(1, "float32")]
    mirrored, loss_m = _fit(strategy, x, y, 8, init)
    assert isinstance(mirrored.weights[0].value, tf.distribute.DistributedValues)
    single, loss_s = _fit(tf.distribute.get_strategy(), x, y, 8, init)
    for a, b in zip(mirrored.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(loss_m, loss_s, rtol=1e-5)
    # global batch 7 over 2 replicas (slices of 4 and 3), and a last batch of 2:
    # Keras alone fails here in its symbolic build (AddN shape mismatch).
    _, losses = _fit(strategy, x, y, 7, init)
    assert np.all(np.isfinite(losses))


_ORDER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from tfzoo.testing import configure_logical_cpus
    configure_logical_cpus(2)
    from keras.src.backend.tensorflow import trainer
    from tfzoo.distribute import get_strategy, keras_fixes
    from tfzoo.layers import Linear
    from tfzoo.testing import run_layer_test

    def state():
        return {
            "applied": keras_fixes.is_applied(),
            "patched": trainer.TensorFlowTrainer._maybe_symbolic_build
            is keras_fixes._maybe_symbolic_build,
        }

    steps = {
        "layer_test": lambda: run_layer_test(
            Linear, {"units": 2}, input_shape=(4, 3), expected_output_shape=(4, 2)
        ),
        "get_strategy": lambda: get_strategy("mirrored"),
    }
    seen = []
    for name in sys.argv[1:]:
        steps[name]()
        seen.append(state())
    print(json.dumps(seen))
    """
)


@pytest.mark.parametrize("first", ["layer_test", "get_strategy"])
def test_patch_state_does_not_depend_on_which_comes_first(first):
    # run_layer_test's MirroredStrategy used to be made without the patch, so a
    # process that ran it before any get_strategy trained unpatched.
    second = {"layer_test": "get_strategy", "get_strategy": "layer_test"}[first]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-c", _ORDER_SCRIPT, first, second],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    states = json.loads(out.stdout.strip().splitlines()[-1])
    expected = all(keras_fixes.upstream_still_broken().values())
    assert states == [{"applied": expected, "patched": expected}] * 2


def test_install_keras_fixes_is_public_and_idempotent():
    from keras.src.backend.tensorflow import trainer

    from tfzoo.distribute import install_keras_fixes

    first = install_keras_fixes()
    patched = trainer.TensorFlowTrainer._maybe_symbolic_build
    assert install_keras_fixes() is first
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is patched
    assert first == all(keras_fixes.upstream_still_broken().values())
