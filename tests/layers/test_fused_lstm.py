import keras
import numpy as np
import pytest

from tests.backend_ops import BACKEND, XLA, gradients, to_numpy
from tfzoo.layers import FusedLSTM
from tfzoo.layers.fused_lstm import lstm_sequence
from tfzoo.testing import run_layer_test


def test_fused_lstm_contract():
    # config and .keras round trips, a training step, MirroredStrategy
    run_layer_test(
        FusedLSTM,
        {"units": 5, "return_sequences": True, "dropout": 0.1, "seed": 3},
        input_shape=(4, 6, 3),
        expected_output_shape=(4, 6, 5),
        expected_num_trainable_weights=3,
    )


def _pair(seed=0, **kwargs):
    """A FusedLSTM and a keras LSTM with the same weights."""
    fused = FusedLSTM(6, seed=seed, **kwargs)
    plain = keras.layers.LSTM(6, seed=seed, **kwargs)
    fused.build((None, None, 3))
    plain.build((None, None, 3))
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.4, w.shape).astype("float32") for w in plain.get_weights()]
    fused.set_weights(weights)
    plain.set_weights(weights)
    return fused, plain


def _weighted_sum(o):
    """A loss that weights every output differently, so no gradient cancels."""
    n = int(np.prod(o.shape))
    weights = keras.ops.sin(keras.ops.reshape(keras.ops.arange(n, dtype=o.dtype), o.shape))
    return keras.ops.sum(o * weights)


def _outputs_and_grads(layer, x, training, **call_kwargs):
    def loss_fn(x):
        out = layer(x, training=training, **call_kwargs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        loss = sum(_weighted_sum(o) for o in outs)
        return loss, outs

    _, outs, grads = gradients(loss_fn, inputs=[x], variables=layer.trainable_variables)
    return outs, grads


#: The output configurations every value/gradient comparison runs over.
VARIANTS = [
    {"return_sequences": True},
    {"return_sequences": False},
    {"return_sequences": True, "go_backwards": True},
    {"return_sequences": True, "return_state": True},
]
VARIANT_IDS = ["sequences", "last", "backwards", "states"]


@pytest.mark.parametrize("kwargs", VARIANTS, ids=VARIANT_IDS)
def test_fused_lstm_equals_keras_lstm_values_and_gradients(kwargs):
    fused, plain = _pair(**kwargs)
    x = np.random.default_rng(1).normal(size=(4, 9, 3)).astype("float32")
    out_f, grad_f = _outputs_and_grads(fused, x, training=True)
    out_p, grad_p = _outputs_and_grads(plain, x, training=True)
    for a, b in zip(out_f, out_p):
        np.testing.assert_allclose(a, b, atol=2e-6)
    for a, b in zip(grad_f, grad_p):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def test_fused_lstm_initial_state_and_dropout_match_keras():
    fused, plain = _pair(seed=5, return_sequences=True, dropout=0.3)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 7, 3)).astype("float32")
    state = [
        keras.ops.convert_to_tensor(rng.normal(size=(3, 6)).astype("float32")) for _ in range(2)
    ]
    # Same seed, same dropout draws: the input mask is shared by all steps in both.
    out_f, grad_f = _outputs_and_grads(fused, x, training=True, initial_state=state)
    out_p, grad_p = _outputs_and_grads(plain, x, training=True, initial_state=state)
    np.testing.assert_allclose(out_f[0], out_p[0], atol=2e-6)
    for a, b in zip(grad_f, grad_p):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    # Dropout is on: training and inference outputs differ.
    inference = to_numpy(fused(x, training=False, initial_state=state))
    assert np.abs(inference - out_f[0]).max() > 1e-3


