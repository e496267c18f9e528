"""The Keras patch stays small, guarded and honest about upstream."""

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
