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

A mask (padded sequences behind ``keras.layers.Masking``) runs in the same
loops: at a masked step the states carry over unchanged, as in Keras, and the
backward loop passes their gradients straight through.

There is no ``keras.ops`` twin of a custom-gradient loop, so the fused loop
is TensorFlow's and runs only on Keras's TensorFlow backend (TensorFlow is
imported when it first runs). Everywhere else (the JAX and PyTorch backends;
recurrent dropout, other activations, ``unroll``, or a GPU where Keras picks
cuDNN) the layer runs Keras's own LSTM, so it always computes what
``keras.layers.LSTM`` computes, and a ``.keras`` file of it loads on every
backend.
"""

from __future__ import annotations

import keras

from tfzoo._backend import tensorflow as tf
from tfzoo._saving import serializable


def _split4(z):
    return tf.split(z, 4, axis=-1)


def lstm_sequence(projected, recurrent_kernel, h0, c0, mask=None):
    """Run the LSTM recurrence over time-major ``projected`` inputs (TensorFlow tensors).

    Args:
        projected: ``(steps, batch, 4 * units)``, ``x_t @ kernel + bias`` for
            every step, gates in Keras's order (input, forget, cell, output).
        recurrent_kernel: ``(units, 4 * units)``.
        h0, c0: ``(batch, units)`` initial states.
        mask: optional ``(steps, batch, 1)`` of 1 (real step) and 0 (masked):
            at a masked step the states carry over unchanged, as in Keras.

    Returns:
        ``(h_all, h_last, c_last)`` with ``h_all`` of shape ``(steps, batch, units)``
        (at a masked step, the state carried over).
        Gate activations are sigmoid (input, forget, output) and tanh (cell).
    """
    masked = mask is not None

    @tf.custom_gradient
    def run(xp, u, h_init, c_init, m_all):
        steps = tf.shape(xp)[0]
        dtype = xp.dtype
        hs = tf.TensorArray(dtype, size=steps)
        cs = tf.TensorArray(dtype, size=steps)
        gs = tf.TensorArray(dtype, size=steps)

        def body(t, h, c, hs, cs, gs):
            zi, zf, zg, zo = _split4(xp[t] + tf.matmul(h, u))
            i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zg), tf.sigmoid(zo)
            c_new = f * c + i * g
            h_new = o * tf.tanh(c_new)
            if masked:
                m = m_all[t]
                c_new = m * c_new + (1.0 - m) * c
                h_new = m * h_new + (1.0 - m) * h
            gates = tf.concat([i, f, g, o], axis=-1)
            return t + 1, h_new, c_new, hs.write(t, h_new), cs.write(t, c_new), gs.write(t, gates)

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
                # at a masked step dz is 0 (m = 0), so c_all[t] standing in for
                # the discarded cell value there changes nothing
                tanh_c = tf.tanh(c_all[t])
                dh_total = d_h_all[t] + dh_next
                dh, dc_in = dh_total, dc_next
                if masked:
                    m = m_all[t]
                    dh, dc_in = m * dh_total, m * dc_next
                dc = dc_in + dh * o * (1.0 - tanh_c * tanh_c)
                dz = tf.concat(
                    [
                        dc * g * i * (1.0 - i),
                        dc * c_prev_all[t] * f * (1.0 - f),
                        dc * i * (1.0 - g * g),
                        dh * tanh_c * o * (1.0 - o),
                    ],
                    axis=-1,
                )
                dh_prev, dc_prev = tf.matmul(dz, u_t), dc * f
                if masked:  # the carried-over part of the states
                    dh_prev += (1.0 - m) * dh_total
                    dc_prev += (1.0 - m) * dc_next
                return k + 1, dh_prev, dc_prev, dz_ta.write(t, dz)

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
            return dz_all, du, dh0, dc0, tf.zeros_like(m_all)

        return (h_all, h_last, c_last), grad

    m_all = mask if masked else tf.zeros([], projected.dtype)
    return run(projected, recurrent_kernel, h0, c0, m_all)


def _uses_cudnn():
    return bool(tf.config.list_logical_devices("GPU"))


@serializable
class FusedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` with a faster CPU training loop; same weights, same outputs.

    Takes every argument of ``keras.layers.LSTM``. The fused loop (see the
    module docstring) is used on Keras's TensorFlow backend, masks included
    (a masked step carries the states over, as in Keras), when there is no
    recurrent dropout, the activations are tanh/sigmoid, ``unroll`` is off
    and no GPU is visible (there Keras's cuDNN kernel is the fast one);
    otherwise, and on the JAX and PyTorch backends, the layer runs Keras's
    own LSTM. Input ``dropout`` uses the same mask for
    every step, as Keras does. Measured in ``benchmarks/throughput.py``.
    """

    def _fused_ok(self, mask=None):
        """Whether the fused loop runs (any mask: masked steps carry the states over)."""
        cell = self.cell
        return (
            keras.backend.backend() == "tensorflow"
            and not self.recurrent_dropout
            and not self.unroll
            and not self.zero_output_for_mask
            and cell.use_bias
            and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
            and not _uses_cudnn()
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if not self._fused_ok(mask):
            return super().inner_loop(sequences, initial_state, mask, training=training)
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
        m_tm = None
        if mask is not None:
            m = tf.cast(mask, projected.dtype)
            if self.go_backwards:
                m = tf.reverse(m, axis=[1])
            m_tm = tf.transpose(m)[:, :, None]
        h_all, h_last, c_last = lstm_sequence(
            projected,
            tf.convert_to_tensor(cell.recurrent_kernel),
            initial_state[0],
            initial_state[1],
            mask=m_tm,
        )
        outputs = tf.transpose(h_all, [1, 0, 2])
        return h_last, outputs, [h_last, c_last]