@pytest.mark.parametrize("kwargs", VARIANTS, ids=VARIANT_IDS)
def test_fused_lstm_runs_masks_as_keras_does(kwargs):
    # masked steps carry the states over: post-padding, pre-padding, a gap, none
    fused, plain = _pair(**kwargs)
    x = np.random.default_rng(3).normal(size=(4, 6, 3)).astype("float32")
    mask = np.array(
        [[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1], [1, 1, 0, 1, 0, 1], [1, 1, 1, 1, 1, 1]], bool
    )
    mask = keras.ops.convert_to_tensor(mask)
    # On TensorFlow the fused loop runs, not Keras's; elsewhere Keras's own LSTM.
    assert fused._fused_ok(mask) == (BACKEND == "tensorflow")
    out_f, grad_f = _outputs_and_grads(fused, x, training=True, mask=mask)
    out_p, grad_p = _outputs_and_grads(plain, x, training=True, mask=mask)
    for a, b in zip(out_f, out_p):
        np.testing.assert_allclose(a, b, atol=2e-6)
    for a, b in zip(grad_f, grad_p):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def test_fused_lstm_falls_back_on_keras_where_it_must():
    assert FusedLSTM(4)._fused_ok(None) == (BACKEND == "tensorflow")  # the fused loop is TF's
    assert not FusedLSTM(4, recurrent_dropout=0.2)._fused_ok(None)
    assert not FusedLSTM(4, activation="relu")._fused_ok(None)


@pytest.mark.tensorflow_only  # lstm_sequence is the hand-written TensorFlow backward
def test_lstm_sequence_gradient_matches_autodiff_in_float64():
    import tensorflow as tf

    rng = np.random.default_rng(4)
    steps, batch, units = 6, 3, 4
    xp = tf.constant(rng.normal(size=(steps, batch, 4 * units)))
    u = tf.constant(rng.normal(0, 0.5, size=(units, 4 * units)))
    h0 = tf.constant(rng.normal(size=(batch, units)))
    c0 = tf.constant(rng.normal(size=(batch, units)))

    def reference(xp, u, h0, c0):
        h, c, hs = h0, c0, []
        for t in range(steps):
            zi, zf, zg, zo = tf.split(xp[t] + h @ u, 4, axis=-1)
            c = tf.sigmoid(zf) * c + tf.sigmoid(zi) * tf.tanh(zg)
            h = tf.sigmoid(zo) * tf.tanh(c)
            hs.append(h)
        return tf.stack(hs), h, c

    shapes = [(steps, batch, units), (batch, units), (batch, units)]
    w_all, w_h, w_c = (tf.constant(rng.normal(size=s)) for s in shapes)
    results = []
    for fn in (lstm_sequence, reference):
        with tf.GradientTape() as tape:
            tape.watch([xp, u, h0, c0])
            h_all, h_last, c_last = fn(xp, u, h0, c0)
            loss = (
                tf.reduce_sum(h_all * w_all)
                + tf.reduce_sum(h_last * w_h)
                + tf.reduce_sum(c_last * w_c)
            )
        results.append([h_all, *tape.gradient(loss, [xp, u, h0, c0])])
    for a, b in zip(*results):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def test_fused_lstm_trains_under_xla_and_serializes(set_seed):
    set_seed(0)
    inputs = keras.Input((8, 2))
    x = FusedLSTM(5, return_sequences=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=XLA)  # eager on torch
    rng = np.random.default_rng(0)
    x_data = rng.normal(size=(32, 8, 2)).astype("float32")
    y_data = np.cumsum(x_data[..., :1], axis=1)
    history = model.fit(x_data, y_data, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    config = keras.saving.serialize_keras_object(model.layers[1])
    clone = keras.saving.deserialize_keras_object(config)
    assert isinstance(clone, FusedLSTM) and clone.units == 5 and clone.return_sequences


def test_fused_lstm_under_mixed_precision_matches_keras():
    fused = FusedLSTM(6, return_sequences=True, dtype="mixed_float16")
    plain = keras.layers.LSTM(6, return_sequences=True, dtype="mixed_float16")
    for layer in (fused, plain):
        layer.build((None, None, 3))
    weights = [np.full(w.shape, 0.1, "float32") for w in plain.get_weights()]
    fused.set_weights(weights)
    plain.set_weights(weights)
    x = np.random.default_rng(6).normal(size=(2, 5, 3)).astype("float16")
    out = fused(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(
        to_numpy(out).astype("float32"), to_numpy(plain(x)).astype("float32"), atol=2e-3
    )
