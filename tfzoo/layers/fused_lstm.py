"""A Keras LSTM whose recurrence runs as one loop with a hand-written backward pass.

Keras's LSTM on a CPU (no cuDNN) runs the cell once per time step inside a
``tf.while_loop`` and lets autodiff differentiate that loop. The backward
loop then does, at every step, a ``(batch, 4u) @ (4u, u)ᵀ`` product with a
transposed operand and a ``hᵀ @ dz`` product over only ``batch`` rows, both
slow shapes for a CPU matrix multiply (measured here, batch 64, 384 units:
26 GFLOP/s transposed vs 69 plain).

:class:`FusedLSTM` computes the same function with the same weights, split
the way cuDNN splits it:

- the input projection ``x @ kernel + bias`` for every step at once (one
  large matrix multiply, differentiated by autodiff);
- a forward loop doing only ``h @ recurrent_kernel`` and the gates per step,
  keeping the gate activations and cell states;
- a backward loop (``tf.custom_gradient``) doing only the gate derivatives
  and ``dz @ recurrent_kernelᵀ`` per step, with the transpose made once;
- the recurrent kernel's gradient as one ``Hᵀ @ dZ`` product over all
  ``steps * batch`` rows after the loop.

There is no ``keras.ops`` twin of a custom-gradient loop, so this module
uses TensorFlow directly; other cases (batches with masked steps, recurrent dropout, other
activations, ``unroll``, or a GPU where Keras picks cuDNN) fall back on
Keras's own implementation, so the layer always computes what
``keras.layers.LSTM`` computes.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfzoo._saving import serializable


def _split4(z):
    return tf.split(z, 4, axis=-1)


def lstm_sequence(projected, recurrent_kernel, h0, c0):
    """Run the LSTM recurrence over time-major ``projected`` inputs.

    Args:
        projected: ``(steps, batch, 4 * units)``, ``x_t @ kernel + bias`` for
            every step, gates in Keras's order (input, forget, cell, output).
        recurrent_kernel: ``(units, 4 * units)``.
        h0, c0: ``(batch, units)`` initial states.

    Returns:
        ``(h_all, h_last, c_last)`` with ``h_all`` of shape ``(steps, batch, units)``.
        Gate activations are sigmoid (input, forget, output) and tanh (cell).
    """

    @tf.custom_gradient
    def run(xp, u, h_init, c_init):
        steps = tf.shape(xp)[0]
        dtype = xp.dtype
        hs = tf.TensorArray(dtype, size=steps)
        cs = tf.TensorArray(dtype, size=steps)
        gs = tf.TensorArray(dtype, size=steps)

        def body(t, h, c, hs, cs, gs):
            zi, zf, zg, zo = _split4(xp[t] + tf.matmul(h, u))
            i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zg), tf.sigmoid(zo)
            c = f * c + i * g
            h = o * tf.tanh(c)
            gates = tf.concat([i, f, g, o], axis=-1)
            return t + 1, h, c, hs.write(t, h), cs.write(t, c), gs.write(t, gates)

        _, h_last, c_last, hs, cs, gs = tf.while_loop(
            lambda t, *_: t < steps, body, [tf.constant(0), h_init, c_init, hs, cs, gs]
        )
        h_all, c_all, g_all = hs.stack(), cs.stack(), gs.stack()

        def grad(d_h_all, d_h_last, d_c_last):
            u_t = tf.transpose(u)
            c_prev_all = tf.concat([c_init[None], c_all[:-1]], axis=0)
            dz_ta = tf.TensorArray(dtype, size=steps)

            def back(k, dh_next, dc_next, dz_ta):
                t = steps - 1 - k
                i, f, g, o = _split4(g_all[t])
                tanh_c = tf.tanh(c_all[t])
                dh = d_h_all[t] + dh_next
                dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
                dz = tf.concat(
                    [
                        dc * g * i * (1.0 - i),
                        dc * c_prev_all[t] * f * (1.0 - f),
                        dc * i * (1.0 - g * g),
                        dh * tanh_c * o * (1.0 - o),
                    ],
                    axis=-1,
                )
                return k + 1, tf.matmul(dz, u_t), dc * f, dz_ta.write(t, dz)

            _, dh0, dc0, dz_ta = tf.while_loop(
                lambda k, *_: k < steps, back, [tf.constant(0), d_h_last, d_c_last, dz_ta]
            )
            dz_all = dz_ta.stack()
            units = tf.shape(u)[0]
            h_prev_all = tf.concat([h_init[None], h_all[:-1]], axis=0)
            du = tf.matmul(
                tf.reshape(h_prev_all, [-1, units]),
                tf.reshape(dz_all, [-1, 4 * units]),
                transpose_a=True,
            )
            return dz_all, du, dh0, dc0

        return (h_all, h_last, c_last), grad

    return run(projected, recurrent_kernel, h0, c0)


def _uses_cudnn():
    return bool(tf.config.list_logical_devices("GPU"))


@serializable
class FusedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` with a faster CPU training loop; same weights, same outputs.

    Takes every argument of ``keras.layers.LSTM``. The fused loop (see the
    module docstring) is used when no step is masked (no mask, or one that
    masks nothing in the batch at hand), no recurrent dropout,
    the activations are tanh/sigmoid, ``unroll`` is off and no GPU is
    visible (there Keras's cuDNN kernel is the fast one); otherwise the
    layer runs Keras's own loop. Input ``dropout`` uses the same mask for
    every step, as Keras does. Measured in ``benchmarks/throughput.py``.
    """

    def _fused_ok(self, mask):
        """Whether the fused loop runs whatever the data (no mask, a configuration it computes)."""
        return mask is None and self._fused_config_ok()

    def _fused_config_ok(self):
        cell = self.cell
        return (
            not self.recurrent_dropout
            and not self.unroll
            and cell.use_bias
            and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
            and not _uses_cudnn()
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        keras_loop = super().inner_loop
        if not self._fused_config_ok():
            return keras_loop(sequences, initial_state, mask, training=training)
        if mask is None:
            return self._fused_loop(sequences, initial_state, training)

        # A mask that masks no step (every sequence of the batch full length)
        # changes nothing: the fused loop runs; padded batches run Keras's loop.
        def same_structure(out):
            last, outputs, states = out
            if not self.return_sequences:  # only the last output is used
                outputs = last[:, None, :]
            return last, outputs, list(states)

        return tf.cond(
            tf.reduce_all(tf.cast(mask, tf.bool)),
            lambda: same_structure(self._fused_loop(sequences, initial_state, training)),
            lambda: same_structure(keras_loop(sequences, initial_state, mask, training=training)),
        )

    def _fused_loop(self, sequences, initial_state, training):
        x = sequences
        if training and self.dropout:
            keep = self.cell.get_dropout_mask(x[:, 0, :])
            x = x * keep[:, None, :]
        if self.go_backwards:
            x = tf.reverse(x, axis=[1])
        cell = self.cell
        x_tm = tf.transpose(x, [1, 0, 2])
        steps, batch = tf.shape(x_tm)[0], tf.shape(x_tm)[1]
        features = x_tm.shape[-1] if x_tm.shape[-1] is not None else tf.shape(x_tm)[2]
        projected = tf.matmul(tf.reshape(x_tm, [-1, features]), cell.kernel) + cell.bias
        projected = tf.reshape(projected, [steps, batch, 4 * cell.units])
        h_all, h_last, c_last = lstm_sequence(
            projected,
            tf.convert_to_tensor(cell.recurrent_kernel),
            initial_state[0],
            initial_state[1],
        )
        outputs = tf.transpose(h_all, [1, 0, 2])
        return h_last, outputs, [h_last, c_last]
