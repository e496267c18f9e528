"""LSTM builders: forecasting, sequence classification, character-level text."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import scipy.special

from tfzoo._validation import check_int
from tfzoo.layers.lstm_encoder import LSTMEncoder


def build_lstm_forecaster(
    window,
    n_features=1,
    horizon=1,
    n_targets=None,
    units=64,
    num_layers=1,
    dropout=0.0,
    bidirectional=False,
    mask_value=None,
    name=None,
):
    """Window of a (multivariate) series -> the next ``horizon`` values (uncompiled).

    Args:
        window: time steps per input window (``None`` for any length).
        n_features: variables per time step.
        horizon: steps ahead to predict.
        n_targets: variables to predict per step (default ``n_features``).
        units, num_layers, dropout, bidirectional: the :class:`LSTMEncoder`.
        mask_value: when given, a ``keras.layers.Masking(mask_value)`` comes
            first: steps whose every feature equals it (padding) are skipped
            by the LSTMs. ``None``: no masking.
        name: model name (default ``"lstm_forecaster"``).

    Returns:
        A ``keras.Model`` ``(batch, window, n_features) -> (batch, horizon * n_targets)``;
        output ``j * n_targets + k`` is variable ``k`` at step ``t + 1 + j``.
    """
    n_features = check_int(n_features, "n_features")
    horizon = check_int(horizon, "horizon")
    n_targets = n_features if n_targets is None else check_int(n_targets, "n_targets")
    inputs = keras.Input(shape=(window, n_features), name="window")
    x = _masked(inputs, mask_value)
    x = LSTMEncoder(units, num_layers, dropout, bidirectional, name="encoder")(x)
    outputs = keras.layers.Dense(horizon * n_targets, name="forecast")(x)
    return keras.Model(inputs, outputs, name=name or "lstm_forecaster")


def build_lstm_classifier(
    sequence_length=None,
    n_features=1,
    num_classes=2,
    units=64,
    num_layers=1,
    dropout=0.0,
    bidirectional=False,
    mask_value=None,
    name=None,
):
    """Sequence -> class probabilities (softmax), uncompiled.

    Args:
        sequence_length: steps per sequence (``None`` for any length).
        n_features: variables per step.
        num_classes: softmax outputs.
        units, num_layers, dropout, bidirectional: the :class:`LSTMEncoder`.
        mask_value: as in :func:`build_lstm_forecaster` (``None``: no masking).
        name: model name (default ``"lstm_classifier"``).

    Returns:
        A ``keras.Model`` ``(batch, sequence_length, n_features) -> (batch, num_classes)``.
    """
    n_features = check_int(n_features, "n_features")
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    inputs = keras.Input(shape=(sequence_length, n_features), name="sequence")
    x = _masked(inputs, mask_value)
    x = LSTMEncoder(units, num_layers, dropout, bidirectional, name="encoder")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=name or "lstm_classifier")


def _masked(inputs, mask_value):
    if mask_value is None:
        return inputs
    return keras.layers.Masking(float(mask_value), name="mask")(inputs)


def build_char_rnn(
    vocab_size,
    embedding_dim=64,
    units=384,
    num_layers=1,
    dropout=0.0,
    sequence_length=None,
    name=None,
):
    """Characters -> next-character logits at every position (uncompiled).

    ``dropout`` applies to the inputs of every LSTM and to the last LSTM's
    output. Train with ``SparseCategoricalCrossentropy(from_logits=True)`` on
    ``(text[i:i+n], text[i+1:i+n+1])`` pairs; sample with :class:`CharSampler`.

    Returns:
        A ``keras.Model`` ``(batch, steps) int -> (batch, steps, vocab_size)`` logits.
    """
    vocab_size = check_int(vocab_size, "vocab_size")
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="chars")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
    x = LSTMEncoder(units, num_layers, dropout, return_sequences=True, name="encoder")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="output_dropout")(x)
    outputs = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or "char_rnn")


class CharSampler:
    """Generate from a :func:`build_char_rnn` model.

    ``method="stateful"`` (default) runs the prompt through the network once
    and then carries the LSTM states, so each new character costs one LSTM
    step; ``method="window"`` re-runs the model on the last ``window``
    characters for every new one (what a stateless model does).
    ``benchmarks/throughput.py`` measures both; the stateful path is the
    faster one by roughly the window length.

    Runs on every Keras backend: the steps are compiled once per model as a
    ``tf.function`` on TensorFlow and a ``jax.jit`` function on JAX (reading
    the model's current weights at every call), and run eagerly without
    gradients on PyTorch.

    Args:
        model: a trained char-RNN (its layers are shared, not copied).
    """

    def __init__(self, model):
        self.model = model
        self.embedding = model.get_layer("embedding")
        encoder = model.get_layer("encoder")
        if encoder.bidirectional:
            raise ValueError("a bidirectional encoder cannot generate text left to right")
        self.cells = [lstm.cell for lstm in encoder.lstms]
        self.head = model.get_layer("logits")
        self.units = encoder.units
        self._backend = keras.backend.backend()
        n_states = 2 * len(self.cells)
        self._step = _compile(self._run, model, n_states)
        self._step_all = _compile(
            lambda tokens, states: self._run(tokens, states, every_position=True), model, n_states
        )
        self._window = _compile(lambda tokens: self.model(tokens, training=False), model)

    def _run(self, tokens, states, every_position=False):
        x = self.embedding(tokens)
        new_states = []
        for i, cell in enumerate(self.cells):
            x, h, c = _run_cell(cell, x, states[2 * i], states[2 * i + 1])
            new_states += [h, c]
        return self.head(x if every_position else x[:, -1, :]), new_states

    def log_likelihood(self, ids, chunk=2000):
        """Natural-log probability of each of ``ids[1:]`` given everything before it.

        The text runs through the network once, in ``chunk``-character pieces
        whose LSTM states carry over, so every character is predicted from the
        whole text before it (no window cut). Returns an array of
        ``len(ids) - 1`` log-probabilities; ``-mean`` is nats per character.
        """
        ids = np.asarray(ids, dtype=np.int32).reshape(-1)
        if ids.size < 2:
            raise ValueError("log_likelihood needs at least 2 characters")
        chunk = check_int(chunk, "chunk")
        states = self.initial_states()
        out = []
        inputs, targets = ids[:-1], ids[1:]
        for start in range(0, inputs.size, int(chunk)):
            piece = inputs[None, start : start + int(chunk)]
            logits, states = self._step_all(_tokens(piece), states)
            logits = keras.ops.convert_to_numpy(logits)[0].astype(np.float64)
            log_p = scipy.special.log_softmax(logits, axis=-1)
            want = targets[start : start + piece.shape[1]]
            out.append(log_p[np.arange(want.size), want])
        return np.concatenate(out)

    def initial_states(self, batch=1):
        """Zero LSTM states ``[h0, c0, h1, c1, ...]``, tensors of Keras's backend."""
        return [keras.ops.zeros((batch, self.units)) for _ in range(2 * len(self.cells))]

    def _window_logits(self, history, window):
        ids = history[-window:]
        if self._backend == "jax":
            # One compiled shape: pad on the right to the full window. The LSTM
            # runs left to right, so the logits at the last real position do not
            # depend on the padding.
            padded = np.zeros((1, window), np.int32)
            padded[0, : len(ids)] = ids
            logits = self._window(_tokens(padded))
        else:
            logits = self._window(_tokens([ids]))
        return keras.ops.convert_to_numpy(logits)[0, len(ids) - 1]

    def generate(
        self, prompt_ids, length, temperature=1.0, seed=None, method="stateful", window=100
    ):
        """``length`` new token ids after ``prompt_ids`` (a non-empty sequence).

        ``temperature`` divides the logits: below 1 is more conservative, above
        1 more surprising; 0 is greedy decoding (always the likeliest next
        token, no draw). ``seed`` makes the draw reproducible.
        """
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0: greedy), got {temperature}")
        if len(prompt_ids) == 0:
            raise ValueError("the prompt must hold at least one character")
        if method not in ("stateful", "window"):
            raise ValueError(f"method must be 'stateful' or 'window', got {method!r}")
        if method == "window":
            window = check_int(window, "window")
        rng = np.random.default_rng(seed)
        history = [int(t) for t in prompt_ids]
        out = []
        if method == "stateful":
            logits, states = self._step(_tokens([history]), self.initial_states())
            logits = keras.ops.convert_to_numpy(logits)[0]
        for _ in range(length):
            if method == "window":
                logits = self._window_logits(history, window)
            nxt = _draw(logits, temperature, rng)
            out.append(nxt)
            history.append(nxt)
            if method == "stateful":
                logits, states = self._step(_tokens([[nxt]]), states)
                logits = keras.ops.convert_to_numpy(logits)[0]
        return out


def _tokens(ids):
    """Token ids as an int32 tensor of Keras's backend."""
    return keras.ops.convert_to_tensor(np.asarray(ids, dtype=np.int32))


def _compile(fn, model, n_states=None):
    """``fn(tokens[, states])`` compiled once for the backend (see :class:`CharSampler`)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        signature = [tf.TensorSpec([None, None], tf.int32)]
        if n_states is not None:
            signature.append([tf.TensorSpec([None, None], tf.float32)] * n_states)
        return tf.function(fn, input_signature=signature)
    if backend == "jax":
        import jax

        variables = list(model.variables)

        def pure(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        jitted = jax.jit(pure)
        return lambda *args: jitted([v.value for v in variables], *args)
    if backend == "torch":
        import torch

        no_grad = torch.no_grad
    else:
        no_grad = contextlib.nullcontext

    def eager(*args):
        with no_grad():
            return fn(*args)

    return eager


def _draw(logits, temperature, rng):
    if temperature == 0:  # greedy decoding
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    p = np.exp(scaled - scaled.max())
    return int(rng.choice(p.shape[0], p=p / p.sum()))


def _run_cell(cell, x, h, c):
    """Run an LSTM cell over ``x`` (batch, steps, features) from ``(h, c)``."""
    if keras.backend.backend() == "tensorflow":
        return _run_cell_tf(cell, x, h, c)

    def step(carry, x_t):
        out, (h, c) = cell(x_t, list(carry), training=False)
        # The scanned outputs have the carry's structure (TensorFlow's
        # keras.ops.scan needs that); the cell's output is its new h.
        return (h, c), (out, c)

    (h, c), (outputs, _) = keras.ops.scan(step, (h, c), keras.ops.transpose(x, (1, 0, 2)))
    return keras.ops.transpose(outputs, (1, 0, 2)), h, c


def _run_cell_tf(cell, x, h, c):
    # TensorFlow's own loop, as before CharSampler ran on every backend (keras.ops.scan
    # measured 1.5-3x slower here, on a loaded 2-core machine: noisy, but never faster).
    import tensorflow as tf

    steps = tf.shape(x)[1]
    outputs = tf.TensorArray(x.dtype, size=steps)

    def body(t, h, c, outputs):
        out, (h, c) = cell(x[:, t, :], [h, c], training=False)
        return t + 1, h, c, outputs.write(t, out)

    _, h, c, outputs = tf.while_loop(lambda t, *_: t < steps, body, [tf.constant(0), h, c, outputs])
    return tf.transpose(outputs.stack(), [1, 0, 2]), h, c
